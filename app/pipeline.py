"""The reconstruction pipeline: keypoints -> kinematic initialization -> physics -> outputs.

The keypoints are of one person (the most prominent, or ``--person``; :mod:`phymo.pose.video_detection`).
Only the frames in which that person is seen are reconstructed: leading and trailing frames without them
are left out, short gaps bridged, long gaps split the clip into segments reconstructed separately
(:mod:`phymo.pose.segments`; each gets its own kinematic fit and physics run, on the clip's one ground; a
segment whose body cannot be placed on it is left out and reported). Stage results are cached
under ``OUT/cache`` and physics caches each finished window, so a resumed run (``--resume``) recomputes
nothing finished (:mod:`phymo.app.stages`). The outputs appear in ``OUT`` only when all of them are
written; ``report.json`` records the people seen, the segments, timings, the resolved configuration and
plausibility metrics of the physics result beside the kinematic-only one.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from phymo.data import SCHEMA_VERSION, ConfigError, PhymoError, atomic_write_json, check_range
from phymo.optimizer import OptimizerConfig, resolve_device, window_solver
from phymo.physics import ReconstructConfig
from phymo.pose import FilterConfig, FitConfig

from .guesses import guesses
from .outputs import Segment, write_outputs
from .stages import OutputFolder, Stages, kinematic_initialization, load_or_detect_keypoints

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything ``phymo reconstruct`` needs besides its input and output paths; the command line's flags map
    one to one onto these fields and those of the nested configurations (:mod:`phymo.app.commands.options`).

    Attributes:
        start, end: the part of the video to reconstruct, seconds (end None: to the end).
        focal: focal length in pixels (None: from ``calibration`` or a field-of-view assumption).
        calibration: a camera calibration file (Pose2Sim/Sports2D TOML or Qualisys .qca.txt).
        camera: the calibration's camera to use (None: its first).
        detector: keypoint backend name in ``phymo.pose.DETECTORS``.
        smpl_model: a folder with the user's SMPL model files; when set, SMPL parameters are exported.
        person: whom to follow where several people are seen: a number (0 is the leftmost person in the
            first frame where several are seen) or a point ``"X,Y"`` in pixels; None: the most prominent.
        overlay: render ``overlay.mp4``.
        filter: the temporal filter of the keypoints; fit: the kinematic fit (with the person's height);
        optimizer: how the physics windows are optimized; physics: windowing, simulation and loss settings.
    """

    start: float = field(default=0.0, metadata={"help": "start time, seconds"})
    end: float | None = field(default=None, metadata={"help": "end time, seconds (default: end of video)"})
    focal: float | None = field(default=None, metadata={"help": "focal length, pixels"})
    calibration: str | None = field(default=None, metadata={
        "help": "camera calibration file (Pose2Sim/Sports2D TOML or Qualisys .qca.txt)"})
    camera: str | None = field(default=None, metadata={"help": "the calibration's camera to use (default: its first)"})
    detector: str = "mediapipe"
    smpl_model: str | None = field(default=None, metadata={
        "help": "folder with your SMPL model files: also export SMPL"})
    person: str | None = field(default=None, metadata={
        "help": "whom to follow where several people are seen: N (0 is the leftmost in the first frame where "
                "several are seen) or a point X,Y in pixels (default: the most prominent)"})
    overlay: bool = field(default=True, metadata={"help": "render overlay.mp4"})
    filter: FilterConfig = field(default_factory=FilterConfig)
    fit: FitConfig = field(default_factory=FitConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    physics: ReconstructConfig = field(default_factory=ReconstructConfig)

    def __post_init__(self) -> None:
        check_range("start", self.start, 0.0)
        if self.end is not None and self.end <= self.start:
            raise ConfigError("end", f"({self.end} s) must come after the start ({self.start} s)")
        if self.focal is not None:
            check_range("focal", self.focal, 0.0, strict_low=True, hint="pixels")
        if self.person is not None:
            from phymo.pose import PersonChoice

            PersonChoice.parse(self.person)


def run_pipeline(out: Path, config: PipelineConfig, video: Path | None = None, keypoints: Path | None = None,
                 resume: bool = False) -> dict:
    """Reconstruct one person's motion and write every output into ``out``; returns the report.

    Args:
        out: output folder (created).
        config: the pipeline settings.
        video: the input video (for detection, fps/size and the overlay background).
        keypoints: keypoints made elsewhere (any format ``phymo.pose.load_any`` reads); skips detection.
        resume: reuse cached stages and physics windows from an earlier run into ``out``.

    Raises:
        PhymoError: a user error; once a stage has started, the message names it and what ``--resume``
            would reuse. ``out`` then holds the cache of finished work and no outputs of this run.
    """
    if video is None and keypoints is None:
        raise PhymoError("give a video, or keypoints with --keypoints")
    device = resolve_device(config.optimizer.device)
    with OutputFolder(Path(out), resume) as folder:
        stages = Stages(folder.cache)
        kp = stages.run("keypoints", load_or_detect_keypoints, video, keypoints, config, folder.cache)
        plan, observations = stages.run("kinematic", _kinematic, kp, config, folder.cache)

        from phymo.physics import reconstruct

        solver = window_solver(config.optimizer, device)
        segments = [Segment(obs, stages.run("physics", reconstruct, obs, config.physics, solver,
                                            folder.cache / "physics")) for obs in observations]
        first = observations[0]
        report = {"schema_version": SCHEMA_VERSION,
                  "input": _input_report(kp, video, keypoints) | {
                      "guesses": guesses(first, first.meta.get("camera_source", ""))},
                  "coverage": _coverage(kp, plan), "config": {**dataclasses.asdict(config), "resolved_device": device}}
        overlay = None
        if config.overlay:
            step = int(np.diff(kp.frame_indices).min()) if kp.num_frames > 1 else 1
            overlay = functools.partial(_overlay_frames, video, kp.frame_indices, step)
        report |= stages.run("export", write_outputs, folder.staging, segments, solver.name, config.smpl_model,
                             overlay, kp.fps, (kp.width, kp.height))
        atomic_write_json(folder.staging / "config.json", {**dataclasses.asdict(config), "resolved_device": device,
                                                          "video": video, "keypoints": keypoints})
        seconds = dict(stages.seconds)
        seconds["total"] = round(sum(seconds.values()), 3)
        report["timings_s"] = seconds
        video_s = max(kp.num_frames / kp.fps, 1e-9)
        report["compute_s_per_video_s"] = seconds["total"] / video_s
        atomic_write_json(folder.staging / "report.json", report)
        report["files"] = folder.publish()
    return report


def _kinematic(kp, config: PipelineConfig, cache: Path):
    """The segments to reconstruct and the kinematic initialization of each (cached)."""
    from phymo.pose import MIN_SEGMENT_S, place_segments, plan_keypoints

    plan = plan_keypoints(kp)
    if not plan.segments:
        raise PhymoError(f"the person is seen only in runs shorter than {MIN_SEGMENT_S:g} s ({len(plan.dropped)} "
                         f"short runs in {kp.num_frames} frames); nothing to reconstruct")
    _log_plan(kp, plan)
    placement = place_segments(kp, plan.segments, lambda rows, ground: kinematic_initialization(
        kp.slice(*rows), config, cache, ground))
    reasons = {plan.segments[i]: why for i, why in placement.left_out.items()}
    for rows, why in reasons.items():
        log.warning("frames %s-%s are left out: the body cannot be placed %s", *_frames(kp, rows), why)
    if placement.ground is None:
        raise PhymoError("no segment of the clip could be placed on a ground (" + "; ".join(
            "frames {}-{}: {}".format(*_frames(kp, r), why) for r, why in reasons.items())
            + "); the ground is found under the person's feet: give a clip in which they are seen standing or walking")
    if len(plan.segments) > 1:
        log.info("the segments are placed on the clip's one ground: %s", placement.ground.method)
    return plan.leave_out(reasons), list(placement.placed.values())


def _frames(kp, rows: tuple[int, int]) -> list[int]:
    """Input frames ``[first, last]`` of rows ``[start, stop)``."""
    return [int(kp.frame_indices[rows[0]]), int(kp.frame_indices[rows[1] - 1])]


def _log_plan(kp, plan) -> None:
    if plan.leading or plan.trailing:
        log.info("the person is not seen in the first %d and the last %d of %d frames; those are left out",
                 plan.leading, plan.trailing, plan.num_rows)
    if len(plan.segments) > 1:
        log.warning("the person is out of sight for longer than a bridgeable gap %d times; the clip is reconstructed "
                    "as %d segments, frames %s", len(plan.split), len(plan.segments),
                    _ranges(kp, plan.segments))
    if plan.dropped:
        log.info("%d short runs of detections (frames %s) are left out", len(plan.dropped),
                 _ranges(kp, plan.dropped))


def _ranges(kp, rows: Iterable[tuple[int, int]]) -> str:
    return ", ".join("{}-{}".format(*_frames(kp, r)) for r in rows)


def _coverage(kp, plan) -> dict:
    """Which input frames were reconstructed, and why the others were not (``unplaced_segments``: segments whose
    body could not be placed on a ground, with the reason)."""
    return {"frames_examined": kp.num_frames, "frames_reconstructed": sum(b - a for a, b in plan.segments),
            "segments": [_frames(kp, s) for s in plan.segments], "left_out_leading": plan.leading,
            "left_out_trailing": plan.trailing, "bridged_gaps": [_frames(kp, g) for g in plan.bridged],
            "split_at_gaps": [_frames(kp, g) for g in plan.split],
            "dropped_runs": [_frames(kp, r) for r in plan.dropped],
            "unplaced_segments": [{"frames": _frames(kp, r), "reason": why} for r, why in plan.unplaced]}


def _input_report(kp, video: Path | None, keypoints: Path | None) -> dict:
    return {"video": video, "keypoints": keypoints, "fps": kp.fps, "frames": kp.num_frames, "width": kp.width,
            "height": kp.height, "detected_share": kp.detected_share, "people": kp.meta.get("people"),
            "frames_missing_at_end": kp.meta.get("missing_frames", 0)}


def _overlay_frames(video: Path | None, frame_indices: np.ndarray, step: int
                    ) -> Iterable[tuple[int, np.ndarray | None]]:
    """``(input frame index, RGB frame or None)`` over the examined frames, for the overlay."""
    first, last = int(frame_indices[0]), int(frame_indices[-1])
    if video is not None:
        from phymo.pose import iter_frames

        return iter_frames(video, first, last + 1, step)
    return ((i, None) for i in range(first, last + 1, step))
