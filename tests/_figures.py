"""Reading a saved figure back: the pixels where a plotted point lies (an oracle that does not trust the file size)."""

from pathlib import Path

import matplotlib.colors
import matplotlib.image
import numpy as np

from phymo.app.render.plots import DPI


def pixels_at(path: Path, ax, x: float, y: float, reach: int = 1) -> np.ndarray:
    """``(n, 3)`` RGB in [0, 1] of the PNG ``path`` (``ax``'s figure saved at :data:`DPI`) within ``reach`` pixels
    of data point ``(x, y)`` of ``ax``."""
    image = matplotlib.image.imread(path)[..., :3]
    fig = ax.get_figure()
    assert image.shape[:2] == (round(fig.get_figheight() * DPI), round(fig.get_figwidth() * DPI))
    px, py = ax.transData.transform((x, y)) * DPI / fig.dpi
    row, col = int(round(image.shape[0] - py)), int(round(px))
    return image[row - reach:row + reach + 1, col - reach:col + reach + 1].reshape(-1, 3)


def closest(pixels: np.ndarray, color) -> float:
    """The smallest distance (RGB in [0, 1]) of ``pixels`` from ``color`` (any matplotlib colour)."""
    return float(np.linalg.norm(pixels - np.asarray(matplotlib.colors.to_rgb(color)), axis=-1).min())
