"""Read marker trajectories from a TRC file (OpenSim's text format, written by Pose2Sim, OpenCap, mocap labs).

Layout: a ``PathFileType`` line; a line of header keys (``DataRate``, ``NumFrames``, ``NumMarkers``,
``Units``, ...) and one of their values; a line ``Frame# Time M1 (two tabs) M2 ...`` naming the
markers; a line ``X1 Y1 Z1 X2 ...``; then one tab-separated row per frame: frame number, time in
seconds, and X Y Z per marker (an empty cell is a marker not seen in that frame).

Positions come back in metres (``mm`` and ``cm`` files are converted) and in the file's own axes:
TRC carries no axis convention, and OpenSim's is Y up. Turning them into a Z-up lab frame is the
caller's business (:mod:`phymo.data.markers` does it for Pose2Sim's trials).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import DataFormatError, require_file

#: metres per unit, for the ``Units`` values TRC writers use
UNITS = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}


@dataclass(frozen=True)
class TrcMarkers:
    """Marker trajectories: ``positions (T, M, 3)`` metres in the file's axes, NaN where a marker is missing.

    Attributes:
        names: the ``M`` marker names, in file order.
        fps: ``DataRate`` of the file, frames per second.
        frame_numbers: ``(T,)`` the ``Frame#`` column (usually 1-based).
        times: ``(T,)`` the ``Time`` column, seconds.
        source: the file read.
    """

    names: tuple[str, ...]
    positions: np.ndarray = field(repr=False)
    fps: float
    frame_numbers: np.ndarray = field(repr=False)
    times: np.ndarray = field(repr=False)
    source: str = ""

    @property
    def num_frames(self) -> int:
        return self.positions.shape[0]

    def marker(self, name: str) -> np.ndarray:
        """``(T, 3)`` trajectory of marker ``name``, metres."""
        if name not in self.names:
            raise DataFormatError(f"{self.source}: no marker {name!r}; markers: {', '.join(self.names)}")
        return self.positions[:, self.names.index(name)]


def read_trc(path: str | Path) -> TrcMarkers:
    """Read a TRC file; :class:`DataFormatError` names the line that breaks the format."""
    path = require_file(path)
    try:
        lines = path.read_text().splitlines()
    except UnicodeDecodeError:
        raise DataFormatError(f"{path}: not a text file (TRC marker trajectories expected)") from None
    if len(lines) < 5 or not lines[0].startswith("PathFileType"):
        raise DataFormatError(f"{path}: not a TRC file (its first line must start with 'PathFileType')")
    header = dict(zip(lines[1].split("\t"), lines[2].split("\t"), strict=False))
    try:
        fps = float(header["DataRate"])
        units = header.get("Units", "m").strip()
        scale = UNITS[units]
        num_markers = int(header["NumMarkers"])
    except (KeyError, ValueError) as exc:
        raise DataFormatError(f"{path}: header line 3 lacks or garbles {exc} (needs DataRate, NumMarkers, Units "
                              f"in {sorted(UNITS)})") from None
    names = tuple(n.strip() for n in lines[3].split("\t")[2:] if n.strip())
    if len(names) != num_markers:
        raise DataFormatError(f"{path}: line 4 names {len(names)} markers, the header says NumMarkers {num_markers}")
    width = 2 + 3 * num_markers
    rows = []
    for n, line in enumerate(lines[5:], start=6):
        if not line.strip():
            continue
        cells = line.rstrip("\n").split("\t")
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            raise DataFormatError(f"{path}:{n}: {len(cells)} values, expected Frame#, Time and 3 x {num_markers}")
        try:
            rows.append([float(c) if c.strip() else np.nan for c in cells[:width]] + [np.nan] * (width - len(cells)))
        except ValueError:
            raise DataFormatError(f"{path}:{n}: a value is not a number") from None
    if not rows:
        raise DataFormatError(f"{path}: no frames after the header")
    data = np.asarray(rows, dtype=np.float64)
    if np.isnan(data[:, :2]).any():
        raise DataFormatError(f"{path}: a row lacks its Frame# or Time")
    return TrcMarkers(names, data[:, 2:].reshape(len(data), num_markers, 3) * scale, fps,
                      data[:, 0].astype(np.int64), data[:, 1], str(path))
