"""Video front end: frames, 2D keypoints, camera, temporal filtering, kinematic 3D initialization."""

from .benchmark import available_clips
from .camera_setup import (
    DEFAULT_FOV_DEG,
    camera_from_focal,
    camera_from_fov,
    load_calibration,
    read_calibration,
    resolve_camera,
)
from .detector import (
    DEFAULT_DETECTOR,
    DETECTORS,
    DetectorUnavailableError,
    FrameDetection,
    MediaPipeDetector,
    NoPersonError,
    check_mediapipe_models,
    make_detector,
)
from .filtering import FilterConfig, filter_keypoints, one_euro
from .ground import Ground, estimate_ground, feet_seen, placement_problem
from .importers import load_any, load_coco_json, load_csv, load_openpose
from .initialize import fitted_kinematic, initialize, prepare_keypoints
from .keypoints import Keypoints2D, load_keypoints
from .kinematic_fit import FitConfig, FitResult, fit_kinematic, reprojection_error
from .person import PersonChoice, fill_gaps, select_subject
from .segments import MIN_SEGMENT_S, Placement, SegmentPlan, place_segments, plan_keypoints, plan_segments
from .video import VideoInfo, iter_frames, probe_video
from .video_detection import detect_video

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_FOV_DEG",
    "DETECTORS",
    "DetectorUnavailableError",
    "FilterConfig",
    "FitConfig",
    "FitResult",
    "FrameDetection",
    "Ground",
    "MIN_SEGMENT_S",
    "Keypoints2D",
    "MediaPipeDetector",
    "NoPersonError",
    "PersonChoice",
    "Placement",
    "SegmentPlan",
    "VideoInfo",
    "available_clips",
    "camera_from_focal",
    "camera_from_fov",
    "check_mediapipe_models",
    "detect_video",
    "estimate_ground",
    "feet_seen",
    "fill_gaps",
    "filter_keypoints",
    "fit_kinematic",
    "fitted_kinematic",
    "initialize",
    "iter_frames",
    "load_any",
    "load_calibration",
    "load_coco_json",
    "load_csv",
    "load_keypoints",
    "load_openpose",
    "make_detector",
    "one_euro",
    "place_segments",
    "placement_problem",
    "plan_keypoints",
    "plan_segments",
    "prepare_keypoints",
    "probe_video",
    "read_calibration",
    "reprojection_error",
    "resolve_camera",
    "select_subject",
]
