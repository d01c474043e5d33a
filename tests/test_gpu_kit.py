"""The prepared GPU run's plumbing, on the CPU: bench/gpu/run.sh --dry-run installs wheels from a
local folder without an index, unpacks GL packages (into a temporary root), runs every stage with
its budget and writes the report even when a stage fails or overruns."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel, written by hand (a wheel is a zip with METADATA, WHEEL, RECORD)."""
    name, ver = "livegan_kitprobe", "0.1"
    files = {f"{name}/__init__.py": b"PROBE = 42\n",
             f"{name}-{ver}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n".encode(),
             f"{name}-{ver}.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for p, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{name}-{ver}.dist-info/RECORD,,")
    path = folder / f"{name}-{ver}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as z:
        for p, data in files.items():
            z.writestr(p, data)
        z.writestr(f"{name}-{ver}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


def run_kit(tmp: Path, *args: str, scale: str = "1") -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable, GPU_BUDGET_SCALE=scale, OUT=str(tmp / "out"))
    return subprocess.run(["bash", str(ROOT / "bench/gpu/run.sh"), "--dry-run", *args], capture_output=True,
                          text=True, timeout=400, env=env, cwd=ROOT)


def test_dry_run_installs_runs_every_stage_and_reports(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels)
    res = run_kit(tmp_path, "--wheels", str(wheels), "--gl", str(tmp_path / "nogl"))
    assert res.returncode == 0, res.stderr[-2000:]
    assert "livegan_kitprobe" in res.stdout and "installed into" in res.stdout
    rep = json.loads((tmp_path / "out" / "gpu-report.json").read_text())
    assert rep["dry_run"] and "livegan_kitprobe" in rep["setup"] and "none in" in rep["setup"]
    st = {s["name"]: s for s in rep["stages"]}
    assert list(st) == ["tests/cuda", "generator", "perform", "numerics", "canvas", "netmix", "bend", "encoder", "train"]
    # no GPU here: the CUDA tests refuse to run, the report says why, and the next stages still run
    assert st["tests/cuda"]["status"] == "failed" and "CUDA" in st["tests/cuda"]["reason"]
    for name in ("generator", "perform", "numerics"):
        assert st[name]["status"] == "ok", st[name]
        assert st[name]["rows"] and st[name]["wall_s"] <= st[name]["budget_s"]
    assert {r["batch"] for r in st["generator"]["rows"]} == {1, 2}
    assert all(r["ms_per_frame"] > 0 for r in st["generator"]["rows"])
    assert st["perform"]["rows"][0]["display_fps"] > 0 and st["numerics"]["rows"][0]["ok"]
    assert st["canvas"]["status"] == "ok" and "condition-to-photon ms" in st["canvas"]["output"]
    assert st["netmix"]["status"] == "ok" and "change ms" in st["netmix"]["output"]
    assert st["bend"]["status"] == "ok" and "rotate" in st["bend"]["output"] and "bent ms" in st["bend"]["output"]
    assert st["encoder"]["status"] == "ok" and "enc/gen" in st["encoder"]["output"]
    assert st["train"]["status"] == "ok" and "s/kimg" in st["train"]["output"] and "stylegan2" in st["train"]["output"]
    md = (tmp_path / "out" / "gpu-report.md").read_text()
    assert "DRY RUN" in md and "## numerics: ok" in md and "| ms_per_frame |" in md


def test_a_stage_past_its_budget_is_reported_and_the_run_goes_on(tmp_path):
    res = run_kit(tmp_path, "--only", "perform,numerics", scale="0.001")     # budgets of 1 s
    assert res.returncode == 0, res.stderr[-2000:]
    rep = json.loads((tmp_path / "out" / "gpu-report.json").read_text())
    st = {s["name"]: s for s in rep["stages"]}
    assert list(st) == ["perform", "numerics"]
    assert st["perform"]["status"] == "overran" and "budget of 1 s" in st["perform"]["reason"]
    assert st["numerics"]["status"] in ("overran", "ok")
    assert "ran past its budget" in (tmp_path / "out" / "gpu-report.md").read_text()


def test_run_sh_rejects_unknown_options(tmp_path):
    res = subprocess.run(["bash", str(ROOT / "bench/gpu/run.sh"), "--bogus"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2 and "unknown option --bogus" in res.stderr
