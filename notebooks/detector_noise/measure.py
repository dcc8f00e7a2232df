"""2D error profile of the keypoint detectors against multi-view truth: what detector noise to simulate when a
2D->3D lifter is trained on mocap. Not product code.

    .venv/bin/python notebooks/detector_noise/measure.py --json /tmp/detector_noise.json

Truth is Pose2Sim's shared balancing trial (``phymo.app.evaluation.multiview``): the Butterworth-filtered
triangulated markers as canonical joints, projected through each view's Qualisys calibration (lens
distortion ignored, as everywhere in phymo). Detectors: MediaPipe on cam01.mp4 (the only video kept; cached
under /tmp) and the trial's own OpenPose BODY_25B JSON of all four views. The markers were triangulated from
those same OpenPose detections, so OpenPose's numbers are the residual of four-view consistency, a lower bound
on its error; MediaPipe is measured against an independent truth, but one whose hips are OpenPose's.

Errors are in units of the person's box height (the box of the projected true joints, per frame). Per joint:
bias (mean error vector over the clip), scatter (1.4826 * MAD per image axis of what remains), lag-1
autocorrelation of that scatter (at the clip's 60 fps, outlier frames left out), outlier rate and size,
missing rate, left/right swap rate; per detector, median error by confidence bin. The canonical head is a
point inside the skull that the detectors' nose only approximates: ``head`` compares the nose with the head
centre (0.4 of the way from the neck marker to the head-top marker, as in the canonical rest pose), ``nose``
with the triangulated nose marker; the first is the approximation's bias, the second the detector's noise.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from phymo.app.evaluation.multiview import find_trial, marker_truth
from phymo.data import CANONICAL, data_root, get_mapping, read_trc, trc_to_lab
from phymo.pose import Keypoints2D, detect_video, load_keypoints, load_openpose, probe_video, read_calibration

#: an error above this many box heights is an outlier (about 17 cm on a 1.7 m person)
OUTLIER = 0.1
#: a keypoint below this confidence counts as missing
MIN_CONFIDENCE = 0.2
#: a frame is a left/right swap when swapping the pair removes more than this share of the pair's error
SWAP_GAIN = 0.5
#: confidence bins for the confidence-error relation (the last edge above 1 keeps confidence 1)
CONFIDENCE_EDGES = (0.0, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 1.001)
#: the canonical head's share of the way from the neck to the head top (0.10 m of 0.25 m in the rest pose)
HEAD_SHARE = 0.10 / 0.25
GROUPS = {"head": ("head",), "nose": ("nose",), "neck": ("neck",), "head_top": ("head_top",),
          **{g: (f"left_{j}", f"right_{j}") for g, j in (("shoulders", "shoulder"), ("elbows", "elbow"),
                                                          ("wrists", "wrist"), ("hips", "hip"), ("knees", "knee"),
                                                          ("ankles", "ankle"), ("toes", "toe"))}}
CACHE = Path("/tmp/phymo_detector_noise")


def view_truth(trial, camera: str, width: int, height: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Projected truth per joint label, ``(T, 2)`` pixels (NaN where unmeasured), and the box height ``(T,)`` px."""
    truth = marker_truth(trial.markers, trial.calibration, camera, width, height)
    pos = truth.positions.copy()
    neck, top = pos[:, CANONICAL.index("neck")], pos[:, CANONICAL.index("head_top")]
    pos[:, CANONICAL.index("head")] = neck + HEAD_SHARE * (top - neck)
    uv = truth.camera.project(pos)
    box = uv[:, [j for j in truth.joints if j != 0], 1]  # the measured joints (pelvis is the hips' midpoint)
    labels = {name: uv[:, j] for j, name in enumerate(CANONICAL.names)}
    labels["nose"] = truth.camera.project(trc_to_lab(read_trc(trial.markers).marker("Nose")))
    return labels, np.nanmax(box, axis=1) - np.nanmin(box, axis=1)


def detector_points(kp: Keypoints2D) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The labels a detector reports (its nose twice: as ``head`` and ``nose``), ``(T, L, 2)`` px, ``(T, L)``."""
    pts, conf, _ = kp.to_canonical()
    conf = conf * kp.detected[:, None]
    names = [CANONICAL.names[j] for j in sorted(get_mapping(kp.joint_set).canonical_indices())]
    idx = [CANONICAL.index(n) for n in names] + [CANONICAL.index("head")]
    return names + ["nose"], pts[:, idx], conf[:, idx]


def _mad_sigma(x: np.ndarray) -> float:
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) else float("nan")


def _lag1(r: np.ndarray, ok: np.ndarray) -> float:
    """Lag-1 autocorrelation of ``r (T,)`` over consecutive pairs where ``ok`` holds at both frames."""
    pair = ok[:-1] & ok[1:]
    if pair.sum() < 5:
        return float("nan")
    r = r - r[ok].mean()
    a, b = r[:-1][pair], r[1:][pair]
    return float(np.sum(a * b) / np.sqrt(np.sum(a * a) * np.sum(b * b)))


def joint_stats(err: np.ndarray, valid: np.ndarray, present: np.ndarray) -> dict:
    """Profile of one joint from its error ``(T, 2)`` in box heights, ``valid (T,)`` and truth ``present (T,)``.

    The bias is the mean error over the frames within :data:`OUTLIER` of the median error vector, so that a
    few wild frames (6 of cam01's OpenPose noses sit 0.65 box heights off) do not pass for a constant offset.
    ``jitter`` is the frame-to-frame part: the robust std of the error's first difference over sqrt(2).
    """
    stats = {"frames": int(present.sum()), "valid": int(valid.sum()),
             "missing_rate": float(1 - valid.sum() / max(present.sum(), 1))}
    if valid.sum() < 2:
        return stats | {"median_error": None, "bias": [None, None], "bias_mag": None, "sigma_xy": [None, None],
                        "sigma": None, "jitter": None, "lag1": None, "outlier_rate": None, "outlier_median": None}
    e = err[valid]
    mag = np.linalg.norm(e, axis=1)
    close = np.linalg.norm(e - np.median(e, axis=0), axis=1) <= OUTLIER
    bias = e[close].mean(axis=0)
    sx, sy = _mad_sigma(e[:, 0] - bias[0]), _mad_sigma(e[:, 1] - bias[1])
    inlier = valid & (np.linalg.norm(np.where(valid[:, None], err - bias, np.inf), axis=1) <= OUTLIER)
    step = np.diff(err, axis=0)[inlier[:-1] & inlier[1:]]
    jitter = np.sqrt(np.mean([_mad_sigma(step[:, a]) ** 2 for a in (0, 1)]) / 2)
    out = mag > OUTLIER
    return stats | {"median_error": float(np.median(mag)), "bias": bias.tolist(),
                    "bias_mag": float(np.linalg.norm(bias)), "sigma_xy": [sx, sy],
                    "sigma": float(np.sqrt((sx ** 2 + sy ** 2) / 2)), "jitter": float(jitter),
                    "lag1": float(np.nanmean([_lag1(err[:, a] - bias[a], inlier) for a in (0, 1)])),
                    "outlier_rate": float(out.mean()),
                    "outlier_median": float(np.median(mag[out])) if out.any() else None}


def profile(kp: Keypoints2D, truth: dict[str, np.ndarray], box_h: np.ndarray) -> dict:
    """Every statistic of one detector on one view (see the module docstring)."""
    names, pts, conf = detector_points(kp)
    rows = kp.frame_indices  # truth row f is video frame f
    true, box_h = np.stack([truth[n][rows] for n in names], axis=1), box_h[rows]
    err = (pts - true) / box_h[:, None, None]
    present = np.isfinite(err).all(-1)
    conf = np.where((pts == 0).any(-1), 0.0, conf)  # a coordinate of exactly 0 is a file artefact, not a detection
    valid = present & (conf >= MIN_CONFIDENCE)
    joints = {n: joint_stats(err[:, i], valid[:, i], present[:, i]) for i, n in enumerate(names)}
    swaps = {}
    for i, n in enumerate(names):
        if n.startswith("left_") and (r := "right_" + n[5:]) in names:
            k = names.index(r)
            both = valid[:, i] & valid[:, k]
            d = lambda a, b: np.linalg.norm(pts[:, a] - true[:, b], axis=-1)  # noqa: E731
            swapped = d(i, k) + d(k, i) < SWAP_GAIN * (d(i, i) + d(k, k))
            swaps[n[5:]] = {"frames": int(both.sum()), "rate": float(swapped[both].mean()) if both.any() else None}
    seen = present & (conf > 0) & np.isfinite(pts).all(-1)
    mag, c = np.linalg.norm(err, axis=-1)[seen], conf[seen]
    bins = []
    for lo, hi in zip(CONFIDENCE_EDGES[:-1], CONFIDENCE_EDGES[1:], strict=True):
        m = (c >= lo) & (c < hi)
        bins.append({"confidence": [lo, min(hi, 1.0)], "count": int(m.sum()),
                     "median_error": float(np.median(mag[m])) if m.any() else None,
                     "outlier_rate": float((mag[m] > OUTLIER).mean()) if m.any() else None})
    rho = float(np.corrcoef(c, mag)[0, 1]) if c.std() > 0 else None
    return {"frames": int(len(box_h)), "box_height_px": float(np.nanmedian(box_h)), "joints": joints,
            "swaps": swaps, "confidence_bins": bins, "confidence_error_corr": rho,
            "approximate": sorted(set(get_mapping(kp.joint_set).approximate) & set(names))}


def mediapipe_keypoints(video: Path, refresh: bool) -> Keypoints2D:
    """MediaPipe on the video, cached under :data:`CACHE` (about 5 s on two cores, but not worth repeating)."""
    path = CACHE / f"{video.stem}_mediapipe.npz"
    if path.is_file() and not refresh:
        return load_keypoints(path)
    return load_keypoints(detect_video(video).save(path))


def _agg(values, how=np.median) -> float | None:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(how(values)) if values else None


def group_summary(sources: dict[str, list[dict]]) -> dict:
    """Per detector and joint group: medians over (view, joint) of sigma, jitter, bias and lag-1; mean rates."""
    out = {}
    for det, views in sources.items():
        out[det] = {}
        for g, members in GROUPS.items():
            rows = [v["joints"][n] for v in views for n in members if n in v["joints"]]
            if not rows:
                continue
            pair = members[0][5:] if len(members) == 2 else None
            out[det][g] = {**{k: _agg(r[k] for r in rows) for k in ("sigma", "jitter", "bias_mag", "lag1")},
                           "outlier_rate": _agg((r["outlier_rate"] for r in rows), np.mean),
                           "outlier_median": _agg(r["outlier_median"] for r in rows),
                           "missing_rate": _agg((r["missing_rate"] for r in rows), np.mean),
                           "swap_rate": _agg((v["swaps"][pair]["rate"] for v in views if pair in v["swaps"]), np.mean)}
    return out


def _f(x, scale: float = 1.0, digits: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x * scale:.{digits}f}"


def format_view(name: str, p: dict) -> str:
    lines = [f"\n{name}: {p['frames']} frames, median box height {p['box_height_px']:.0f} px, "
             f"confidence-error correlation {_f(p['confidence_error_corr'], digits=2)}; approximate: "
             f"{', '.join(p['approximate'])}",
             f"{'joint':15s} {'valid':>5s} {'miss%':>6s} {'med|e|':>7s} {'bias':>6s} {'bias_x':>7s} {'bias_y':>7s} "
             f"{'sig_x':>6s} {'sig_y':>6s} {'jitter':>6s} {'lag1':>5s} {'out%':>5s} {'out_med':>7s}"]
    for n, s in p["joints"].items():
        lines.append(f"{n:15s} {s['valid']:5d} {_f(s['missing_rate'], 100, 1):>6s} {_f(s['median_error']):>7s} "
                     f"{_f(s['bias_mag']):>6s} {_f(s['bias'][0]):>7s} {_f(s['bias'][1]):>7s} "
                     f"{_f(s['sigma_xy'][0]):>6s} {_f(s['sigma_xy'][1]):>6s} {_f(s['jitter']):>6s} "
                     f"{_f(s['lag1'], digits=2):>5s} "
                     f"{_f(s['outlier_rate'], 100, 1):>5s} {_f(s['outlier_median']):>7s}")
    lines.append("swap %: " + ", ".join(f"{k} {_f(v['rate'], 100, 1)}" for k, v in p["swaps"].items()))
    lines.append("confidence bin -> median |e| (count, out%): " + "; ".join(
        f"[{b['confidence'][0]:.2f},{b['confidence'][1]:.2f}) {_f(b['median_error'])} ({b['count']}, "
        f"{_f(b['outlier_rate'], 100, 0)})" for b in p["confidence_bins"] if b["count"]))
    return "\n".join(lines)


def format_groups(summary: dict) -> str:
    lines = [f"\n{'detector':10s} {'group':10s} {'sigma':>6s} {'jitter':>6s} {'bias':>6s} {'lag1':>5s} {'out%':>5s} "
             f"{'out_med':>7s} {'miss%':>6s} {'swap%':>6s}"]
    for det, groups in summary.items():
        for g, s in groups.items():
            lines.append(f"{det:10s} {g:10s} {_f(s['sigma']):>6s} {_f(s['jitter']):>6s} {_f(s['bias_mag']):>6s} "
                         f"{_f(s['lag1'], digits=2):>5s} "
                         f"{_f(s['outlier_rate'], 100, 1):>5s} {_f(s['outlier_median']):>7s} "
                         f"{_f(s['missing_rate'], 100, 1):>6s} {_f(s['swap_rate'], 100, 1):>6s}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trial", type=Path, default=data_root() / "pose2sim" / "balancing_trial")
    ap.add_argument("--json", type=Path, help="write the whole profile here")
    ap.add_argument("--refresh", action="store_true", help="run MediaPipe again instead of reading its cache")
    args = ap.parse_args()
    trial = find_trial(args.trial)
    views = {}
    for cam, video in trial.videos.items():
        info = probe_video(video)
        truth, box_h = view_truth(trial, cam, info.width, info.height)
        views[f"mediapipe/{cam}"] = profile(mediapipe_keypoints(video, args.refresh), truth, box_h)
    for cam, c in read_calibration(trial.calibration).items():
        folder = args.trial / "pose_openpose_body25b" / f"{cam}_json"
        if folder.is_dir():
            truth, box_h = view_truth(trial, cam, c.width, c.height)
            kp = load_openpose(folder, float(read_trc(trial.markers).fps), c.width, c.height, model="body25b")
            views[f"openpose/{cam}"] = profile(kp, truth, box_h)
    for name, p in views.items():
        print(format_view(name, p))
    by_detector: dict[str, list[dict]] = {}
    for name, p in views.items():
        by_detector.setdefault(name.split("/")[0], []).append(p)
    summary = group_summary(by_detector)
    print("\nper joint group (medians over views and joints; box-height units; rates in %)" + format_groups(summary))
    if args.json:
        config = {"trial": str(args.trial), "markers": str(trial.markers), "calibration": str(trial.calibration),
                  "outlier": OUTLIER, "min_confidence": MIN_CONFIDENCE, "swap_gain": SWAP_GAIN,
                  "head_share": HEAD_SHARE, "confidence_edges": CONFIDENCE_EDGES}
        args.json.write_text(json.dumps({"config": config, "views": views, "groups": summary}, indent=1))
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
