"""PNG plots of a reconstruction: the optimizer's loss per physics window, and per-frame plausibility.

Both mark the windows that fell back to the kinematic estimate: ``loss.png`` lists them (a window that
fell back has no trace to draw, or one that ended in a rejected result, drawn dashed), and is a note
rather than an empty plot when every window fell back; ``plausibility.png`` shades their frames and
draws the seams between windows, with the kinematic estimate beside the physics result.

The figures are made with matplotlib's object API (:class:`~matplotlib.figure.Figure`, no pyplot), so drawing
them neither needs nor changes the backend a notebook or script has chosen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

FALLBACK_COLOR = "tab:red"
#: resolution of the saved figures, dots per inch
DPI = 110
#: fallback windows named one by one before "and N more"
LISTED = 4


@dataclass(frozen=True)
class WindowTrace:
    """One physics window as plotted: its input frames ``[first, stop)``, used for ``[used_from, used_to)``,
    why it fell back ('' when it did not) and its loss per optimizer evaluation."""

    first: int
    stop: int
    used_from: int
    used_to: int
    fallback: str
    loss_history: Sequence[float]


@dataclass(frozen=True)
class SegmentSeries:
    """Per-frame plausibility of one reconstructed segment: ``frame_index (T,)`` input frames and named
    ``(T,)`` series for the kinematic estimate and the physics result (NaN: undefined in that frame)."""

    frame_index: np.ndarray
    kinematic: dict[str, np.ndarray]
    physics: dict[str, np.ndarray]


def _fallback_note(windows: Sequence[WindowTrace]) -> str:
    fell = [w for w in windows if w.fallback]
    if not fell:
        return ""
    listed = "; ".join(f"frames {w.first}-{w.stop - 1}: {w.fallback[:60]}" for w in fell[:LISTED])
    more = f"; and {len(fell) - LISTED} more" if len(fell) > LISTED else ""
    return f"{len(fell)} of {len(windows)} windows fell back to the kinematic estimate ({listed}{more})"


def loss_figure(windows: Sequence[WindowTrace], title: str) -> Figure:
    """Loss against evaluation, log scale, one line per window coloured by its first frame (colour bar);
    windows that fell back drawn dashed where they have a trace and listed below the plot."""
    fig = Figure(figsize=(7.5, 4.6))
    ax = fig.subplots()
    traced = [w for w in windows if len(w.loss_history) > 0]
    note = _fallback_note(windows)
    if not traced:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no optimizer trace: all {len(windows)} windows fell back to the kinematic estimate\n"
                f"({windows[0].fallback[:80] if windows else 'no window'})", ha="center", va="center",
                wrap=True, color=FALLBACK_COLOR, transform=ax.transAxes)
    else:
        frames = [w.first for w in windows]
        norm = Normalize(min(frames), max(max(frames), min(frames) + 1))
        cmap = matplotlib.colormaps["viridis"]
        for w in traced:
            losses = np.asarray(w.loss_history, dtype=float)
            if w.fallback:
                ax.plot(np.arange(len(losses)), losses, color=FALLBACK_COLOR, ls="--", lw=1.0)
            else:
                ax.plot(np.arange(len(losses)), losses, color=cmap(norm(w.first)), lw=1.2)
        ax.set_yscale("log")
        ax.set_xlabel("loss evaluation")
        ax.set_ylabel("loss")
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="first frame of the window")
        if note:
            fig.text(0.01, 0.01, note, fontsize=7, color=FALLBACK_COLOR, wrap=True)
    ax.set_title(title)
    fig.tight_layout(rect=(0, 0.08 if note and traced else 0, 1, 1))
    return fig


def plausibility_figure(segments: Sequence[SegmentSeries], windows: Sequence[WindowTrace], fps: float,
                        title: str = "per-frame plausibility") -> Figure:
    """One panel per series name, against the input video's time: kinematic (grey) beside physics (blue),
    each segment drawn separately; frames of fallback windows shaded red, seams between windows dotted."""
    names = list(dict.fromkeys(n for s in segments for n in (*s.kinematic, *s.physics)))
    fig = Figure(figsize=(7.5, 1.9 * len(names) + 0.9))
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        for i, s in enumerate(segments):
            t = np.asarray(s.frame_index) / fps
            if name in s.kinematic:
                ax.plot(t, s.kinematic[name], color="0.55", lw=1.0, label="kinematic" if i == 0 else None)
            if name in s.physics:
                ax.plot(t, s.physics[name], color="tab:blue", lw=1.1, label="physics" if i == 0 else None)
        for k, w in enumerate([w for w in windows if w.fallback]):
            ax.axvspan(w.used_from / fps, w.used_to / fps, color=FALLBACK_COLOR, alpha=0.15, lw=0,
                       label="fell back" if k == 0 else None)
        seams = [w.used_from / fps for prev, w in zip(windows[:-1], windows[1:], strict=True)
                 if w.used_from == prev.used_to]
        for k, x in enumerate(seams):
            ax.axvline(x, color="0.3", ls=":", lw=0.7, label="seam between windows" if k == 0 else None)
        ax.set_ylabel(name, fontsize=8)
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    axes[-1, 0].set_xlabel("time in the input video (s)")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI` dots per inch."""
    fig.savefig(path, dpi=DPI)
    return Path(path)
