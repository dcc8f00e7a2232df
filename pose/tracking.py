"""One person per video: main-subject selection among several detections, and gap filling.

Tracks are built greedily frame to frame by bounding-box overlap (IoU); the main subject is the track
with the largest sum over frames of its bounding-box height (so both size and persistence count).
"""

from __future__ import annotations

import logging

import numpy as np

log = logging.getLogger(__name__)


def _box(points: np.ndarray, conf: np.ndarray, min_conf: float = 0.05) -> np.ndarray | None:
    ok = conf > min_conf
    if ok.sum() < 2:
        return None
    p = points[ok]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def select_subject(people: list[list[tuple[np.ndarray, np.ndarray]]], num_keypoints: int, min_iou: float = 0.2,
                   max_lost: int = 10) -> tuple[np.ndarray, np.ndarray, dict]:
    """Follow every person through the frames and keep the main subject.

    Args:
        people: per frame, a list of ``(points (K, 2) pixels, confidence (K,))``, one per person.
        num_keypoints: ``K``.
        min_iou: a detection continues a track when its box overlaps the track's last box this much.
        max_lost: frames a track may go unseen before it is closed.

    Returns:
        ``points (T, K, 2)``, ``confidence (T, K)`` of the chosen track (zeros where it is absent) and a
        report ``{"num_tracks", "max_people_in_frame", "chosen_track", "chosen_share", "track_scores"}``.
    """
    t = len(people)
    tracks: list[dict] = []  # {"frames": {i: (points, conf)}, "box", "last", "score"}
    for i, dets in enumerate(people):
        boxes = [_box(p, c) for p, c in dets]
        live = [k for k, tr in enumerate(tracks) if i - tr["last"] <= max_lost]
        pairs = sorted(((_iou(tracks[k]["box"], b), k, d) for k in live for d, b in enumerate(boxes) if b is not None),
                       reverse=True)
        used_t, used_d = set(), set()
        for iou, k, d in pairs:
            if iou < min_iou or k in used_t or d in used_d:
                continue
            used_t.add(k)
            used_d.add(d)
            tr = tracks[k]
            tr["frames"][i], tr["box"], tr["last"] = dets[d], boxes[d], i
            tr["score"] += boxes[d][3] - boxes[d][1]
        for d, b in enumerate(boxes):
            if b is not None and d not in used_d:
                tracks.append({"frames": {i: dets[d]}, "box": b, "last": i, "score": b[3] - b[1]})
    points, conf = np.zeros((t, num_keypoints, 2)), np.zeros((t, num_keypoints))
    report = {"num_tracks": len(tracks), "max_people_in_frame": max((len(d) for d in people), default=0),
              "chosen_track": None, "chosen_share": 0.0, "track_scores": [float(tr["score"]) for tr in tracks]}
    if not tracks:
        return points, conf, report
    best = int(np.argmax(report["track_scores"]))
    for i, (p, c) in tracks[best]["frames"].items():
        points[i], conf[i] = p, c
    report["chosen_track"] = best
    report["chosen_share"] = len(tracks[best]["frames"]) / t
    if len(tracks) > 1:
        log.info("%d people tracked (up to %d in one frame); keeping track %d as the main subject "
                 "(largest and most persistent, present in %.0f%% of frames)", len(tracks),
                 report["max_people_in_frame"], best, 100 * report["chosen_share"])
    return points, conf, report


def fill_gaps(points: np.ndarray, confidence: np.ndarray, max_gap: int = 5, confidence_factor: float = 0.5
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linearly interpolate each keypoint over gaps of at most ``max_gap`` frames.

    Args:
        points: ``(T, K, D)`` values (pixels or metres); gaps are where ``confidence == 0``.
        confidence: ``(T, K)``.
        max_gap: longest gap (frames) that is filled; longer gaps and the ends stay empty.
        confidence_factor: filled points get this share of the lower confidence at the gap's two ends.

    Returns:
        filled ``points``, ``confidence``, and a ``(T, K)`` bool mask of the filled entries.
    """
    points, confidence = np.array(points, dtype=np.float64), np.array(confidence, dtype=np.float64)
    filled = np.zeros(confidence.shape, dtype=bool)
    for k in range(confidence.shape[1]):
        seen = np.flatnonzero(confidence[:, k] > 0)
        for a, b in zip(seen[:-1], seen[1:], strict=True):
            if 1 < b - a <= max_gap + 1:
                w = (np.arange(a + 1, b) - a) / (b - a)
                points[a + 1:b, k] = (1 - w)[:, None] * points[a, k] + w[:, None] * points[b, k]
                confidence[a + 1:b, k] = confidence_factor * min(confidence[a, k], confidence[b, k])
                filled[a + 1:b, k] = True
    return points, confidence, filled
