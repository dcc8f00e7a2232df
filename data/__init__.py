"""Motion data: skeletons, motions, cameras, observations, BVH, dataset loaders, metrics."""

from .bvh import BvhClip, read_bvh, write_bvh
from .camera import Camera
from .errors import DataFormatError, InputNotFoundError, PhymoError
from .mocap import MocapCorpus
from .motion import Motion, forward_kinematics
from .observations import Observations
from .retarget import bvh_to_motion, load_bvh_motion
from .skeleton import CANONICAL, FOOT_JOINTS, JOINT_MAPPINGS, JointMapping, Skeleton, get_mapping

__all__ = [
    "BvhClip",
    "MocapCorpus",
    "bvh_to_motion",
    "load_bvh_motion",
    "read_bvh",
    "write_bvh",
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
    "get_mapping",
]
