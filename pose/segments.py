"""Which frames to reconstruct: the runs of frames in which the person is seen.

Leading and trailing frames without the person are left out; a gap inside of at most ``max_gap`` frames
is bridged (the keypoints are interpolated across it, :func:`phymo.pose.person.fill_gaps`); a longer
gap splits the clip into segments that are reconstructed separately. A run shorter than ``min_frames``
is dropped as a passing false detection. Nothing is reconstructed where the person was not seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from phymo.data import runs_of_true

from .keypoints import Keypoints2D

#: longest gap bridged, seconds (the kinematic initialization interpolates keypoints over gaps this long)
MAX_GAP_S = 0.2
#: shortest run reconstructed, seconds (and at least 3 frames, what the jitter and smoothness terms need)
MIN_SEGMENT_S = 0.2


@dataclass(frozen=True)
class SegmentPlan:
    """Row ranges ``(start, stop)`` (``stop`` exclusive) of a sequence of ``num_rows`` frames.

    Attributes:
        segments: the runs to reconstruct, in order.
        leading, trailing: rows without the person before the first and after the last run seen.
        bridged: inner gaps short enough to bridge (inside a segment).
        split: gaps between segments (a dropped run may lie inside one).
        dropped: runs seen (joined across short gaps) but shorter than the minimum, left out.
    """

    num_rows: int
    segments: tuple[tuple[int, int], ...]
    leading: int
    trailing: int
    bridged: tuple[tuple[int, int], ...]
    split: tuple[tuple[int, int], ...]
    dropped: tuple[tuple[int, int], ...]


def plan_segments(seen: np.ndarray, max_gap: int, min_frames: int) -> SegmentPlan:
    """Segments of the rows where ``seen (T,)`` is true: runs joined across gaps of at most ``max_gap``
    rows, then those shorter than ``min_frames`` rows dropped."""
    seen = np.asarray(seen, dtype=bool)
    joined, gaps = [], []
    for a, b in runs_of_true(seen):
        if joined and a - joined[-1][1] <= max_gap:
            gaps.append((joined[-1][1], a))
            joined[-1] = (joined[-1][0], b)
        else:
            joined.append((a, b))
    segments = [r for r in joined if r[1] - r[0] >= min_frames]
    dropped = [r for r in joined if r[1] - r[0] < min_frames]
    bridged = [g for g in gaps if any(a <= g[0] and g[1] <= b for a, b in segments)]
    split = [(x[1], y[0]) for x, y in zip(segments[:-1], segments[1:], strict=True)]
    t = len(seen)
    return SegmentPlan(t, tuple(segments), segments[0][0] if segments else t, t - segments[-1][1] if segments else 0,
                       tuple(bridged), tuple(split), tuple(dropped))


def plan_keypoints(kp: Keypoints2D) -> SegmentPlan:
    """:func:`plan_segments` of the frames where ``kp`` detected the person, with the thresholds above."""
    return plan_segments(kp.detected, int(round(MAX_GAP_S * kp.fps)), max(3, int(round(MIN_SEGMENT_S * kp.fps))))
