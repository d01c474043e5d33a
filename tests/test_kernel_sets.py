"""Every test that compares with numbers made on another CPU (marked `exactness`: the generator,
Canvas and training fixtures, the built-in networks' stored calibration) holds under each CPU
kernel set this machine can run, not only under the one this run happens to have."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from kernelsets import SETS, available, env_for


@pytest.mark.parametrize("name", available())
def test_exactness_holds_under_each_kernel_set(name):
    env = env_for(name)
    env.pop("PYTEST_XDIST_WORKER", None)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:xdist", "-p", "no:cacheprovider",
                        "-m", "exactness", "tests"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    out = r.stdout + r.stderr
    aten = SETS[name][0]
    assert f"kernels: ATen {aten.upper()}" in out, out[-3000:]         # it really ran on that set
    assert r.returncode == 0, out[-6000:]
    assert " passed" in out and "skipped" not in out, out[-2000:]
