#!/usr/bin/env python3
"""The stages of the one prepared GPU run, each with its own time budget, into gpu-report.md and
gpu-report.json.  A failing or overrunning stage is reported with its reason and the next one runs;
the report is rewritten after every stage, so even a run cut short leaves one.  Called by
bench/gpu/run.sh (which installs the kit first); `--dry-run` runs the same stages on the CPU with
tiny sizes and short budgets, to test the plumbing here and in CI."""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def stages(dry: bool, out: Path) -> list[dict]:
    py = sys.executable
    j = lambda name: str(out / f"{name}.json")                     # noqa: E731
    if dry:
        return [
            dict(name="tests/cuda", budget=60, cmd=[py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"]),
            dict(name="generator", budget=60, json=j("generator"),
                 cmd=[py, "bench/generator.py", "--network", "builtin:tiny", "--dtypes", "fp32", "--batches", "1,2",
                      "--repeats", "2", "--warmup", "1", "--channels-last", "--budget", "30", "--json", j("generator")]),
            dict(name="perform", budget=60, json=j("perform"),
                 cmd=[py, "bench/perform.py", "--network", "builtin:tiny", "--fps", "15", "--batches", "1",
                      "--seconds", "1.5", "--json", j("perform")]),
            dict(name="numerics", budget=60, json=j("numerics"),
                 cmd=[py, "bench/gpu/numerics.py", "--network", "builtin:tiny", "--device", "cpu", "--json", j("numerics")]),
            dict(name="canvas", budget=60,
                 cmd=[py, "bench/canvas.py", "--network", "builtin:canvas-tiny", "--device", "cpu", "--seconds", "1.5",
                      "--rounds", "1", "--lookaheads", "0"]),
            dict(name="netmix", budget=30,
                 cmd=[py, "bench/netmix.py", "--networks", "builtin:tiny", "--device", "cpu", "--changes", "2",
                      "--frames", "1"]),
            dict(name="bend", budget=30,
                 cmd=[py, "bench/bend.py", "--networks", "builtin:tiny", "--device", "cpu", "--ops", "rotate,sobel",
                      "--rounds", "1"]),
            dict(name="encoder", budget=60,
                 cmd=[py, "bench/encoder.py", "--networks", "builtin:twemoji", "--device", "cpu", "--kimg", "0.02",
                      "--rounds", "1", "--steps", "3", "--seconds", "0.4", "--show-rounds", "1"]),
            dict(name="train", budget=90,
                 cmd=[py, "bench/train.py", "--device", "cpu", "--res", "16", "--cbase", "256", "--cmax", "32",
                      "--w-dim", "32", "--batches", "4", "--ticks", "2", "--tick-kimg", "0.004", "--cfgs", "stylegan2", "--augs", "noaug"]),
        ]
    return [
        dict(name="tests/cuda", budget=90, cmd=[py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/cuda"]),
        dict(name="generator", budget=150, json=j("generator"),
             cmd=[py, "bench/generator.py", "--network", "builtin:sg3t-1024", "--network", "builtin:tiny",
                  "--dtypes", "fp32,auto,fp16", "--batches", "1,2,4,8,16", "--cuda-graphs", "--channels-last",
                  "--compile", "--repeats", "10", "--warmup", "3", "--budget", "125", "--json", j("generator")]),
        dict(name="perform", budget=120, json=j("perform"),
             cmd=[py, "bench/perform.py", "--network", "builtin:sg3t-1024", "--fps", "60", "--batches", "1,2,4",
                  "--cuda-graphs", "both", "--seconds", "5", "--json", j("perform")]),
        dict(name="numerics", budget=45, json=j("numerics"),
             cmd=[py, "bench/gpu/numerics.py", "--network", "builtin:sg3t-1024", "--json", j("numerics")]),
        # StyleGAN-Canvas at the official sizes, 512 px: condition-to-photon latency and fps.
        dict(name="canvas", budget=60,
             cmd=[py, "bench/canvas.py", "--network", "builtin:canvas-r-512", "--device", "cuda", "--fps", "60",
                  "--seconds", "5", "--rounds", "1", "--lookaheads", "0,2"]),
        # Model mixing at 1024 px: one knob change (a blended copy of the weights) and ms/frame A vs mix.
        dict(name="netmix", budget=45,
             cmd=[py, "bench/netmix.py", "--networks", "builtin:sg3t-1024", "--device", "cuda", "--changes", "9",
                  "--frames", "20"]),
        # Network bending at 1024 px: every op on one middle layer, half its channels, against unbent.
        dict(name="bend", budget=45,
             cmd=[py, "bench/bend.py", "--networks", "builtin:sg3t-1024", "--device", "cuda", "--rounds", "15"]),
        # A picture into the network at 1024 px: encoder against generator ms, projection s/100 steps,
        # the mirrored show's frame rate against the plain one.
        dict(name="encoder", budget=75,
             cmd=[py, "bench/encoder.py", "--networks", "builtin:sg3t-1024", "--device", "cuda", "--kimg", "0.5",
                  "--rounds", "15", "--steps", "100", "--seconds", "4", "--show-rounds", "1", "--fps", "60"]),
        # Training at the official channel counts: s/kimg for StyleGAN2 and StyleGAN3-T at 256 px
        # (the official 512 px figures need longer than a lent session; docs/gpu.md).
        dict(name="train", budget=90,
             cmd=[py, "bench/train.py", "--device", "cuda", "--res", "256", "--cbase", "32768", "--cmax", "512",
                  "--w-dim", "512", "--batches", "32", "--ticks", "3", "--tick-kimg", "0.064",
                  "--cfgs", "stylegan2,stylegan3-t", "--augs", "noaug,ada"]),
    ]


FACTS = r'''
import json, platform
out = {"python": platform.python_version()}
try:
    import torch
    out["torch"] = torch.__version__
    out["cuda"] = torch.version.cuda
    out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
except Exception as e:
    out["torch"] = f"unavailable ({type(e).__name__}: {e})"
try:
    import moderngl
    ctx = moderngl.create_context(standalone=True, backend="egl")
    out["gl"] = {k: ctx.info[k] for k in ("GL_VENDOR", "GL_RENDERER", "GL_VERSION")}
    ctx.release()
except Exception as e:
    out["gl"] = f"no EGL context ({type(e).__name__}: {e})"
print(json.dumps(out))
'''


def facts(env: dict) -> dict:
    f: dict = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "host": platform.node()}
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
        f["nvidia-smi"] = smi.stdout.strip() or smi.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        f["nvidia-smi"] = f"not available ({type(e).__name__})"
    try:
        r = subprocess.run([sys.executable, "-c", FACTS], capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
        f.update(json.loads(r.stdout.strip().splitlines()[-1]))
    except Exception as e:
        f["facts_error"] = f"{type(e).__name__}: {e}"
    return f


def run_stage(st: dict, env: dict) -> dict:
    t0 = time.perf_counter()
    res = {"name": st["name"], "budget_s": st["budget"], "command": " ".join(st["cmd"])}
    try:
        p = subprocess.run(st["cmd"], capture_output=True, text=True, timeout=st["budget"], env=env, cwd=ROOT)
        res.update(rc=p.returncode, status="ok" if p.returncode == 0 else "failed", output=(p.stdout + p.stderr)[-4000:])
        if p.returncode:
            lines = [l for l in (p.stderr or p.stdout).splitlines() if l.strip()]
            res["reason"] = lines[-1][:300] if lines else f"exit code {p.returncode}"
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        res.update(rc=None, status="overran", reason=f"ran past its budget of {st['budget']} s", output=text[-4000:])
    except OSError as e:
        res.update(rc=None, status="failed", reason=f"could not start: {e}")
    res["wall_s"] = round(time.perf_counter() - t0, 1)
    if st.get("json") and Path(st["json"]).exists():
        try:
            res["rows"] = json.loads(Path(st["json"]).read_text())
        except json.JSONDecodeError as e:
            res["rows_error"] = str(e)
    return res


def table(rows: list[dict]) -> str:
    rows = [r for r in rows if isinstance(r, dict)]
    if not rows:
        return "(no rows)\n"
    cols = list(dict.fromkeys(k for r in rows for k in r))

    def fmt(v):
        return f"{v:.3g}" if isinstance(v, float) else str(v)
    out = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for r in rows:
        out += "| " + " | ".join(fmt(r.get(c, "")) for c in cols) + " |\n"
    return out


def write(out: Path, report: dict) -> None:
    (out / "gpu-report.json").write_text(json.dumps(report, indent=1))
    f = report["facts"]
    md = [f"# GPU report ({'DRY RUN on the CPU: plumbing only, no GPU numbers' if report['dry_run'] else f.get('gpu') or 'no GPU seen'})",
          "", f"{f.get('date')} on {f.get('host')}", "",
          f"- nvidia-smi: {f.get('nvidia-smi')}", f"- Python {f.get('python')}, torch {f.get('torch')}, CUDA {f.get('cuda')}",
          f"- GL: {f.get('gl')}", f"- kit: {report.get('setup', '')}", ""]
    for s in report["stages"]:
        md += [f"## {s['name']}: {s['status']} ({s['wall_s']} s of {s['budget_s']} s)", "", f"`{s['command']}`", ""]
        if s.get("reason"):
            md += [f"**{s['status']}**: {s['reason']}", ""]
        if "rows" in s:
            md += [table(s["rows"])]
        elif s.get("output"):
            md += ["```", s["output"][-1500:].rstrip(), "```", ""]
    (out / "gpu-report.md").write_text("\n".join(md) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, help="folder for gpu-report.md / .json")
    ap.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU: test the plumbing")
    ap.add_argument("--setup", default="", help="one line on what the install step did")
    ap.add_argument("--only", default=None, help="comma list of stage names to run (default: all)")
    ap.add_argument("--budget-scale", type=float, default=float(os.environ.get("GPU_BUDGET_SCALE", "1")),
                    help="multiply every stage's time budget (default: GPU_BUDGET_SCALE or 1)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    report = {"dry_run": a.dry_run, "setup": a.setup, "facts": facts(env), "stages": []}
    write(out, report)
    for st in stages(a.dry_run, out):
        if a.only and st["name"] not in a.only.split(","):
            continue
        st["budget"] = max(1, round(st["budget"] * a.budget_scale))
        print(f"== {st['name']} (budget {st['budget']} s)", flush=True)
        r = run_stage(st, env)
        report["stages"].append(r)
        write(out, report)
        print(f"   {r['status']} in {r['wall_s']} s{': ' + r['reason'] if r.get('reason') else ''}", flush=True)
    print(f"wrote {out / 'gpu-report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
