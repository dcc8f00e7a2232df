"""2D keypoint detectors: a registry of backends (name -> factory) and video detection.

The default backend is MediaPipe Pose's legacy solution (BlazePose GHUM 3D, ``model_complexity=1``,
the "full" landmark model the 0.10.14-0.10.21 wheels carry, so it runs offline). Per frame it gives 33
landmarks in pixels with a visibility score, and 33 world landmarks in metres, centred on the hips,
axes aligned with the camera (x right, y down, z away from the camera). It tracks a single person.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from phymo.data.errors import PhymoError

from .keypoints import Keypoints2D
from .video import iter_frames, probe_video

log = logging.getLogger(__name__)


class DetectorUnavailableError(PhymoError):
    """A keypoint backend cannot run here (package or model files missing)."""


class NoPersonError(PhymoError):
    """No frame of the input shows a person."""


@dataclass
class FrameDetection:
    """One person in one frame: ``points (K, 2)`` pixels, ``confidence (K,)``, ``world (K, 3)`` metres or None."""

    points: np.ndarray
    confidence: np.ndarray
    world: np.ndarray | None = None


class KeypointDetector(Protocol):
    joint_set: str

    def __call__(self, frame_rgb: np.ndarray) -> FrameDetection | None: ...

    def close(self) -> None: ...


_MEDIAPIPE_MODELS = ("modules/pose_detection/pose_detection.tflite", "modules/pose_landmark/pose_landmark_full.tflite")


def check_mediapipe_models() -> Path:
    """The mediapipe package folder, after checking the bundled pose models are there (no download)."""
    try:
        import mediapipe as mp
    except ImportError as exc:
        raise DetectorUnavailableError(f"the mediapipe package is not importable ({exc}); install "
                                       "mediapipe==0.10.21 (the last wheels that carry the pose models)") from None
    root = Path(mp.__file__).parent
    missing = [m for m in _MEDIAPIPE_MODELS if not (root / m).is_file()]
    if missing or not hasattr(mp, "solutions"):
        raise DetectorUnavailableError(
            f"mediapipe {getattr(mp, '__version__', '?')} at {root} lacks the legacy pose solution or its model "
            f"files {missing}; install mediapipe 0.10.14-0.10.21, whose wheels carry them (newer ones do not)")
    return root


@contextmanager
def native_stderr_silenced(enabled: bool = True) -> Iterator[None]:
    """Send the process's stderr (file descriptor 2) to a temporary file while the block runs.

    MediaPipe's native code (TensorFlow Lite, absl, glog) writes 3-4 lines of start-up notes straight to
    file descriptor 2, past Python's logging. What it wrote is logged at debug level afterwards, and at
    error level if the block raises. Process-wide while it lasts, so keep the block short.
    """
    if not enabled:
        yield
        return
    libc = ctypes.CDLL(None)  # C stdio buffers what the native code prints; flushed on both sides of the switch
    sys.stderr.flush()
    libc.fflush(None)
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            libc.fflush(None)
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.log(logging.ERROR if failed else logging.DEBUG, "native start-up output:\n%s", text)


class MediaPipeDetector:
    """MediaPipe Pose (legacy solution); one person per frame.

    In video mode (the default) it follows one person from frame to frame; ``static_image_mode`` looks
    for a person afresh in every image (used to find the other people in a frame). MediaPipe's native
    start-up notes are silenced unless this module's logger is at debug level (``phymo -v``).
    """

    joint_set = "mediapipe33"

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 static_image_mode: bool = False) -> None:
        check_mediapipe_models()
        import mediapipe as mp

        self._quiet = not log.isEnabledFor(logging.DEBUG)
        with native_stderr_silenced(self._quiet):
            self._pose = mp.solutions.pose.Pose(static_image_mode=static_image_mode, model_complexity=1,
                                                smooth_landmarks=True, enable_segmentation=False,
                                                min_detection_confidence=min_detection_confidence,
                                                min_tracking_confidence=min_tracking_confidence)
            # the graph opens its calculators (and prints) in its own threads; one empty frame waits for that
            self._pose.process(np.zeros((64, 64, 3), np.uint8))

    def __call__(self, frame_rgb: np.ndarray) -> FrameDetection | None:
        h, w = frame_rgb.shape[:2]
        with native_stderr_silenced(self._quiet):  # the first person found starts the landmark path, which prints
            result = self._pose.process(np.ascontiguousarray(frame_rgb))
        if result.pose_landmarks is None:
            return None
        self._quiet = False
        lm = np.array([(p.x, p.y, p.visibility) for p in result.pose_landmarks.landmark])
        world = None
        if result.pose_world_landmarks is not None:
            world = np.array([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
        return FrameDetection(lm[:, :2] * np.array([w, h]), np.clip(lm[:, 2], 0.0, 1.0), world)

    def close(self) -> None:
        self._pose.close()


#: keypoint backends by name; the first is the default.
DETECTORS: dict[str, Callable[..., KeypointDetector]] = {"mediapipe": MediaPipeDetector}
DEFAULT_DETECTOR = "mediapipe"


def make_detector(name: str = DEFAULT_DETECTOR, **kwargs) -> KeypointDetector:
    if name not in DETECTORS:
        raise PhymoError(f"unknown keypoint detector {name!r}; available: {', '.join(DETECTORS)}")
    return DETECTORS[name](**kwargs)


def detect_video(path: str | Path, detector: str = DEFAULT_DETECTOR, start: int = 0, end: int | None = None,
                 stride: int = 1, progress: bool = False, require_person: bool = True) -> Keypoints2D:
    """Run a keypoint detector over frames ``start:end:stride`` of a video, streaming.

    Frames without a detection stay in the result, marked ``detected = False`` with zero confidence.
    ``meta`` records the video info, the selection, the detector and the detection time
    (``detect_seconds``, ``detect_fps``). Raises :class:`NoPersonError` ("no person detected in FILE")
    when no frame has a person and ``require_person``.
    """
    info = probe_video(path)
    selection = range(start, info.num_frames if end is None else min(end, info.num_frames), stride)
    det = make_detector(detector)
    points, conf, world, detected, indices = [], [], [], [], []
    k = None
    frames = iter_frames(info.path, start, end, stride)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=len(selection), unit="frame", desc=f"detect {info.path.name}")
    t0 = time.perf_counter()
    try:
        for index, frame in frames:
            found = det(frame)
            indices.append(index)
            detected.append(found is not None)
            if found is not None:
                k = len(found.confidence)
            points.append(None if found is None else found.points)
            conf.append(None if found is None else found.confidence)
            world.append(None if found is None else found.world)
    finally:
        det.close()
    seconds = time.perf_counter() - t0
    if not indices:
        raise PhymoError(f"{info.path}: no frame in the selection start={start}, end={end}, stride={stride} "
                         f"(the video has {info.num_frames} frames)")
    if k is None:
        if require_person:
            raise NoPersonError(f"no person detected in {info.path} ({len(indices)} frames examined)")
        from .mappings import get_mapping

        k = get_mapping(det.joint_set).num_external
    t = len(indices)
    p, c, w = np.zeros((t, k, 2)), np.zeros((t, k)), np.zeros((t, k, 3))
    has_world = any(x is not None for x in world)
    for i in range(t):
        if detected[i]:
            p[i], c[i] = points[i], conf[i]
            if world[i] is not None:
                w[i] = world[i]
    meta = {"source": str(info.path), "detector": detector, "video": info.to_dict(),
            "selection": {"start": start, "end": end, "stride": stride}, "detect_seconds": seconds,
            "detect_fps": t / seconds if seconds > 0 else float("nan")}
    if detector == "mediapipe":
        meta["tracking"] = "mediapipe follows a single person (the most prominent when it starts); others are ignored"
    log.info("%s: person found in %d of %d frames (%.1f fps detection)", info.path, sum(detected), t,
             meta["detect_fps"])
    return Keypoints2D(p, c, det.joint_set, info.fps / stride, info.width, info.height, w if has_world else None,
                       np.array(detected), np.array(indices), meta)
