"""A temporal 2D -> 3D lifter: the kinematic fit's 3D prior, trained on phymo's own mocap (``phymo train-lifter``).

A dilated temporal convolution in the style of VideoPose3D (Pavllo et al., CVPR 2019): the keypoints of a
window of :data:`RECEPTIVE_FIELD` frames at about :data:`BASE_FPS` give the 3D pose of its centre frame. Faster
video is lifted as interleaved phases of every ``k``-th frame (:func:`frame_step`), so the network always sees
motion at the speed it was trained on.

Inputs (:func:`lifter_features`), per frame: the :data:`INPUT_JOINTS` in normalized image coordinates (pixels
minus the principal point, over the focal length), centred on the hips and divided by the person's apparent
size (a running median of the 2D extent), with their confidences; and where that centre is in the view (it
sets how the body is seen obliquely). Output: the canonical joints, metres, relative to the hips' midpoint, in
camera axes (x right, y down, z away): the format of MediaPipe's world landmarks, which it replaces as the fit's
3D prior. Missing keypoints (confidence 0) are zeros, which the training's dropouts and occlusions taught it.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from phymo.data import CANONICAL, MEDIAPIPE_33, Camera, DataFormatError, PhymoError

log = logging.getLogger(__name__)

#: the canonical joints a 2D detector reports (MediaPipe-33's; COCO-17 lacks the toes, which then read as missing)
INPUT_JOINTS: tuple[str, ...] = tuple(name for name, _ in MEDIAPIPE_33.pairs)
INPUT_INDEX = np.array([CANONICAL.index(n) for n in INPUT_JOINTS])
#: the frame rate the lifter was trained at; video is lifted as phases of every round(fps / BASE_FPS)-th frame
BASE_FPS = 30.0
#: keypoints below this confidence count as missing
MIN_CONFIDENCE = 0.2
#: fewest input joints a frame needs to be centred and sized
MIN_JOINTS = 4
#: the shipped weights
WEIGHTS = Path(__file__).parent / "weights" / "lifter.pt"


@dataclass(frozen=True)
class LifterShape:
    """The network's size: ``channels`` per layer, ``dilations`` of the residual blocks (the receptive field
    is ``1 + 2 * (1 + sum(dilations))`` frames), ``dropout`` while training."""

    channels: int = 256
    dilations: tuple[int, ...] = (3, 9)
    dropout: float = 0.15

    @property
    def receptive_field(self) -> int:
        return 1 + 2 * (1 + sum(self.dilations))


#: features per frame: (x, y, confidence) per input joint, and the centre's place in the view (x, y)
NUM_FEATURES = 3 * len(INPUT_JOINTS) + 2


def _torch_module():
    import torch

    class TemporalLifter(torch.nn.Module):
        """Features ``(B, NUM_FEATURES, T)`` -> joints ``(B, J * 3, T - receptive_field + 1)`` (valid convolutions)."""

        def __init__(self, shape: LifterShape):
            super().__init__()
            nn, c = torch.nn, shape.channels
            self.shape = shape
            self.expand = nn.Sequential(nn.Conv1d(NUM_FEATURES, c, 3, bias=False), nn.BatchNorm1d(c), nn.ReLU(),
                                        nn.Dropout(shape.dropout))
            self.blocks = nn.ModuleList(
                nn.Sequential(nn.Conv1d(c, c, 3, dilation=d, bias=False), nn.BatchNorm1d(c), nn.ReLU(),
                              nn.Dropout(shape.dropout), nn.Conv1d(c, c, 1, bias=False), nn.BatchNorm1d(c),
                              nn.ReLU(), nn.Dropout(shape.dropout)) for d in shape.dilations)
            self.head = nn.Conv1d(c, 3 * CANONICAL.num_joints, 1)

        def forward(self, x):
            x = self.expand(x)
            for d, block in zip(self.shape.dilations, self.blocks, strict=True):
                x = x[:, :, d:-d] + block(x)
            return self.head(x)

    return TemporalLifter


def make_network(shape: LifterShape = LifterShape()):
    """A freshly initialized :class:`TemporalLifter` of ``shape``."""
    return _torch_module()(shape)


def frame_step(fps: float) -> int:
    """Every how many frames the lifter looks: the video's rate over :data:`BASE_FPS`, rounded, at least 1."""
    return max(1, int(round(fps / BASE_FPS)))


def lifter_features(xy: np.ndarray, confidence: np.ndarray, window: int) -> np.ndarray:
    """``(T, NUM_FEATURES)`` network inputs from the input joints' normalized image coordinates.

    Args:
        xy: ``(..., T, K, 2)`` normalized image coordinates of :data:`INPUT_JOINTS` (``K`` of them).
        confidence: ``(..., T, K)``; below :data:`MIN_CONFIDENCE` is missing.
        window: frames of the running median that sizes the person (the receptive field).
    """
    ok = confidence >= MIN_CONFIDENCE
    n_ok = ok.sum(-1)
    hips = [INPUT_JOINTS.index("left_hip"), INPUT_JOINTS.index("right_hip")]
    both_hips = ok[..., hips].all(-1)
    w = ok.astype(np.float64)
    mean_ok = (xy * w[..., None]).sum(-2) / np.maximum(n_ok, 1)[..., None]
    centre = np.where(both_hips[..., None], xy[..., hips, :].mean(-2), mean_ok)
    big = np.where(ok[..., None], xy, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing frame; filled from its neighbours below
        extent = np.nanmax(np.nanmax(big, -2) - np.nanmin(big, -2), -1)
    seen = n_ok >= MIN_JOINTS
    extent = np.where(seen, extent, np.nan)
    centre = np.where(seen[..., None], centre, np.nan)
    size = _running_median(_interp_nan(extent, -1, 1.0), window)
    centre = _interp_nan(centre, -2, 0.0)
    rel = (xy - centre[..., None, :]) / size[..., None, None]
    rel = np.where(ok[..., None], rel, 0.0)
    conf = np.where(ok, confidence, 0.0)
    feats = np.concatenate([rel.reshape(*rel.shape[:-2], -1), conf, centre], axis=-1)
    return feats.astype(np.float32)


def _interp_nan(values: np.ndarray, axis: int, empty: float) -> np.ndarray:
    """Fill NaNs along ``axis`` (time) by linear interpolation between the frames that have a value, holding the
    first and last; a sequence without any value becomes ``empty``."""
    v = np.moveaxis(np.array(values, dtype=np.float64), axis, -1)
    flat = v.reshape(-1, v.shape[-1])
    idx = np.arange(v.shape[-1])
    for seq in flat:
        good = ~np.isnan(seq)
        seq[:] = np.interp(idx, idx[good], seq[good]) if good.any() else empty
    return np.moveaxis(flat.reshape(v.shape), -1, axis)


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Centred running median over the last axis (time), edges by the nearest value."""
    return median_filter(values, size=[1] * (values.ndim - 1) + [window], mode="nearest")


def normalized_coordinates(points_px: np.ndarray, camera: Camera) -> np.ndarray:
    """Pixels ``(..., 2)`` to normalized image coordinates (minus the principal point, over the focal length)."""
    return (points_px - np.array([camera.cx, camera.cy])) / np.array([camera.fx, camera.fy])


class Lifter:
    """Loaded weights and the inference that the fit and the evaluation share."""

    def __init__(self, net, meta: dict):
        self.net = net.eval()
        self.meta = meta
        self.receptive_field = net.shape.receptive_field

    @classmethod
    def load(cls, path: str | Path = WEIGHTS) -> Lifter:
        """The weights in ``path`` (the shipped ones by default); a clear error for a missing or foreign file."""
        import torch

        path = Path(path)
        if not path.is_file():
            raise PhymoError(f"{path}: no lifter weights (phymo train-lifter writes them)")
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            net = make_network(LifterShape(**{**blob["shape"], "dilations": tuple(blob["shape"]["dilations"])}))
            net.load_state_dict(blob["state_dict"])
        except (KeyError, RuntimeError, TypeError) as exc:
            raise DataFormatError(f"{path}: not lifter weights of this version ({exc})") from None
        return cls(net, blob.get("meta", {}))

    def lift_normalized(self, xy: np.ndarray, confidence: np.ndarray, step: int = 1) -> np.ndarray:
        """``(T, J, 3)`` hip-centred camera-axis joints from ``(T, K, 2)`` normalized coordinates of
        :data:`INPUT_JOINTS` and ``(T, K)`` confidences, looking at every ``step``-th frame."""
        import torch

        t = len(xy)
        out = np.zeros((t, CANONICAL.num_joints, 3))
        pad = self.receptive_field // 2
        for phase in range(min(step, t)):
            feats = lifter_features(xy[phase::step], confidence[phase::step], self.receptive_field)
            padded = np.concatenate([np.repeat(feats[:1], pad, 0), feats, np.repeat(feats[-1:], pad, 0)])
            with torch.no_grad():
                y = self.net(torch.from_numpy(padded.T[None]))[0].T.numpy()
            out[phase::step] = y.reshape(-1, CANONICAL.num_joints, 3)
        return out

    def lift(self, points_px: np.ndarray, confidence: np.ndarray, camera: Camera, fps: float) -> np.ndarray:
        """``(T, J, 3)`` hip-centred camera-axis joints (metres) from canonical ``(T, J, 2)`` pixels and ``(T, J)``
        confidences seen by ``camera`` (intrinsics) at ``fps``."""
        points_px, confidence = np.asarray(points_px, np.float64), np.asarray(confidence, np.float64)
        if points_px.ndim != 3 or points_px.shape[1:] != (CANONICAL.num_joints, 2):
            raise ValueError(f"the lifter takes canonical keypoints (T, {CANONICAL.num_joints}, 2); got "
                             f"{points_px.shape}")
        seen = (confidence[:, INPUT_INDEX] >= MIN_CONFIDENCE).any(0)
        if seen.sum() < MIN_JOINTS:
            raise PhymoError(f"the lifter needs at least {MIN_JOINTS} of the joints {', '.join(INPUT_JOINTS)}; these "
                             f"keypoints have {[n for n, s in zip(INPUT_JOINTS, seen, strict=True) if s]} "
                             "(use --prior mediapipe, or keypoints in a joint set that maps to them)")
        step = frame_step(fps)
        frames = -(-len(points_px) // step)
        if frames < self.receptive_field:
            log.warning("the lifter sees %d frames at %.0f fps, fewer than its %d-frame window: the ends are padded by "
                        "repeating the first and last frame", frames, fps / step, self.receptive_field)
        xy = normalized_coordinates(points_px[:, INPUT_INDEX], camera)
        return self.lift_normalized(xy, confidence[:, INPUT_INDEX], step)


@lru_cache(maxsize=1)
def shipped_lifter() -> Lifter:
    """The package's lifter, loaded once per process."""
    return Lifter.load(WEIGHTS)


def shape_dict(shape: LifterShape) -> dict:
    return {**asdict(shape), "dilations": list(shape.dilations)}
