"""Which person: boxes around detected people, their tracks through a clip, the choice of one, gap filling.

A person in one frame is the box ``(x0, y0, x1, y1)`` (pixels) around their confident keypoints. Tracks
link boxes from frame to frame by overlap (IoU). The person followed is the user's choice
(:class:`PersonChoice`: a number in the first frame where several people are seen, counted from the
left from 0, or a point in the image), or else the most prominent: the largest and most central over
the clip (:func:`prominence`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from phymo.data import ConfigError, PhymoError

log = logging.getLogger(__name__)

#: a track seen in fewer frames than this is a passing false detection, not a person (unless it is alone)
MIN_TRACK_FRAMES = 2


def keypoint_box(points: np.ndarray, confidence: np.ndarray, min_confidence: float = 0.05) -> np.ndarray | None:
    """``(4,)`` box ``x0, y0, x1, y1`` (pixels) around the keypoints ``(K, 2)`` with confidence above the
    threshold; None with fewer than 2 such keypoints."""
    ok = confidence > min_confidence
    if ok.sum() < 2:
        return None
    p = points[ok]
    return np.array([p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()], dtype=np.float64)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boxes."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def covered(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the smaller of the two boxes that lies inside the other (1: one contains the other)."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(w * h / smaller) if smaller > 0 else 0.0


def enlarge(box: np.ndarray, margin: float, head_room: float = 0.0) -> np.ndarray:
    """The box grown by ``margin`` of its size on every side, and by ``head_room`` more at the top."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] - margin * w, box[1] - (margin + head_room) * h, box[2] + margin * w,
                     box[3] + margin * h])


@dataclass
class Track:
    """One person through the clip: their box in the frames (rows) where they were seen, and which
    detection of that frame's list it was."""

    boxes: dict[int, np.ndarray] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)

    def box_at(self, row: int, reach: int) -> np.ndarray | None:
        """The box at ``row``: as seen there, else interpolated between sightings at most ``2 reach`` rows
        apart, else the nearest sighting within ``reach`` rows; None when the person is not near."""
        if row in self.boxes:
            return self.boxes[row]
        before = max((r for r in self.boxes if r < row), default=None)
        after = min((r for r in self.boxes if r > row), default=None)
        if before is not None and after is not None and after - before <= 2 * reach:
            w = (row - before) / (after - before)
            return (1 - w) * self.boxes[before] + w * self.boxes[after]
        near = [r for r in (before, after) if r is not None and abs(r - row) <= reach]
        return self.boxes[min(near, key=lambda r: abs(r - row))] if near else None


def link_tracks(boxes: Sequence[Sequence[np.ndarray | None]], min_iou: float = 0.2, max_lost: int = 10
                ) -> list[Track]:
    """Tracks through frames of boxes (per frame, one box or None per detection), greedy by overlap.

    A box continues the live track whose last box it overlaps most (IoU at least ``min_iou``, both boxes
    first widened to 0.6 of their height: a person walking across is a narrow box that moves its own
    width in a few frames); a track unseen for more than ``max_lost`` frames is closed. Tracks come in
    order of first appearance.
    """
    tracks: list[Track] = []
    last: list[int] = []
    for i, frame in enumerate(boxes):
        live = [k for k in range(len(tracks)) if i - last[k] <= max_lost]
        pairs = sorted(((iou(_widened(tracks[k].boxes[last[k]]), _widened(b)), k, d) for k in live
                        for d, b in enumerate(frame) if b is not None), key=lambda p: -p[0])
        used_t, used_d = set(), set()
        for overlap, k, d in pairs:
            if overlap < min_iou or k in used_t or d in used_d:
                continue
            used_t.add(k)
            used_d.add(d)
            tracks[k].boxes[i], tracks[k].members[i], last[k] = frame[d], d, i
        for d, b in enumerate(frame):
            if b is not None and d not in used_d:
                tracks.append(Track({i: b}, {i: d}))
                last.append(i)
    return tracks


def _widened(box: np.ndarray, ratio: float = 0.6) -> np.ndarray:
    half = 0.5 * max(box[2] - box[0], ratio * (box[3] - box[1]))
    centre = 0.5 * (box[0] + box[2])
    return np.array([centre - half, box[1], centre + half, box[3]])


def prominence(track: Track, rows: Sequence[int], width: int, height: int) -> float:
    """How prominent a person is over the clip: over the frames ``rows`` (where everyone was looked for),
    the sum of their box height (pixels) times ``0.5 + 0.5 c``, where the centrality ``c`` is 1 at the
    image centre and 0 at a corner. Size counts more than centrality; persistence counts through the sum."""
    centre, half_diagonal = np.array([width, height]) / 2.0, 0.5 * float(np.hypot(width, height))
    total = 0.0
    for r in rows:
        if r in track.boxes:
            b = track.boxes[r]
            c = 1.0 - min(1.0, float(np.linalg.norm((b[:2] + b[2:]) / 2.0 - centre)) / half_diagonal)
            total += float(b[3] - b[1]) * (0.5 + 0.5 * c)
    return total


@dataclass(frozen=True)
class PersonChoice:
    """The person to follow, as the user names them (``--person``).

    Attributes:
        index: number of the person in the first frame where several people are seen, counted from the
            left from 0 (by the centre of their box).
        point: ``(x, y)`` pixels: the person whose box contains this point in the first frame where a
            box does.
    """

    index: int | None = None
    point: tuple[float, float] | None = None

    @classmethod
    def parse(cls, text: str) -> PersonChoice:
        """``"1"`` (an index) or ``"640,360"`` (a point in pixels); :class:`ConfigError` otherwise."""
        text = text.strip()
        if re.fullmatch(r"\d+", text):
            return cls(index=int(text))
        m = re.fullmatch(r"(-?\d+(?:\.\d*)?)\s*,\s*(-?\d+(?:\.\d*)?)", text)
        if m:
            return cls(point=(float(m.group(1)), float(m.group(2))))
        raise ConfigError("person", "must be a number (0 is the leftmost person in the first frame where several are "
                                    f"seen) or a point X,Y in pixels, got {text!r}")

    def __str__(self) -> str:
        return str(self.index) if self.index is not None else f"{self.point[0]:g},{self.point[1]:g}"


def choose_person(tracks: Sequence[Track], rows: Sequence[int], width: int, height: int,
                  choice: PersonChoice | None = None, frame_numbers: Sequence[int] | None = None
                  ) -> tuple[int | None, dict]:
    """The track to follow and a report of the people seen and why this one.

    Args:
        tracks: every person's track (from :func:`link_tracks`).
        rows: frames in which every person was looked for (survey frames), in order; numbering and
            prominence use these only, so a person followed frame by frame does not outscore one found
            every few frames.
        width, height: image size, pixels.
        choice: the user's choice; None: the most prominent.
        frame_numbers: input frame number of each row, for the report (default: the row).

    Returns:
        The index into ``tracks`` (None when there is none) and ``{"seen", "max_in_frame", "numbered_in_frame",
        "frames_looked_at", "people": [{"number", "frames_seen", "first_frame", "last_frame", "mean_height_px",
        "prominence"}], "followed", "why", "choice"}``; ``followed`` indexes ``people``, which lists the tracks
        that count as people (seen in at least :data:`MIN_TRACK_FRAMES` frames, unless none is);
        ``frames_seen`` counts the ``rows`` (of ``frames_looked_at``) in which each was seen.

    Raises:
        PhymoError: the choice names no one seen (the message says who was).
    """
    number = list(frame_numbers) if frame_numbers is not None else None

    def frame(r: int) -> int:
        return int(number[r]) if number is not None else int(r)

    people = [k for k, t in enumerate(tracks) if len(t.boxes) >= MIN_TRACK_FRAMES] or list(range(len(tracks)))
    report = {"seen": len(people), "max_in_frame": 0, "numbered_in_frame": None, "frames_looked_at": len(rows),
              "people": [], "followed": None, "why": "no person seen",
              "choice": None if choice is None else str(choice)}
    if not people:
        return None, report
    present = {r: [k for k in people if r in tracks[k].boxes] for r in rows}
    report["max_in_frame"] = max((len(v) for v in present.values()), default=1) or 1
    first_several = next((r for r in rows if len(present[r]) >= 2), None)
    numbering: dict[int, int] = {}
    if first_several is not None:
        centre_x = {k: float(tracks[k].boxes[first_several][[0, 2]].mean()) for k in present[first_several]}
        left_to_right = sorted(centre_x, key=centre_x.get)
        numbering = {k: n for n, k in enumerate(left_to_right)}
        report["numbered_in_frame"] = frame(first_several)
    scores = {k: prominence(tracks[k], rows, width, height) for k in people}
    for k in people:
        b = np.array(list(tracks[k].boxes.values()))
        report["people"].append({"number": numbering.get(k), "frames_seen": sum(r in tracks[k].boxes for r in rows),
                                 "first_frame": frame(min(tracks[k].boxes)), "last_frame": frame(max(tracks[k].boxes)),
                                 "mean_height_px": round(float((b[:, 3] - b[:, 1]).mean()), 1),
                                 "prominence": round(scores[k], 1)})
    chosen, why = _apply_choice(tracks, rows, people, numbering, scores, choice, first_several, frame)
    report["followed"], report["why"] = people.index(chosen), why
    return chosen, report


def _apply_choice(tracks, rows, people, numbering, scores, choice, first_several, frame) -> tuple[int, str]:
    if choice is not None and choice.index is not None:
        if first_several is None:
            if choice.index == 0:
                return people[0], "--person 0: the only person seen"
            raise PhymoError(f"--person {choice.index}: only one person is seen in this clip; give --person 0 or "
                             "leave --person out")
        if choice.index >= len(numbering):
            raise PhymoError(f"--person {choice.index}: frame {frame(first_several)}, the first where several people "
                             f"are seen, shows {len(numbering)} (numbered 0 to {len(numbering) - 1} from the left)")
        chosen = next(k for k, n in numbering.items() if n == choice.index)
        return chosen, (f"--person {choice.index}: number {choice.index} from the left in frame "
                        f"{frame(first_several)}, the first where several people are seen")
    if choice is not None and choice.point is not None:
        x, y = choice.point
        for r in rows:
            inside = [k for k in people if r in tracks[k].boxes and tracks[k].boxes[r][0] <= x <= tracks[k].boxes[r][2]
                      and tracks[k].boxes[r][1] <= y <= tracks[k].boxes[r][3]]
            if inside:
                chosen = min(inside, key=lambda k: _area(tracks[k].boxes[r]))  # the innermost where boxes overlap
                return chosen, f"--person {choice}: the person whose box contains that point in frame {frame(r)}"
        r = next(r for r in rows if any(r in tracks[k].boxes for k in people))
        boxes = ", ".join(_fmt_box(tracks[k].boxes[r]) for k in people if r in tracks[k].boxes)
        raise PhymoError(f"--person {choice}: no person's box contains that point in any frame (boxes x0,y0-x1,y1 "
                         f"in frame {frame(r)}: {boxes})")
    if len(people) == 1:
        return people[0], "the only person seen"
    ranked = sorted(people, key=lambda k: -scores[k])
    return ranked[0], (f"the most prominent: the largest and most central over the clip (score "
                       f"{scores[ranked[0]]:.0f} against {scores[ranked[1]]:.0f} for the next)")


def _area(b: np.ndarray) -> float:
    return float((b[2] - b[0]) * (b[3] - b[1]))


def _fmt_box(b: np.ndarray) -> str:
    return f"{b[0]:.0f},{b[1]:.0f}-{b[2]:.0f},{b[3]:.0f}"


def select_subject(people: Sequence[Sequence[tuple[np.ndarray, np.ndarray]]], num_keypoints: int,
                   width: int, height: int, choice: PersonChoice | None = None, min_iou: float = 0.2,
                   max_lost: int = 10) -> tuple[np.ndarray, np.ndarray, dict]:
    """Follow every person through frames of keypoints and keep one (:func:`choose_person`).

    Args:
        people: per frame, a list of ``(points (K, 2) pixels, confidence (K,))``, one per person.
        num_keypoints: ``K``.
        width, height: image size, pixels.
        choice: the person to keep; None: the most prominent.
        min_iou, max_lost: see :func:`link_tracks`.

    Returns:
        ``points (T, K, 2)``, ``confidence (T, K)`` of the chosen person (zeros where absent) and the report
        of :func:`choose_person`.
    """
    tracks = link_tracks([[keypoint_box(p, c) for p, c in frame] for frame in people], min_iou, max_lost)
    chosen, report = choose_person(tracks, range(len(people)), width, height, choice)
    points, conf = np.zeros((len(people), num_keypoints, 2)), np.zeros((len(people), num_keypoints))
    if chosen is not None:
        for i, d in tracks[chosen].members.items():
            points[i], conf[i] = people[i][d]
    log_choice(report)
    return points, conf, report


def log_choice(report: dict) -> None:
    """Say how many people were seen and which one is followed, and why (when it is not obvious)."""
    if report["seen"] > 1 or report["choice"] is not None:
        followed = report["people"][report["followed"]]
        label = (f"person {followed['number']}" if followed["number"] is not None
                 else f"the person seen from frame {followed['first_frame']}")
        log.info("%d people seen (numbered from the left in frame %s); following %s: %s", report["seen"],
                 report["numbered_in_frame"], label, report["why"])


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
