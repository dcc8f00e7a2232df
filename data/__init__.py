"""Motion data: skeletons, motions, cameras, observations, BVH, dataset loaders, metrics."""

from .camera import Camera
from .errors import DataFormatError, InputNotFoundError, PhymoError
from .motion import Motion, forward_kinematics
from .observations import Observations
from .skeleton import CANONICAL, FOOT_JOINTS, JOINT_MAPPINGS, JointMapping, Skeleton

__all__ = [
    "CANONICAL",
    "FOOT_JOINTS",
    "JOINT_MAPPINGS",
    "Camera",
    "DataFormatError",
    "InputNotFoundError",
    "JointMapping",
    "Motion",
    "Observations",
    "PhymoError",
    "Skeleton",
    "forward_kinematics",
]
