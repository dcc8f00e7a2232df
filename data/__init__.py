"""Motion data: skeletons, motions, cameras, observations, rotations, BVH/TRC, dataset loaders, metrics.

The face of the package: other packages import these names from ``phymo.data``. The metrics live in
``phymo.data.metrics`` (imported here as the module). The large, optional dataset readers
(``phymo.data.h36m``, ``phymo.data.aist``) and SMPL support (``phymo.data.smpl``) are imported from
their modules, by the code that needs them, so that importing ``phymo.data`` stays light.
"""

from . import metrics
from .bvh import BvhClip, read_bvh, write_bvh
from .camera import Camera
from .errors import (
    ConfigError,
    DataFormatError,
    InputNotFoundError,
    PhymoError,
    check_range,
    require_file,
)
from .export import (
    SCHEMA_VERSION,
    atomic_target,
    atomic_write_bytes,
    atomic_write_json,
    motion_arrays,
    save_json,
    save_npz,
)
from .gait import walking_motion
from .joint_limits import joint_kind, joint_range, joint_ranges
from .markers import marker_height, markers_to_canonical, trc_to_lab
from .metrics import FOOT_CONTACT, G
from .mocap import SPLITS, MocapCorpus
from .motion import Motion, forward_kinematics, forward_kinematics_matrices
from .observations import Observations, observations_from_arrays, observations_to_arrays, runs_of_true
from .paths import data_root
from .retarget import bvh_to_motion, detect_family, load_bvh_motion, solve_motion
from .rotations import (
    axis_angle_to_quat,
    euler_to_quat,
    identity_quat,
    matrix_to_quat,
    quat_mul,
    quat_normalize,
    quat_to_euler,
    quat_to_matrix,
    swing,
)
from .skeleton import (
    CANONICAL,
    COCO_17,
    FOOT_JOINTS,
    H36M_17,
    JOINT_MAPPINGS,
    MEDIAPIPE_33,
    JointMapping,
    Skeleton,
    get_mapping,
)
from .synthetic import SyntheticConfig, hip_centred, synthesize_observations, world_landmarks
from .trc import read_trc

__all__ = [
    "CANONICAL", "COCO_17", "FOOT_CONTACT", "FOOT_JOINTS", "G", "H36M_17", "JOINT_MAPPINGS", "MEDIAPIPE_33",
    "SCHEMA_VERSION", "SPLITS", "BvhClip", "Camera", "ConfigError", "DataFormatError", "InputNotFoundError",
    "JointMapping", "MocapCorpus", "Motion", "Observations", "PhymoError", "Skeleton", "SyntheticConfig",
    "atomic_target", "atomic_write_bytes", "atomic_write_json", "axis_angle_to_quat", "bvh_to_motion",
    "check_range", "data_root", "detect_family", "euler_to_quat", "forward_kinematics", "forward_kinematics_matrices",
    "get_mapping", "identity_quat", "joint_kind", "joint_range", "joint_ranges", "load_bvh_motion",
    "marker_height", "markers_to_canonical", "matrix_to_quat", "metrics", "motion_arrays",
    "observations_from_arrays", "observations_to_arrays", "runs_of_true", "quat_mul", "quat_normalize",
    "quat_to_euler", "quat_to_matrix", "read_bvh", "read_trc", "write_bvh", "require_file", "save_json", "save_npz",
    "solve_motion", "swing", "synthesize_observations", "trc_to_lab", "walking_motion", "world_landmarks",
    "hip_centred",
]
