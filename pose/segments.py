"""Which frames to reconstruct: the runs of frames in which the person is seen.

Leading and trailing frames without the person are left out; a gap inside of at most ``max_gap`` frames
is bridged (the keypoints are interpolated across it, :func:`phymo.pose.person.fill_gaps`); a longer
gap splits the clip into segments that are reconstructed separately. A run shorter than ``min_frames``
is dropped as a passing false detection. Nothing is reconstructed where the person was not seen.

The camera is static over a clip, so its segments share one ground (:func:`place_segments`): estimated under
the segment that saw the feet best, and inherited by the others, whose own estimates can be wrong where the
legs are hidden. A segment whose body does not stand on that ground is left out rather than exported wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from phymo.data import CANONICAL, Observations, runs_of_true

from .ground import Ground, feet_seen, placement_problem
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
        unplaced: segments left out because their body could not be placed on a ground, each with the reason.
    """

    num_rows: int
    segments: tuple[tuple[int, int], ...]
    leading: int
    trailing: int
    bridged: tuple[tuple[int, int], ...]
    split: tuple[tuple[int, int], ...]
    dropped: tuple[tuple[int, int], ...]
    unplaced: tuple[tuple[tuple[int, int], str], ...] = ()

    def leave_out(self, reasons: Mapping[tuple[int, int], str]) -> SegmentPlan:
        """This plan with the segments in ``reasons`` moved to :attr:`unplaced`, with their reasons."""
        return dataclasses.replace(self, segments=tuple(s for s in self.segments if s not in reasons),
                                   unplaced=tuple(sorted((*self.unplaced, *reasons.items()))))


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


@dataclass(frozen=True)
class Placement:
    """The segments' kinematic fits on the clip's one ground (:func:`place_segments`).

    Attributes:
        ground: the clip's ground (camera frame), None when no segment could be placed.
        source: the index of the segment it was estimated under, None with it.
        placed: observations (world frame on ``ground``) by segment index.
        left_out: why the body could not be placed, by segment index.
    """

    ground: Ground | None
    source: int | None
    placed: dict[int, Observations]
    left_out: dict[int, str]


def _problem(obs: Observations) -> str | None:
    return placement_problem(obs.kinematic.positions(), obs.kinematic.skeleton)


def place_segments(kp: Keypoints2D, segments: tuple[tuple[int, int], ...],
                   fit: Callable[[tuple[int, int], Ground | None], Observations]) -> Placement:
    """The kinematic fits of ``segments`` (rows of ``kp``) on one ground.

    The segments are tried in order of the frames in which both feet were seen
    (:func:`~phymo.pose.ground.feet_seen`), then of length: each is fitted on a ground estimated under its own
    body (``fit(rows, None)``) until one stands on it (:func:`~phymo.pose.ground.placement_problem`). That
    ground is the clip's; every other segment is fitted on it (``fit(rows, ground)``) and left out, with the
    reason, when its body does not stand on it. When no segment stands on its own estimate, all are left out.
    """
    seen = feet_seen(kp.to_canonical()[1], CANONICAL)
    order = sorted(range(len(segments)), key=lambda i: (-int(seen[slice(*segments[i])].sum()),
                                                        segments[i][0] - segments[i][1], i))
    own: dict[int, str] = {}
    for source in order:
        obs = fit(segments[source], None)
        if (problem := _problem(obs)) is None:
            break
        own[source] = f"on a ground estimated under it, {problem}"
    else:
        return Placement(None, None, {}, own)
    a, b = segments[source]
    ground = Ground.of_camera(obs.camera, f"{obs.meta['kinematic_fit']['ground']['method']} under frames "
                                          f"{kp.frame_indices[a]}-{kp.frame_indices[b - 1]}")
    placed, left_out = {source: obs}, {}
    for i in (i for i in order if i != source):
        obs = fit(segments[i], ground)
        if (problem := _problem(obs)) is None:
            placed[i] = obs
        else:
            left_out[i] = f"on the clip's ground ({ground.method}), {problem}"
    return Placement(ground, source, dict(sorted(placed.items())), left_out)
