"""The reconstruction pipeline: keypoints -> kinematic initialization -> physics -> outputs.

Stage results are cached under ``OUT/cache`` keyed on a hash of their input and configuration, and
physics caches each finished window, so a resumed run (``--resume``) recomputes nothing finished.
Outputs are written atomically; ``report.json`` records timings, the resolved configuration and
plausibility metrics of the physics result beside the kinematic-only one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phymo.data import FOOT_JOINTS, Motion, Observations
from phymo.data.bvh import write_bvh
from phymo.data.errors import PhymoError
from phymo.data.export import SCHEMA_VERSION, atomic_write_json, motion_arrays, save_json, save_npz
from phymo.data.metrics import foot_skating, jitter, penetration
from phymo.data.observations import observations_from_arrays, observations_to_arrays
from phymo.physics import ReconstructConfig

from .guesses import guesses

log = logging.getLogger(__name__)

#: per foot joint (ankles, toes): height above the ground under which it counts as in contact, metres
CONTACT_HEIGHTS = {"left_ankle": 0.12, "right_ankle": 0.12, "left_toe": 0.05, "right_toe": 0.05}


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``phymo reconstruct`` needs besides its input and output paths (CLI flags map 1:1).

    Attributes:
        optimizer: name in ``phymo.optimizer.registry.OPTIMIZERS`` used for the physics windows.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``, for the learned optimizer's network.
        start_s, end_s: the part of the video to reconstruct, seconds (end None: to the end).
        height_m: the person's height, metres (None: assumed, an average adult; see phymo.pose.kinematic_fit).
        focal_px: focal length in pixels (None: from ``calibration`` or a field-of-view assumption).
        calibration: a camera calibration file (Pose2Sim/Sports2D TOML or Qualisys .qca.txt).
        camera: the calibration's camera to use (None: its first).
        detector: keypoint backend name in ``phymo.pose.DETECTORS``.
        smpl_model: a folder with the user's SMPL model files; when set, SMPL parameters are exported.
        overlay: render ``overlay.mp4``.
        physics: windowing, simulation and loss settings.
    """

    optimizer: str = "optimus"
    device: str = "auto"
    start_s: float = 0.0
    end_s: float | None = None
    height_m: float | None = None
    focal_px: float | None = None
    calibration: str | None = None
    camera: str | None = None
    detector: str = "mediapipe"
    smpl_model: str | None = None
    overlay: bool = True
    physics: ReconstructConfig = field(default_factory=ReconstructConfig)

    def validate(self) -> None:
        if self.start_s < 0:
            raise PhymoError(f"--start must be >= 0 seconds, got {self.start_s}")
        if self.end_s is not None and self.end_s <= self.start_s:
            raise PhymoError(f"--end ({self.end_s} s) must come after --start ({self.start_s} s)")
        if self.height_m is not None and not 0.5 <= self.height_m <= 2.5:
            raise PhymoError(f"--height must be a person's height in metres (0.5 to 2.5), got {self.height_m}")
        if self.focal_px is not None and self.focal_px <= 0:
            raise PhymoError(f"--focal must be positive pixels, got {self.focal_px}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise PhymoError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        from phymo.optimizer.registry import canonical_name

        canonical_name(self.optimizer)  # an unknown name fails here, before any work


def resolve_device(name: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``; ``cuda`` without one is an error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise PhymoError("--device cuda was asked for but torch sees no CUDA device; use --device cpu or auto")
    return name


def _hash(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p if isinstance(p, bytes) else json.dumps(p, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _file_identity(path: Path) -> dict:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class Timings:
    """Wall time per stage, in seconds, in the order the stages ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def stage(self, name: str, fn: Callable, *args, **kwargs):
        t0 = time.perf_counter()
        log.info("stage %s ...", name)
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.perf_counter() - t0, 3)
            log.info("stage %s done in %.1f s", name, self.seconds[name])


def load_or_detect_keypoints(video: Path | None, keypoints: Path | None, config: PipelineConfig, cache: Path):
    """The person's keypoints: imported from ``keypoints`` or detected in ``video`` (cached)."""
    from phymo.pose import detect_video, load_any, probe_video

    info = probe_video(video) if video is not None else None
    if keypoints is not None:
        return load_any(keypoints, info.fps if info else None, info.width if info else None,
                        info.height if info else None)
    start = int(round(config.start_s * info.fps))
    end = None if config.end_s is None else int(round(config.end_s * info.fps))
    if start >= info.num_frames:
        raise PhymoError(f"--start {config.start_s} s is after the end of {video} ({info.num_frames / info.fps:.2f} s)")
    path = cache / f"keypoints-{_hash(_file_identity(video), start, end, config.detector)}.npz"
    if path.exists():
        from phymo.pose import load_keypoints

        log.info("keypoints: reusing %s", path)
        return load_keypoints(path)
    kp = detect_video(video, config.detector, start, end, progress=True)
    kp.save(path)
    return kp


def kinematic_initialization(kp, config: PipelineConfig, cache: Path) -> Observations:
    """Camera set-up and the kinematic 3D fit (cached); returns observations with the kinematic motion."""
    from phymo.pose import FitConfig, initialize, resolve_camera

    camera, how = resolve_camera(kp.width, kp.height, config.focal_px, config.calibration, config.camera)
    fit_config = FitConfig(height_m=config.height_m)
    key = _hash(kp.points.tobytes(), kp.confidence.tobytes(), camera.to_dict(), dataclasses.asdict(fit_config))
    path = cache / f"kinematic-{key}.npz"
    if path.exists():
        log.info("kinematic fit: reusing %s", path)
        with np.load(path, allow_pickle=False) as z:
            return observations_from_arrays(z)
    fit = initialize(kp, camera, fit_config)
    obs = fit.observations
    obs.meta = {**obs.meta, "camera_source": how, "kinematic_reproj_px": fit.reproj_px}
    save_npz(path, observations_to_arrays(obs))
    return obs


def plausibility(motion: Motion) -> tuple[dict, dict[str, np.ndarray]]:
    """Summary plausibility metrics of a motion and their per-frame series (for the plots)."""
    pos = motion.positions()
    feet = [motion.skeleton.index(n) for n in FOOT_JOINTS]
    heights = [CONTACT_HEIGHTS[n] for n in FOOT_JOINTS]
    sk = foot_skating(pos, motion.fps, feet, contact_height=heights)
    pen = penetration(pos)
    per_frame_pen = np.maximum(0.0, -pos[..., 2].min(axis=1))
    slide = np.zeros(len(pos))
    slide[1:] = (np.linalg.norm(np.diff(pos[:, feet, :2], axis=0), axis=-1) * motion.fps
                 * (pos[1:, feet, 2] < np.array(heights))).max(axis=1)
    summary = {"foot_skating": sk.skating_ratio, "foot_slide_mps": sk.mean_slide_speed,
               "contact_share": sk.contact_ratio, "penetration_mm": pen.mean_depth * 1000,
               "penetration_max_mm": pen.max_depth * 1000, "jitter_mps2": jitter(pos, motion.fps)}
    return summary, {"foot slide (m/s)": slide, "penetration (mm)": per_frame_pen * 1000}


def contacts(motion: Motion) -> np.ndarray:
    """``(T, 4)`` booleans: each foot joint (FOOT_JOINTS order) within its contact height of the ground."""
    pos = motion.positions()
    feet = [motion.skeleton.index(n) for n in FOOT_JOINTS]
    return pos[:, feet, 2] < np.array([CONTACT_HEIGHTS[n] for n in FOOT_JOINTS])


def export_motion(out: Path, stem: str, motion: Motion, obs: Observations, extras: dict | None = None) -> dict:
    """``STEM.bvh``, ``STEM.npz`` and ``STEM.json`` for one motion; returns their paths."""
    frame_offset = int(obs.meta.get("frame_indices", [0])[0]) if obs.meta.get("frame_indices") else 0
    arrays = motion_arrays(motion, obs.camera, {
        "contacts": contacts(motion), "contact_joints": np.array(FOOT_JOINTS),
        "keypoints_2d": obs.keypoints_2d, "keypoint_confidence": obs.confidence, **(extras or {})},
        frame_offset=frame_offset)
    paths = {"bvh": write_bvh(out / f"{stem}.bvh", motion), "npz": save_npz(out / f"{stem}.npz", arrays),
             "json": save_json(out / f"{stem}.json", arrays, meta={"source": obs.meta.get("source")})}
    return {k: str(v) for k, v in paths.items()}


def run_pipeline(out: Path, config: PipelineConfig, video: Path | None = None, keypoints: Path | None = None,
                 resume: bool = False, frames: Callable[[], Iterable[np.ndarray]] | None = None) -> dict:
    """Reconstruct one person's motion and write every output into ``out``; returns the report.

    Args:
        out: output folder (created).
        config: the pipeline settings.
        video: the input video (for detection, fps/size and the overlay background).
        keypoints: keypoints made elsewhere (any format ``phymo.pose.load_any`` reads); skips detection.
        resume: reuse cached stages and physics windows from an earlier run into ``out``.
        frames: overlay background frames (default: the video's frames, or plain frames).
    """
    config.validate()
    if video is None and keypoints is None:
        raise PhymoError("give a video, or keypoints with --keypoints")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as exc:
        raise PhymoError(f"cannot write to the output folder {out}: {exc.strerror or exc}") from None
    cache = out / "cache"
    if not resume and cache.exists():
        shutil.rmtree(cache)
    cache.mkdir(exist_ok=True)
    device = resolve_device(config.device)
    atomic_write_json(out / "config.json", {**dataclasses.asdict(config), "resolved_device": device,
                                            "video": video, "keypoints": keypoints})
    timings = Timings()

    kp = timings.stage("keypoints", load_or_detect_keypoints, video, keypoints, config, cache)
    obs = timings.stage("kinematic", kinematic_initialization, kp, config, cache)

    from phymo.optimizer.registry import optimizer_factory
    from phymo.physics import reconstruct

    make_optimizer = optimizer_factory(config.optimizer, device, lr=config.physics.lr,
                                       step_scale=config.physics.learned_step_scale)
    rec = timings.stage("physics", reconstruct, obs, config.physics, make_optimizer, cache / "physics")

    report = {"schema_version": SCHEMA_VERSION, "input": {
        "video": video, "keypoints": keypoints, "fps": obs.fps, "frames": obs.num_frames,
        "width": obs.camera.width, "height": obs.camera.height, "detected_share": kp.detected_share,
        "camera": obs.meta.get("camera_source"), "kinematic_reproj_px": obs.meta.get("kinematic_reproj_px"),
        "guesses": guesses(obs, obs.meta.get("camera_source", ""))},
        "config": {**dataclasses.asdict(config), "resolved_device": device}}
    outputs = timings.stage("export", _write_outputs, out, obs, rec, config, video, frames)
    report |= outputs
    report["timings_s"] = timings.seconds
    report["timings_s"]["total"] = round(sum(timings.seconds.values()), 3)
    report["realtime_factor"] = report["timings_s"]["total"] / max(obs.num_frames / obs.fps, 1e-9)
    atomic_write_json(out / "report.json", report)
    return report


def _write_outputs(out: Path, obs: Observations, rec, config: PipelineConfig, video: Path | None,
                   frames: Callable[[], Iterable[np.ndarray]] | None) -> dict:
    from .overlay import blank_frames, write_overlay_video
    from .plots import plot_loss_traces, plot_per_frame

    files = {"physics": export_motion(out, "motion", rec.motion, obs,
                                      {"qpos": rec.qpos, "qvel": rec.qvel, "torques": rec.torques,
                                       "actuator_names": np.array(rec.actuator_names),
                                       "residual_force": rec.residual_force}),
             "kinematic": export_motion(out, "kinematic", obs.kinematic, obs)}
    if config.smpl_model is not None:
        from phymo.data.smpl import fit_smpl, smpl_arrays

        fit = fit_smpl(rec.motion, config.smpl_model)
        arrays = dict(np.load(out / "motion.npz", allow_pickle=False)) | smpl_arrays(fit)
        save_npz(out / "motion.npz", arrays)
        files["smpl_fit_mpjpe_mm"] = fit.mpjpe_m * 1000
    phys_summary, phys_series = plausibility(rec.motion)
    phys_series["residual force (N)"] = rec.residual_force
    simulated = rec.residual_force[np.isfinite(rec.residual_force)]  # NaN on frames that fell back
    phys_summary["residual_force_n"] = float(simulated.mean()) if simulated.size else None
    kin_summary, _ = plausibility(obs.kinematic)
    traces = {f"w{i} [{w['start']}:{w['stop']})": w["loss_history"] for i, w in enumerate(rec.windows)
              if len(w.get("loss_history", ())) > 0}
    plots = {"loss": str(plot_loss_traces(traces, out / "loss.png", f"physics loss per window ({config.optimizer})")),
             "per_frame": str(plot_per_frame(phys_series, obs.fps, out / "plausibility.png"))}
    if config.overlay:
        if frames is not None:
            background = frames()
        elif video is not None:
            from phymo.pose import iter_frames

            first = int(obs.meta.get("frame_indices", [0])[0]) if obs.meta.get("frame_indices") else 0
            background = (f for _, f in iter_frames(video, first, None, 1))
        else:
            background = blank_frames(obs.camera, obs.num_frames)
        write_overlay_video(out / "overlay.mp4", background, rec.motion.positions(), obs.camera, rec.motion.skeleton,
                            obs.fps, contacts(rec.motion), tuple(rec.motion.skeleton.index(n) for n in FOOT_JOINTS))
        files["overlay"] = str(out / "overlay.mp4")
    windows = [{k: v for k, v in w.items() if k != "loss_history"} | {"iterations": len(w.get("loss_history", ()))}
               for w in rec.windows]
    return {"outputs": files, "plots": plots, "plausibility": {"physics": phys_summary, "kinematic": kin_summary},
            "windows": windows, "fallback_windows": sum(1 for w in rec.windows if w["fallback"])}
