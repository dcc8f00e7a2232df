"""What a run writes: the motion files of each segment, plausibility numbers and plots, the overlay video.

A clip reconstructs as one or more segments (runs of frames in which the person is seen,
:mod:`phymo.pose.segments`), each with its own kinematic fit, camera and physics result. One segment
writes ``motion.bvh/.npz/.json`` and ``kinematic.*``; several write ``motion_1.*``, ``motion_2.*``, ...
(a BVH holds one unbroken clip; ``frame_index`` in each NPZ/JSON says which input frames it covers).
The overlay and the plots cover the whole clip.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.data import (
    FOOT_CONTACT,
    FOOT_JOINTS,
    Motion,
    Observations,
    metrics,
    motion_arrays,
    save_json,
    save_npz,
    write_bvh,
)
from phymo.physics import Reconstruction, WindowResult, WindowStatus

from .render.overlay import OverlayBody, write_overlay_video
from .render.plots import SegmentSeries, WindowTrace, loss_figure, plausibility_figure, save
from .render.side_view import panel_width


@dataclass
class Segment:
    """One reconstructed segment: its observations (with the kinematic estimate) and physics result."""

    obs: Observations
    rec: Reconstruction

    @property
    def frame_index(self) -> np.ndarray:
        """``(T,)`` input frame of each row."""
        return np.asarray(self.obs.meta["frame_indices"], dtype=np.int64)


def contacts(motion: Motion) -> np.ndarray:
    """``(T, 4)`` booleans: each foot joint (FOOT_JOINTS order) in contact (:data:`FOOT_CONTACT`)."""
    feet = [motion.skeleton.index(n) for n in FOOT_JOINTS]
    return FOOT_CONTACT.in_contact(motion.positions()[:, feet], FOOT_JOINTS)


def plausibility(motion: Motion, seg: Segment, residual: bool) -> tuple[dict, dict[str, np.ndarray]]:
    """The :func:`phymo.data.metrics.plausibility` of a motion of segment ``seg`` (its body's standing heights;
    with ``residual`` its residual force against the body weight), with ``reprojection_px`` (the mean distance of
    its projected joints from the keypoints it was made from, :func:`phymo.data.metrics.reprojection_error_px`),
    and the per-frame series plotted."""
    pos, names, rec = motion.positions(), motion.skeleton.names, seg.rec
    summary = metrics.plausibility(pos, motion.fps, names, standing_heights=rec.standing_heights,
                                   residual_force=rec.residual_force if residual else None,
                                   body_weight_n=rec.body_weight_n)
    series = metrics.plausibility_per_frame(pos, motion.fps, names, standing_heights=rec.standing_heights)
    reprojection = metrics.reprojection_error_px(seg.obs.camera.project(pos), seg.obs.keypoints_2d, seg.obs.confidence)
    return dataclasses.asdict(summary) | {"reprojection_px": reprojection}, series


def combine(summaries: Sequence[dict], frames: Sequence[int]) -> dict:
    """Segment summaries as one: frame-weighted means, maxima for ``*_max_*`` and ``*_p95*`` (None where all
    are None); one segment's summary is returned as it is."""
    if len(summaries) == 1:
        return dict(summaries[0])
    out = {}
    for key in summaries[0]:
        values = [(s[key], n) for s, n in zip(summaries, frames, strict=True) if s[key] is not None]
        if not values:
            out[key] = None
        elif "_max_" in key or "_p95" in key:
            out[key] = max(v for v, _ in values)
        else:
            out[key] = float(sum(v * n for v, n in values) / sum(n for _, n in values))
    return out


def export_motion(folder: Path, stem: str, motion: Motion, obs: Observations, extras: dict | None = None) -> dict:
    """``STEM.bvh``, ``STEM.npz`` and ``STEM.json`` for one motion; returns their file names."""
    arrays = motion_arrays(motion, obs.camera, {
        "contacts": contacts(motion), "contact_joints": np.array(FOOT_JOINTS),
        "keypoints_2d": obs.keypoints_2d, "keypoint_confidence": obs.confidence, **(extras or {})},
        frame_index=np.asarray(obs.meta["frame_indices"]))
    write_bvh(folder / f"{stem}.bvh", motion)
    save_npz(folder / f"{stem}.npz", arrays)
    save_json(folder / f"{stem}.json", arrays, meta={"source": obs.meta.get("source")})
    return {k: f"{stem}.{k}" for k in ("bvh", "npz", "json")}


def _window_traces(segments: Sequence[Segment]) -> list[WindowTrace]:
    traces = []
    for s in segments:
        fi = s.frame_index
        for w in s.rec.windows:
            fallback = w.reason if w.status is WindowStatus.FELL_BACK else ""
            traces.append(WindowTrace(int(fi[w.start]), int(fi[w.stop - 1]) + 1, int(fi[w.start]),
                                      int(fi[w.used_to - 1]) + 1, fallback, [t.loss for t in w.trace]))
    return traces


def window_counts(statuses: Iterable[WindowStatus | str]) -> dict[WindowStatus, int]:
    """Windows per outcome, every :class:`~phymo.physics.WindowStatus` listed (0 included); a status may come as
    its value, as ``report.json`` stores it."""
    counted = Counter(WindowStatus(s) for s in statuses)
    return {s: counted[s] for s in WindowStatus}


def window_count_fields(statuses: Iterable[WindowStatus | str]) -> dict[str, int]:
    """:func:`window_counts` as record fields named ``<status>_windows`` (``optimized_windows``,
    ``resolved_windows``, ``fell_back_windows``): every report counts every outcome, a new one included."""
    return {f"{s.name.lower()}_windows": n for s, n in window_counts(statuses).items()}


def window_report(w: WindowResult, segment: int) -> dict:
    """A window's entry in ``report.json``: frames solved and used, what became of it and why (``failures``: each
    failed attempt's kind and detail), its loss, the optimizer steps and loss-and-gradient evaluations spent on the
    attempt kept, and its mean residual root force over the body weight (0 unless assisted)."""
    return {"segment": segment, "start": w.start, "stop": w.stop, "used_to": w.used_to, "status": w.status.value,
            "reason": w.reason, "failures": [{"kind": f.value, "detail": d} for f, d in w.failures], "loss": w.loss,
            "steps": w.steps, "evaluations": len(w.trace), "residual_share": w.residual_share, "cached": w.cached}


def write_segment(folder: Path, k: int, count: int, seg: Segment, smpl_model: str | None) -> dict:
    """The motion files of segment ``k`` (of ``count``) and its plausibility; returns its report entry."""
    rec, obs = seg.rec, seg.obs
    suffix = "" if count == 1 else f"_{k + 1}"
    extras = {"qpos": rec.qpos, "qvel": rec.qvel, "torques": rec.torques,
              "actuator_names": np.array(rec.actuator_names), "residual_force": rec.residual_force}
    files = {"physics": export_motion(folder, f"motion{suffix}", rec.motion, obs, extras),
             "kinematic": export_motion(folder, f"kinematic{suffix}", obs.kinematic, obs)}
    seams = [w.start for w in rec.windows[1:]]
    entry = {"input_frames": [int(seg.frame_index[0]), int(seg.frame_index[-1])], "frames": obs.num_frames,
             "files": files, "kinematic_reprojection_px": obs.meta.get("kinematic_reprojection_px"),
             "camera": obs.meta.get("camera_source"), "prior": obs.meta.get("prior"),
             **window_count_fields(w.status for w in rec.windows),
             "seam_jump": dataclasses.asdict(metrics.seam_jump(rec.qpos[:, 3:7], seams))}
    if smpl_model is not None:
        from phymo.data.smpl import fit_smpl, smpl_arrays

        fit = fit_smpl(rec.motion, smpl_model)
        npz = folder / files["physics"]["npz"]
        save_npz(npz, dict(np.load(npz, allow_pickle=False)) | smpl_arrays(fit))
        entry["smpl_fit_mpjpe_mm"] = fit.mpjpe_m * 1000
    return entry


def write_outputs(folder: Path, segments: Sequence[Segment], optimizer: str, smpl_model: str | None,
                  overlay: Callable[[], Iterable[tuple[int, np.ndarray | None]]] | None, fps: float,
                  size: tuple[int, int]) -> dict:
    """Every output of the segments into ``folder``; returns the report's ``segments``, ``plausibility``, ``windows``,
    their counts per outcome (:func:`window_count_fields`) and ``plots``. ``overlay()`` yields ``(input frame index,
    RGB frame)`` for the overlay video (None: no overlay)."""
    entries = [write_segment(folder, k, len(segments), s, smpl_model) for k, s in enumerate(segments)]
    summaries = {"physics": [], "kinematic": []}
    series = []
    for s in segments:
        phys, phys_series = plausibility(s.rec.motion, s, residual=True)
        kin, kin_series = plausibility(s.obs.kinematic, s, residual=False)
        summaries["physics"].append(phys)
        summaries["kinematic"].append(kin)
        if np.nanmax(np.abs(s.rec.residual_force), initial=0.0) > 0:
            phys_series["residual force (N)"] = s.rec.residual_force
        series.append(SegmentSeries(s.frame_index, kin_series, phys_series))
    frames = [s.obs.num_frames for s in segments]
    traces = _window_traces(segments)
    plots = {"loss": save(loss_figure(traces, f"physics loss per window ({optimizer})"), folder / "loss.png").name,
             "per_frame": save(plausibility_figure(series, traces, fps), folder / "plausibility.png").name}
    if overlay is not None:
        bodies = [OverlayBody(s.frame_index, s.rec.motion.positions(), s.obs.camera, s.rec.motion.skeleton,
                              contacts(s.rec.motion), tuple(s.rec.motion.skeleton.index(n) for n in FOOT_JOINTS),
                              s.obs.kinematic.positions(), contacts(s.obs.kinematic))
                  for s in segments]
        write_overlay_video(folder / "overlay.mp4", overlay(), bodies, fps, *size, side_width=panel_width(*size))
    windows = [window_report(w, k) for k, s in enumerate(segments) for w in s.rec.windows]
    return {"segments": entries, "plots": plots, "windows": windows,
            **window_count_fields(w["status"] for w in windows),
            "plausibility": {kind: combine(v, frames) for kind, v in summaries.items()}}
