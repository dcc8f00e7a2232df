"""Optimus on a CUDA device (``phymo bench gpu``, run by ``scripts/gpu_check.sh``).

Three checks, one row each:

* ``agreement``: the shipped physics Optimus's updates on the device against the CPU's on the same inputs
  (teacher-forced: a Rosenbrock trajectory driven by the CPU's updates; at every step the device gets the
  CPU's state, parameter, gradient and loss): the largest difference over the largest update, which must
  be at most :data:`TOLERANCE` in float64 (the reconstruction's precision) and float32;
* ``step``: milliseconds per Optimus update (median after a warm-up) and peak device memory above the
  inputs, at ``d`` = 4096 and 65536 (float32; 4096 also float64 and on the CPU for comparison);
* ``meta_train``: meta-steps per second of TBPTT meta-training on the test-function suite (4 tasks,
  truncation 16, dimensions 2-64 as the shipped weights were trained, and 1024-4096), on the device
  and on the CPU for the small dimensions.

Any device torch knows works (``cpu`` checks the CPU against itself, which is what the tests run); a CUDA
device that torch does not see is a :class:`~phymo.data.errors.PhymoError`, before any work. A size that
runs out of memory gives a row with its ``error``, not a crash.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import torch

from phymo.data.errors import PhymoError

#: largest allowed difference between the device's and the CPU's update, relative to the largest update
TOLERANCE = 1e-5


def _net(device: str, dtype: torch.dtype) -> torch.nn.Module:
    from .weights import load_shipped

    return load_shipped("optimus", "physics").to(device=device, dtype=dtype).eval()


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def update_agreement(device: str, d: int, steps: int = 8, dtype: torch.dtype = torch.float64,
                     device_net: torch.nn.Module | None = None) -> float:
    """``max |delta_device - delta_cpu| / max |delta_cpu|`` over ``steps`` teacher-forced updates of the shipped
    physics Optimus (on the device: ``device_net``, default the same weights)."""
    from .tasks import HELD_OUT_SEED, make_task

    cpu = _net("cpu", dtype)
    dev = _net(device, dtype) if device_net is None else device_net.to(device=device, dtype=dtype).eval()
    task = make_task("rosenbrock", d, HELD_OUT_SEED, dtype=dtype)
    x = task.x0.clone()
    state = cpu.init_state(x)
    worst, largest = 0.0, 0.0
    with torch.no_grad():
        for _ in range(steps):
            with torch.enable_grad():
                loss, g = task.loss_and_grad(x)
            inputs = (state, x, g, loss.detach())
            state, delta = cpu.step(*inputs)
            moved = ({k: v.to(device) for k, v in inputs[0].items()}, *(t.to(device) for t in inputs[1:]))
            _, delta_dev = dev.step(*moved)
            worst = max(worst, float((delta_dev.cpu() - delta).abs().max()))
            largest = max(largest, float(delta.abs().max()))
            x = x + 0.01 * delta
    return worst / max(largest, 1e-300)


def step_cost(device: str, d: int, dtype: torch.dtype = torch.float32, steps: int = 5,
              net: torch.nn.Module | None = None) -> dict:
    """Median milliseconds of one update at dimension ``d`` and the peak memory it allocates, MiB (CUDA only; None
    elsewhere), of the shipped physics Optimus or of ``net`` (any ``init_state``/``step`` network on ``device``)."""
    net = _net(device, dtype) if net is None else net
    gen = torch.Generator().manual_seed(0)
    x, g = (torch.randn(d, generator=gen, dtype=dtype).to(device) for _ in range(2))
    loss = torch.tensor(1.0, dtype=dtype, device=device)
    cuda = torch.device(device).type == "cuda"
    with torch.no_grad():
        state = net.init_state(x)
        state, _ = net.step(state, x, g, loss)  # warm-up (kernels, allocator)
        _sync(device)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            base = torch.cuda.memory_allocated(device)
        times = []
        for _ in range(steps):
            t0 = time.perf_counter()
            state, _ = net.step(state, x, g, loss)
            _sync(device)
            times.append(1e3 * (time.perf_counter() - t0))
    peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20 if cuda else None
    return {"ms_per_step": statistics.median(times), "peak_mib": peak}


def meta_throughput(device: str, dims: tuple[int, int], steps: int) -> float:
    """Meta-steps per second of ``steps`` TBPTT meta-steps of Optimus on test functions of dimension ``dims``."""
    from .meta_train import MetaTrainConfig, meta_train
    from .optimus import Optimus

    cfg = MetaTrainConfig(tasks="functions", steps=steps, n_tasks=4, trunc=16, dim_lo=dims[0], dim_hi=dims[1],
                          device=device, ckpt_every=10**9)
    with tempfile.TemporaryDirectory(prefix="phymo-gpu-check-") as out:
        t0 = time.perf_counter()
        meta_train(Optimus(), cfg, Path(out), log=lambda _s: None)
        _sync(device)
        return steps / (time.perf_counter() - t0)


def _row(check: str, device: str, dtype: torch.dtype, d, fn) -> dict:
    row = {"check": check, "device": device, "dtype": str(dtype).removeprefix("torch."), "d": d}
    try:
        row.update(fn())
    except torch.OutOfMemoryError as e:
        row["error"] = f"out of memory: {str(e).splitlines()[0]}"
        torch.cuda.empty_cache()
    return row


def run(quick: bool = False, device: str = "cuda") -> list[dict]:
    """The rows of the three checks (module docstring); ``quick``: small sizes and few meta-steps."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise PhymoError(f"no CUDA device: torch {torch.__version__} (CUDA build: {torch.version.cuda or 'no'}) sees "
                         f"none; run this on a CUDA machine with a CUDA build of torch, or give --device cpu")
    d_agree, d_small, d_large = (64, 256, 1024) if quick else (4096, 4096, 65536)
    meta_steps, meta_dims = (2, ((2, 8),)) if quick else (20, ((2, 64), (1024, 4096)))
    rows = []
    for dtype in (torch.float64, torch.float32):
        rows.append(_row("agreement", device, dtype, d_agree, lambda dt=dtype: _agree(device, d_agree, dt)))
    for dev, d, dtype in ((device, d_small, torch.float32), (device, d_small, torch.float64),
                          (device, d_large, torch.float32), ("cpu", d_small, torch.float32)):
        rows.append(_row("step", dev, dtype, d, lambda dev=dev, d=d, dt=dtype: step_cost(dev, d, dt)))
    for dev, dims in [(device, dims) for dims in meta_dims] + [("cpu", meta_dims[0])]:
        rows.append(_row("meta_train", dev, torch.float64, f"{dims[0]}-{dims[1]}",
                         lambda dev=dev, dims=dims: {"meta_steps_per_s": meta_throughput(dev, dims, meta_steps)}))
    return rows


def _agree(device: str, d: int, dtype: torch.dtype) -> dict:
    err = update_agreement(device, d, dtype=dtype)
    return {"max_rel_diff": err, "pass": err <= TOLERANCE}
