"""Video reading with OpenCV: metadata (frame count, fps, rotation) and streamed frame selection.

Frames are decoded one at a time (:func:`iter_frames`), so long videos never sit in memory. Frames
come out upright (OpenCV applies the container's rotation metadata) in RGB, ``(H, W, 3) uint8``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.data import DataFormatError, require_file

log = logging.getLogger(__name__)

#: fps assumed when neither the container nor the frame timestamps give a plausible rate.
FALLBACK_FPS = 30.0


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself, checked against its first decoded frames.

    Attributes:
        path: the file.
        width, height: size of the (upright) decoded frames, pixels.
        fps: frames per second used downstream.
        fps_source: ``"container"``, ``"timestamps"`` (container rate implausible, derived from frame
            timestamps) or ``"fallback"`` (:data:`FALLBACK_FPS`).
        num_frames: number of frames (the container's count, or counted by decoding when it has none).
        rotation: rotation metadata of the container, degrees (already applied to the frames).
    """

    path: Path
    width: int
    height: int
    fps: float
    fps_source: str
    num_frames: int
    rotation: int

    def to_dict(self) -> dict:
        return {"path": str(self.path), "width": self.width, "height": self.height, "fps": self.fps,
                "fps_source": self.fps_source, "num_frames": self.num_frames, "rotation": self.rotation}


def _open(path: Path):
    import cv2

    if path.stat().st_size == 0:
        raise DataFormatError(f"{path}: the file is empty; give a video file (mp4, avi, mov, ...)")
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataFormatError(f"{path}: OpenCV cannot open this file as a video; check that it is a video "
                              "and not corrupt (try re-encoding it with ffmpeg)")
    cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 1)
    return cap


def _plausible(fps: float) -> bool:
    return math.isfinite(fps) and 1.0 <= fps <= 1000.0


def probe_video(path: str | Path) -> VideoInfo:
    """Metadata of ``path``; raises :class:`DataFormatError` for an empty or undecodable file."""
    import cv2

    path = require_file(path)
    cap = _open(path)
    try:
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        rotation = int(cap.get(cv2.CAP_PROP_ORIENTATION_META)) % 360
        stamps, first = [], None
        for _ in range(8):
            ok, frame = cap.read()
            if not ok:
                break
            first = frame if first is None else first
            stamps.append(cap.get(cv2.CAP_PROP_POS_MSEC))
        if first is None:
            raise DataFormatError(f"{path}: no frame could be decoded; the video is empty or corrupt")
        height, width = first.shape[:2]
        if _plausible(fps):
            source = "container"
        else:
            steps = np.diff(stamps)
            steps = steps[steps > 0]
            if len(steps) and _plausible(1000.0 / float(np.median(steps))):
                fps, source = 1000.0 / float(np.median(steps)), "timestamps"
            else:
                fps, source = FALLBACK_FPS, "fallback"
            log.warning("%s: container reports fps=%s; using %.3f fps (%s)", path, cap.get(cv2.CAP_PROP_FPS),
                        fps, source)
        if count <= 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            count = 0
            while cap.grab():
                count += 1
            log.warning("%s: container has no frame count; counted %d frames by decoding", path, count)
    finally:
        cap.release()
    return VideoInfo(path, int(width), int(height), fps, source, count, rotation)


def frame_indices(num_frames: int, start: int = 0, end: int | None = None, stride: int = 1) -> range:
    """The frame indices ``start:end:stride`` (``end`` exclusive, None = to the last frame)."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"need 0 <= start < end, got start={start}, end={end}")
    return range(start, num_frames if end is None else min(end, num_frames), stride)


def iter_frames(path: str | Path, start: int = 0, end: int | None = None, stride: int = 1
                ) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, RGB frame (H, W, 3) uint8)`` for frames ``start:end:stride``, one at a time.

    Stops early, with a warning naming both counts, where fewer frames decode than the container declares
    (a truncated or damaged file).
    """
    import cv2

    path = require_file(path)
    if stride < 1 or start < 0 or (end is not None and end <= start):
        raise ValueError(f"bad frame selection start={start}, end={end}, stride={stride}")
    cap = _open(path)
    try:
        if start > 0:
            cap.set(cv2.CAP_PROP_POS_FRAMES, start)
        declared = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        stop = declared if end is None else min(end, declared)
        index = start
        while end is None or index < end:
            if not cap.grab():
                break
            if (index - start) % stride == 0:
                ok, frame = cap.retrieve()
                if not ok:
                    break
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        if index < stop:
            log.warning("%s: the container declares %d frames but only %d could be decoded (the file is truncated "
                        "or damaged); frames %d to %d are missing", path, declared, index, index, declared - 1)
    finally:
        cap.release()
