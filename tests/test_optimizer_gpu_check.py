"""The GPU check runs its pieces on any device: CPU against CPU agrees exactly, a different network is caught,
step costs are measured; without CUDA the command and the script fail at once, in one line."""

import os
import subprocess
import time
from pathlib import Path

import pytest
import torch

from phymo.app.commands import cli
from phymo.optimizer import gpu_check as G

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cpu_against_itself_agrees_and_another_network_does_not(dtype):
    assert G.update_agreement("cpu", 24, steps=3, dtype=dtype) == 0.0
    other = G._net("cpu", dtype)
    with torch.no_grad():
        other.log_lr.add_(1e-3)  # the Adam base step 0.1 % larger
    assert G.update_agreement("cpu", 24, steps=3, dtype=dtype, device_net=other) > G.TOLERANCE


class Sleeper:
    """A stand-in network whose update costs a known time: one microsecond per dimension."""

    def init_state(self, x):
        return {}

    def step(self, state, x, g, loss):
        time.sleep(1e-6 * x.numel())
        return state, torch.zeros_like(x)


def test_step_cost_on_cpu_measures_a_known_cost_ratio():
    """The step timing on the CPU (the path the check's CPU rows take) against updates of known cost: 10 ms and
    40 ms, so the medians are at least those, and the larger clearly larger (a ratio of 4 on a quiet machine; a
    loaded one adds its delays to both: the upper bounds failed once with 4 processes on the 2 cores)."""
    small, large = (G.step_cost("cpu", d, steps=5, net=Sleeper()) for d in (10_000, 40_000))
    assert small["peak_mib"] is None and large["peak_mib"] is None  # device memory is CUDA's only
    assert 10.0 <= small["ms_per_step"] and 40.0 <= large["ms_per_step"]
    assert 2.0 < large["ms_per_step"] / small["ms_per_step"] < 5.0
    assert G.step_cost("cpu", 48, steps=2)["ms_per_step"] > 0  # the shipped network runs on this path too


@no_cuda
def test_cuda_without_a_device_is_one_line_and_exit_2(capsys):
    assert cli.main(["bench", "gpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("phymo bench: error: no CUDA device")


@no_cuda
def test_script_stops_at_once_without_cuda(tmp_path):
    script = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.sh"
    env = {**os.environ, "PYTHON": str(Path(os.sys.executable))}
    done = subprocess.run([str(script), str(tmp_path / "out")], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2 and done.stderr.strip().startswith("gpu_check: error:") and "CUDA" in done.stderr
    assert not (tmp_path / "out" / "gpu_check.json").exists()


@pytest.mark.slow
def test_quick_run_on_cpu_has_every_check():
    rows = G.run(quick=True, device="cpu")
    assert {r["check"] for r in rows} == {"agreement", "step", "meta_train"}
    assert all(r["pass"] for r in rows if r["check"] == "agreement")
    assert all(r["meta_steps_per_s"] > 0 for r in rows if r["check"] == "meta_train")
