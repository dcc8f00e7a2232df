"""Training the temporal lifter on the mocap corpus's train split, seen through random cameras by a noisy detector.

Each batch cuts windows out of the train split's clips (at three playback speeds, mirrored half of the time,
scaled 0.9-1.1), places a random camera around them (any azimuth, 0.3-2.8 m high, 2-9 m away beyond the path,
the person off the optical axis by up to ~20 degrees, a little roll) and corrupts the projected joints the way
detectors do (:class:`DetectorNoise`, measured in ``notebooks/detector_noise``). The network predicts the
hip-centred 3D joints in camera axes of every frame whose receptive field lies inside the window. Validation lifts
whole clips of the validation split through the same inference as the product (:meth:`Lifter.lift_normalized`).

A run lives in a folder: ``config.json``, ``train_lifter.log``, ``curve.csv`` (step, seconds, train loss,
validation MPJPE), ``ckpt.pt`` (network, optimizer, generator states: ``--resume`` continues it exactly) and
``lifter.pt`` (the validation-best weights, the shipped format).
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from phymo.data import CANONICAL, PhymoError, check_range, hip_centred

from .lifter import (
    BASE_FPS,
    INPUT_INDEX,
    INPUT_JOINTS,
    Lifter,
    LifterShape,
    lifter_features,
    make_network,
    shape_dict,
)

log = logging.getLogger(__name__)

#: playback speeds the train clips are resampled at (a clip at 40 fps played at 30 is a slower motion)
SPEEDS_FPS = (22.5, 30.0, 40.0)
_GROUPS = ("head", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "toe")


def _group(joint: str) -> str:
    return next(g for g in _GROUPS if g in joint)


@dataclass(frozen=True)
class DetectorNoise:
    """2D detector errors in units of the person's 2D box height, per joint group (:data:`_GROUPS` order).

    ``bias``: the standard deviation of a per-clip constant offset (a detector's hip is not the anatomical hip);
    ``scatter``: of the frame-to-frame error, temporally correlated with lag-1 autocorrelation ``correlation``;
    ``outlier_rate`` per keypoint of gross errors of ``outlier_size`` box heights; ``missing_rate`` per keypoint;
    ``swap_rate`` per frame and limb of left/right confusions; ``occlusion_rate`` per window of a limb (or both
    legs) hidden for a stretch of frames; ``lost_rate`` per window of frames without any detection.
    Defaults (``notebooks/detector_noise/measure.py``: MediaPipe on the calibrated Pose2Sim view against the
    projected markers, OpenPose BODY_25B on all four views as a second profile): bias per axis is the measured
    magnitude over sqrt(2), with the head keypoint a nose (:data:`NOSE_OFFSET`); scatter is MediaPipe's robust
    standard deviation; its lag-1 autocorrelation 0.95 at 60 fps is 0.9 at 30; outliers are OpenPose's wrists'
    rate (MediaPipe had 0-1 %); no swap was seen in 100 frames, a small rate stands for other footage; missing
    keypoints are OpenPose's (0-2 %; its head is missing from behind, which occlusions cover).
    """

    bias: tuple[float, ...] = (0.017, 0.013, 0.010, 0.008, 0.020, 0.008, 0.012, 0.009)
    scatter: tuple[float, ...] = (0.013, 0.009, 0.015, 0.014, 0.015, 0.012, 0.010, 0.009)
    correlation: float = 0.9
    outlier_rate: float = 0.015
    outlier_size: tuple[float, float] = (0.08, 0.3)
    missing_rate: float = 0.01
    swap_rate: float = 0.002
    occlusion_rate: float = 0.3
    lost_rate: float = 0.05

    def per_joint(self, values: tuple[float, ...]) -> np.ndarray:
        return np.array([values[_GROUPS.index(_group(n))] for n in INPUT_JOINTS])


@dataclass(frozen=True)
class LifterTrainConfig:
    """A training run's settings (``phymo train-lifter --help`` documents each)."""

    root: str
    shape: LifterShape = LifterShape()
    noise: DetectorNoise = DetectorNoise()
    batch: int = 96
    outputs: int = 24
    lr: float = 1e-3
    lr_final: float = 3e-5
    hours: float = 1.5
    steps: int | None = None
    validate_every: int = 250
    validate_cameras: int = 8
    ckpt_every_s: float = 120.0
    seed: int = 0
    threads: int = 2

    def __post_init__(self) -> None:
        check_range("hours", self.hours, 0.0, strict_low=True)
        check_range("batch", self.batch, 1)
        check_range("outputs", self.outputs, 1)

    def to_json(self) -> dict:
        return {**asdict(self), "shape": shape_dict(self.shape)}

    @classmethod
    def from_json(cls, d: dict) -> LifterTrainConfig:
        noise = {k: tuple(v) if isinstance(v, list) else v for k, v in d["noise"].items()}
        shape = {**d["shape"], "dilations": tuple(d["shape"]["dilations"])}
        return cls(**{**d, "shape": LifterShape(**shape), "noise": DetectorNoise(**noise)})


#: where a detector's "head" keypoint (a nose) sits in the canonical head joint's frame (forward +X, up +Z), metres
NOSE_OFFSET = np.array([0.10, 0.0, 0.02])
#: the nose's index in the bank's points (after the canonical joints)
NOSE = CANONICAL.num_joints
#: the bank points the detector's input joints stand for: the canonical ones, the head's being the nose
DETECTED_INDEX = np.where(INPUT_INDEX == CANONICAL.index("head"), NOSE, INPUT_INDEX)


def with_nose(motion) -> np.ndarray:
    """``(T, J + 1, 3)``: the motion's joints and a nose (:data:`NOSE_OFFSET` in the head's frame)."""
    from phymo.data import quat_to_matrix

    head = CANONICAL.index("head")
    p = motion.positions()
    nose = p[:, head] + quat_to_matrix(motion.global_rotations()[:, head]) @ NOSE_OFFSET
    return np.concatenate([p, nose[:, None]], axis=1)


class MotionBank:
    """World points ``(T, J + 1, 3)`` (the canonical joints and a nose, :func:`with_nose`) of every clip of a
    split, at each of :data:`SPEEDS_FPS`."""

    def __init__(self, motions, speeds: tuple[float, ...] = SPEEDS_FPS, files: tuple[Path, ...] = ()):
        self.files = files
        self.clips = [with_nose(m.resample(fps)).astype(np.float32) for m in motions for fps in speeds]
        self.lengths = np.array([len(c) for c in self.clips])

    @classmethod
    def from_split(cls, root: str | Path, split: str, speeds: tuple[float, ...] = SPEEDS_FPS) -> MotionBank:
        """The clips of a mocap corpus's split (:class:`phymo.data.MocapCorpus`)."""
        from phymo.data import MocapCorpus, load_bvh_motion

        files = MocapCorpus(root).split(split)
        if not files:
            raise PhymoError(f"{root}: no BVH file in the {split!r} split; the lifter trains on mocap (BVH) clips")
        return cls([load_bvh_motion(p) for p in files], speeds, tuple(files))

    def windows(self, rng: np.random.Generator, n: int, length: int) -> np.ndarray:
        """``(n, length, J, 3)`` windows drawn uniformly over all frames (short clips repeat their last frame)."""
        weights = np.maximum(self.lengths - length + 1, 1).astype(float)
        picks = rng.choice(len(self.clips), n, p=weights / weights.sum())
        out = np.empty((n, length, CANONICAL.num_joints + 1, 3), np.float32)
        for i, c in enumerate(picks):
            clip = self.clips[c]
            start = rng.integers(0, max(len(clip) - length, 0) + 1)
            idx = np.minimum(np.arange(start, start + length), len(clip) - 1)
            out[i] = clip[idx]
        return out


_MIRROR = np.array([CANONICAL.index(n.replace("left", "right") if "left" in n else n.replace("right", "left"))
                    for n in CANONICAL.names] + [NOSE])
_PAIRS = np.array([(i, INPUT_JOINTS.index(n.replace("left", "right")))
                   for i, n in enumerate(INPUT_JOINTS) if n.startswith("left")])
_LIMBS = {"legs": ("knee", "ankle", "toe"), "left_arm": ("left_elbow", "left_wrist"),
          "right_arm": ("right_elbow", "right_wrist"), "left_leg": ("left_knee", "left_ankle", "left_toe"),
          "right_leg": ("right_knee", "right_ankle", "right_toe")}
_LIMB_MASKS = np.array([[any(p in n for p in parts) for n in INPUT_JOINTS] for parts in _LIMBS.values()])


def _rotation(axis: int, angle: np.ndarray) -> np.ndarray:
    """``(N, 3, 3)`` rotations by ``angle`` about coordinate axis ``axis``."""
    c, s = np.cos(angle), np.sin(angle)
    r = np.zeros((len(angle), 3, 3))
    i, j = [a for a in range(3) if a != axis]
    r[:, axis, axis] = 1.0
    r[:, i, i], r[:, i, j], r[:, j, i], r[:, j, j] = c, -s, s, c
    return r


def random_views(world: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera-frame joints ``(N, T, J, 3)`` of world windows seen by random cameras (see the module docstring)."""
    n = len(world)
    pelvis = world[:, :, 0]
    target = pelvis.mean(1)
    target[:, 2] = rng.uniform(0.6, 1.2, n)
    reach = np.linalg.norm(pelvis[..., :2] - target[:, None, :2], axis=-1).max(1)
    az = rng.uniform(0, 2 * np.pi, n)
    dist = rng.uniform(2.0, 9.0, n) + reach
    eye = np.stack([target[:, 0] + dist * np.cos(az), target[:, 1] + dist * np.sin(az),
                    rng.uniform(0.3, 2.8, n)], -1)
    z = target - eye
    z /= np.linalg.norm(z, axis=-1, keepdims=True)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x, axis=-1, keepdims=True)
    rot = np.stack([x, np.cross(z, x), z], 1)  # rows: camera axes in world
    jitter = (_rotation(1, rng.uniform(-0.35, 0.35, n)) @ _rotation(0, rng.uniform(-0.25, 0.25, n))
              @ _rotation(2, rng.uniform(-0.1, 0.1, n)))
    rot = jitter @ rot
    return np.einsum("nab,ntjb->ntja", rot, world - eye[:, None, None])


def corrupt(xy: np.ndarray, noise: DetectorNoise, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Detector-like ``(N, T, K, 2)`` keypoints and ``(N, T, K)`` confidences from true normalized coordinates."""
    n, t, k, _ = xy.shape
    box = np.median(xy[..., 1].max(-1) - xy[..., 1].min(-1), axis=1)[:, None, None, None]
    bias = rng.standard_normal((n, 1, k, 2)) * noise.per_joint(noise.bias)[:, None]
    scatter = np.empty((n, t, k, 2))
    scatter[:, 0] = rng.standard_normal((n, k, 2))
    keep = math.sqrt(1 - noise.correlation ** 2)
    for i in range(1, t):
        scatter[:, i] = noise.correlation * scatter[:, i - 1] + keep * rng.standard_normal((n, k, 2))
    out = xy + box * (bias + scatter * noise.per_joint(noise.scatter)[:, None])
    conf = rng.uniform(0.5, 1.0, (n, t, k))
    outlier = rng.random((n, t, k)) < noise.outlier_rate
    angle = rng.uniform(0, 2 * np.pi, (n, t, k))
    size = rng.uniform(*noise.outlier_size, (n, t, k))[..., None] * box
    out = np.where(outlier[..., None], out + size * np.stack([np.cos(angle), np.sin(angle)], -1), out)
    conf = np.where(outlier, rng.uniform(0.2, 0.7, (n, t, k)), conf)
    swap = rng.random((n, t, len(_PAIRS))) < noise.swap_rate
    left, right = _PAIRS[:, 0], _PAIRS[:, 1]
    out_l, out_r = out[:, :, left].copy(), out[:, :, right].copy()
    out[:, :, left] = np.where(swap[..., None], out_r, out_l)
    out[:, :, right] = np.where(swap[..., None], out_l, out_r)
    missing = rng.random((n, t, k)) < noise.missing_rate
    for i in np.flatnonzero(rng.random(n) < noise.occlusion_rate):
        a = rng.integers(0, t)
        b = min(t, a + rng.integers(5, t + 1))
        missing[i, a:b] |= _LIMB_MASKS[rng.integers(len(_LIMB_MASKS))]
    for i in np.flatnonzero(rng.random(n) < noise.lost_rate):
        a = rng.integers(0, t)
        missing[i, a:a + rng.integers(1, 8)] = True
    conf = np.where(missing, 0.0, conf)
    return np.where(missing[..., None], 0.0, out), conf


def make_batch(bank: MotionBank, cfg: LifterTrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Features ``(N, NUM_FEATURES, L)`` and targets ``(N, J * 3, outputs)`` of one training batch."""
    rf = cfg.shape.receptive_field
    length = cfg.outputs + rf - 1
    world = bank.windows(rng, cfg.batch, length).astype(np.float64)
    mirror = rng.random(cfg.batch) < 0.5
    world[mirror] = world[mirror][:, :, _MIRROR] * np.array([1.0, -1.0, 1.0])
    ground = np.concatenate([world[:, :1, :1, :2], np.zeros((cfg.batch, 1, 1, 1))], -1)
    world = ground + (world - ground) * rng.uniform(0.9, 1.1, (cfg.batch, 1, 1, 1))
    cam = random_views(world, rng)
    inputs = cam[:, :, DETECTED_INDEX]
    xy, conf = corrupt(inputs[..., :2] / inputs[..., 2:], cfg.noise, rng)
    feats = lifter_features(xy, conf, rf)
    target = hip_centred(cam[:, :, :NOSE])[:, rf // 2: rf // 2 + cfg.outputs]
    return (np.ascontiguousarray(feats.transpose(0, 2, 1)),
            np.ascontiguousarray(target.reshape(cfg.batch, cfg.outputs, -1).transpose(0, 2, 1)).astype(np.float32))


def mpjpe_loss(pred, target):
    """Mean per-joint position error (metres) of ``(N, J * 3, T)`` tensors."""
    n, _, t = pred.shape
    return (pred - target).reshape(n, -1, 3, t).norm(dim=2).mean()


class ValidationSet:
    """Whole clips of the validation split, each through ``cameras`` seeded views with detector noise."""

    def __init__(self, root: str | Path, noise: DetectorNoise, cameras: int, seed: int = 1234):
        bank = MotionBank.from_split(root, "validation", speeds=(BASE_FPS,))
        rng = np.random.default_rng(seed)
        self.cases = []
        for clip in bank.clips:
            for _ in range(cameras):
                cam = random_views(clip[None].astype(np.float64), rng)[0]
                inputs = cam[:, DETECTED_INDEX]
                xy, conf = corrupt((inputs[..., :2] / inputs[..., 2:])[None], noise, rng)
                self.cases.append((xy[0], conf[0], hip_centred(cam[:, :NOSE])))

    def mpjpe_mm(self, net) -> float:
        """Mean over cases of the MPJPE (hip-centred, all canonical joints), millimetres."""
        lifter = Lifter(net, {})
        errors = [np.linalg.norm(lifter.lift_normalized(xy, conf) - truth, axis=-1).mean()
                  for xy, conf, truth in self.cases]
        net.train()
        return 1000.0 * float(np.mean(errors))


def train(cfg: LifterTrainConfig, out: Path, resume: bool = False) -> Path:
    """Train (or continue) the run in ``out``; returns the path of the exported validation-best weights."""
    import torch
    from tqdm import tqdm

    out = Path(out)
    ckpt_path = out / "ckpt.pt"
    if resume:
        if not ckpt_path.exists():
            raise PhymoError(f"{out}: no checkpoint to resume (ckpt.pt); start the run without --resume")
        saved = LifterTrainConfig.from_json(json.loads((out / "config.json").read_text()))
        cfg = LifterTrainConfig(**{**saved.__dict__, "hours": cfg.hours, "steps": cfg.steps})
    elif (out / "config.json").exists():
        raise PhymoError(f"{out} holds a run already; pass --resume to continue it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(cfg.to_json(), indent=2))
    handler = logging.FileHandler(out / "train_lifter.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(handler)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    bank = MotionBank.from_split(cfg.root, "train")
    val = ValidationSet(cfg.root, cfg.noise, cfg.validate_cameras)
    net = make_network(cfg.shape)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=0.0)
    rng = np.random.default_rng(cfg.seed)
    step, elapsed, best = 0, 0.0, (math.inf, None)
    curve = out / "curve.csv"
    if resume:
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        step, elapsed, best = state["step"], state["elapsed"], (state["best_mm"], state["best_net"])
        lines = curve.read_text().splitlines()
        curve.write_text("\n".join([lines[0], *(r for r in lines[1:] if int(r.split(",")[0]) <= step)]) + "\n")
        log.info("resuming at step %d after %.0f s (best validation %.1f mm)", step, elapsed, best[0])
    else:
        curve.write_text("step,seconds,train_mpjpe_mm,validation_mpjpe_mm\n")
        log.info("training a lifter (%d parameters, %d-frame window) on %d clips (%d frames at %d speeds)",
                 sum(p.numel() for p in net.parameters()), cfg.shape.receptive_field, len(bank.files),
                 int(bank.lengths.sum()), len(SPEEDS_FPS))
    budget = cfg.hours * 3600.0
    bar = tqdm(total=round(budget), initial=min(round(elapsed), round(budget)), unit="s", desc="train-lifter")
    start, last_ckpt, recent = time.monotonic() - elapsed, time.monotonic(), []
    net.train()

    def save_checkpoint():
        state = {"net": net.state_dict(), "opt": opt.state_dict(), "numpy_rng": rng.bit_generator.state,
                 "torch_rng": torch.get_rng_state(), "step": step, "elapsed": time.monotonic() - start,
                 "best_mm": best[0], "best_net": best[1]}
        torch.save(state, out / "ckpt.tmp")
        (out / "ckpt.tmp").replace(ckpt_path)

    while (cfg.steps is None or step < cfg.steps) and time.monotonic() - start < budget:
        frac = min((time.monotonic() - start) / budget, 1.0)
        for group in opt.param_groups:
            group["lr"] = cfg.lr_final + 0.5 * (cfg.lr - cfg.lr_final) * (1 + math.cos(math.pi * frac))
        feats, target = make_batch(bank, cfg, rng)
        loss = mpjpe_loss(net(torch.from_numpy(feats)), torch.from_numpy(target))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        last_mm = 1000 * loss.item()
        recent.append(last_mm)
        if step % cfg.validate_every == 0:
            score = val.mpjpe_mm(net)
            if score < best[0]:
                best = (score, {k: v.detach().clone() for k, v in net.state_dict().items()})
            seconds = time.monotonic() - start
            with curve.open("a") as f:
                f.write(f"{step},{seconds:.0f},{np.mean(recent):.2f},{score:.2f}\n")
            log.info("step %d, %.0f s: train %.1f mm, validation %.1f mm (best %.1f)", step, seconds,
                     np.mean(recent), score, best[0])
            recent = []
        bar.update(min(round(time.monotonic() - start), bar.total) - bar.n)
        bar.set_postfix(step=step, loss_mm=f"{last_mm:.1f}")
        if time.monotonic() - last_ckpt > cfg.ckpt_every_s:
            save_checkpoint()
            last_ckpt = time.monotonic()
    bar.close()
    if best[1] is None:  # ended before the first validation: score what there is
        best = (val.mpjpe_mm(net), net.state_dict())
    save_checkpoint()
    path = export(best[1], cfg, out / "lifter.pt", {"steps": step, "seconds": round(time.monotonic() - start),
                                                    "validation_mpjpe_mm": round(best[0], 2),
                                                    "train_files": [p.name for p in bank.files]})
    log.info("exported %s (validation %.1f mm, %d steps)", path, best[0], step)
    log.removeHandler(handler)
    return path


def export(state_dict, cfg: LifterTrainConfig, path: Path, meta: dict) -> Path:
    """Write weights in the shipped format: network shape, state, and how they were made."""
    import torch

    blob = {"shape": shape_dict(cfg.shape), "state_dict": state_dict,
            "meta": {**meta, "noise": asdict(cfg.noise), "batch": cfg.batch, "hours": cfg.hours,
                     "input_joints": list(INPUT_JOINTS), "base_fps": BASE_FPS}}
    torch.save(blob, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").replace(path)
    return path
