"""PNG plots for a reconstruction: optimizer loss per window, per-frame plausibility."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; app/ is the one place allowed to set this
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_loss_traces(traces: Mapping[str, Sequence[float]], path: Path, title: str = "loss per window") -> Path:
    """One line per window (or optimizer): loss against iteration, log scale."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, losses in traces.items():
        ax.plot(np.arange(len(losses)), np.asarray(losses, dtype=float), label=str(name), lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if 0 < len(traces) <= 12:
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def plot_per_frame(series: Mapping[str, np.ndarray], fps: float, path: Path,
                   title: str = "per-frame plausibility") -> Path:
    """Stacked panels, one per named series ``(T,)``, against time in seconds."""
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 1.8 * len(series) + 0.6), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], series.items(), strict=True):
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(len(values)) / fps, values, lw=1.0)
        ax.set_ylabel(name, fontsize=8)
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
