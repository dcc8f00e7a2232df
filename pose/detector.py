"""2D keypoint detectors: a registry of backends (name -> factory) and the MediaPipe backend.

The default backend is MediaPipe Pose's legacy solution (BlazePose GHUM 3D, ``model_complexity=1``,
the "full" landmark model the 0.10.14-0.10.21 wheels carry, so it runs offline). Per frame it gives 33
landmarks in pixels with a visibility score, and 33 world landmarks in metres, centred on the hips,
axes aligned with the camera (x right, y down, z away from the camera). It follows a single person;
:mod:`phymo.pose.video_detection` finds the others and chooses whom to follow.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from phymo.data import PhymoError

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
    """A keypoint backend: one person per frame. Its factory takes ``static_image_mode``: False follows one
    person from frame to frame (video), True looks afresh in every image (finding the other people)."""

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
