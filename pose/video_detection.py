"""Keypoints of one person through a video, with everyone else in the picture accounted for.

A detector like MediaPipe Pose follows a single person: whoever it finds first, and whoever it finds
next when it loses them. So detection runs in up to two passes over the frames:

1. **Survey.** The detector follows its person through every frame. Every :data:`SURVEY_EVERY_S` seconds
   the others are looked for too: a fresh detector (image mode) runs on the frame with each person found
   so far painted over, until no one more is found (at most :data:`MAX_PEOPLE`). Boxes are linked into
   tracks (:func:`phymo.pose.person.link_tracks`) and the person to follow is chosen
   (:func:`phymo.pose.person.choose_person`: the user's ``person``, else the most prominent).
2. **Follow** (only when the survey saw several people and the detector did not stay on the chosen
   one). The detector runs again on frames where everyone else is painted over (their boxes from the
   survey, interpolated between survey frames), and a detection that matches someone else's box better
   than the chosen person's is dropped.

``Keypoints2D.meta["people"]`` says how many people were seen, who was followed and why.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from phymo.data import PhymoError

from .detector import DEFAULT_DETECTOR, FrameDetection, KeypointDetector, NoPersonError, make_detector
from .keypoints import Keypoints2D
from .person import PersonChoice, Track, choose_person, covered, enlarge, iou, keypoint_box, link_tracks, log_choice
from .video import VideoInfo, frame_indices, iter_frames, probe_video

log = logging.getLogger(__name__)

#: seconds between the frames in which every person is looked for
SURVEY_EVERY_S = 0.2
#: most people looked for in one frame
MAX_PEOPLE = 4
#: a painted-over person's box grows by this share of its size (and as much again above the head)
MASK_MARGIN = 0.15
#: grey that paints people over (RGB)
MASK_GREY = 127


def paint_over(frame: np.ndarray, boxes: list[np.ndarray], keep: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``frame (H, W, 3)`` with each box (grown by :data:`MASK_MARGIN`) painted grey, except
    inside ``keep`` (grown likewise), where the frame stays as it was."""
    out = frame.copy()
    h, w = frame.shape[:2]

    def pixels(box):
        b = enlarge(box, MASK_MARGIN, head_room=MASK_MARGIN)
        return (int(np.clip(b[1], 0, h)), int(np.clip(np.ceil(b[3]), 0, h)), int(np.clip(b[0], 0, w)),
                int(np.clip(np.ceil(b[2]), 0, w)))

    for box in boxes:
        y0, y1, x0, x1 = pixels(box)
        out[y0:y1, x0:x1] = MASK_GREY
    if keep is not None:
        y0, y1, x0, x1 = pixels(keep)
        out[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    return out


def _box(found: FrameDetection | None) -> np.ndarray | None:
    return None if found is None else keypoint_box(found.points, found.confidence)


def find_others(finder: KeypointDetector, frame: np.ndarray, known: list[np.ndarray]) -> list[np.ndarray]:
    """Boxes of the people in ``frame`` besides those in ``known``: ``finder`` (image mode) runs on the frame
    with everyone found so far painted over, until it finds no one new or :data:`MAX_PEOPLE` are known."""
    found: list[np.ndarray] = []
    painted = list(known)
    for _ in range(MAX_PEOPLE - len(known)):
        box = _box(finder(paint_over(frame, painted)))
        if box is None:
            break
        painted.append(box)
        if all(covered(box, b) < 0.5 for b in known + found):  # not someone already found, half painted
            found.append(box)
    return found


def detect_video(path: str | Path, detector: str = DEFAULT_DETECTOR, start: int = 0, end: int | None = None,
                 stride: int = 1, progress: bool = False, require_person: bool = True,
                 person: PersonChoice | None = None) -> Keypoints2D:
    """Keypoints of one person over frames ``start:end:stride`` of a video (see the module docstring).

    Frames without the person stay in the result, marked ``detected = False`` with zero confidence.
    ``meta`` records the video info (with ``decoded_frames``), the selection, the detector, the people
    seen (``people``) and the detection time (``detect_seconds``, ``detect_fps``). Raises
    :class:`NoPersonError` when no frame has a person and ``require_person``, and :class:`PhymoError`
    when ``person`` names no one seen.
    """
    info = probe_video(path)
    selection = frame_indices(info.num_frames, start, end, stride)
    every = max(1, int(round(SURVEY_EVERY_S * info.fps / stride)))
    t0 = time.perf_counter()
    indices, followed, boxes, survey, joint_set = _survey(info, detector, start, end, stride, every, progress,
                                                          len(selection))
    if not indices:
        raise PhymoError(f"{info.path}: no frame in the selection start={start}, end={end}, stride={stride} "
                         f"(the video has {info.num_frames} frames)")
    tracks = link_tracks(boxes, min_iou=0.2, max_lost=2 * every)
    chosen, people = choose_person(tracks, survey, info.width, info.height, person, indices)
    log_choice(people)
    stayed = chosen is not None and all(tracks[chosen].members.get(r) == 0
                                        for r, f in enumerate(followed) if _box(f) is not None)
    people["second_pass"] = people["seen"] > 1 and not stayed
    people["dropped_frames"] = 0
    if people["second_pass"]:
        followed, people["dropped_frames"] = _follow(info, detector, start, end, stride, tracks, chosen, every,
                                                     progress)
    seconds = time.perf_counter() - t0
    meta = {"source": str(info.path), "detector": detector, "video": info.to_dict(),
            "selection": {"start": start, "end": end, "stride": stride}, "people": people,
            "missing_frames": len(selection) - len(indices),  # declared by the container, not decodable
            "detect_seconds": seconds, "detect_fps": len(indices) / seconds if seconds > 0 else float("nan")}
    return _keypoints(info, joint_set, stride, indices, followed, meta, require_person)


def _survey(info: VideoInfo, detector: str, start: int, end: int | None, stride: int, every: int, progress: bool,
            total: int) -> tuple[list[int], list[FrameDetection | None], list[list[np.ndarray]], list[int], str]:
    """Pass 1: frame indices, the detector's person per frame, everyone's boxes per frame (the followed
    person's first), the survey rows (where everyone was looked for) and the detector's joint set."""
    follow, finder = make_detector(detector), make_detector(detector, static_image_mode=True)
    indices, followed, boxes, survey = [], [], [], []
    try:
        for row, (index, frame) in enumerate(_frames(info, start, end, stride, progress, total, "detect")):
            found = follow(frame)
            known = [] if _box(found) is None else [_box(found)]
            if row % every == 0:
                known += find_others(finder, frame, known)
                survey.append(row)
            indices.append(index)
            followed.append(found)
            boxes.append(known)
    finally:
        follow.close()
        finder.close()
    return indices, followed, boxes, survey, follow.joint_set


def _follow(info: VideoInfo, detector: str, start: int, end: int | None, stride: int, tracks: list[Track],
            chosen: int, every: int, progress: bool) -> tuple[list[FrameDetection | None], int]:
    """Pass 2: the detector on frames with everyone but the chosen person painted over; detections that
    match someone else better are dropped. Returns the detections per row and how many were dropped."""
    follow = make_detector(detector)
    out, dropped = [], 0
    try:
        for row, (_, frame) in enumerate(_frames(info, start, end, stride, progress, None, "follow")):
            keep = tracks[chosen].box_at(row, every)
            others = [b for k, t in enumerate(tracks) if k != chosen and (b := t.box_at(row, every)) is not None]
            found = follow(paint_over(frame, others, keep))
            box = _box(found)
            if box is not None and others:
                mine = iou(box, keep) if keep is not None else 0.0
                if max(iou(box, b) for b in others) > max(mine, 0.2):
                    found, dropped = None, dropped + 1
            out.append(found)
    finally:
        follow.close()
    if dropped:
        log.info("%s: %d frames dropped where the detector found someone other than the person followed",
                 info.path, dropped)
    return out, dropped


def _frames(info: VideoInfo, start: int, end: int | None, stride: int, progress: bool, total: int | None, what: str):
    frames = iter_frames(info.path, start, end, stride)
    if progress:
        from tqdm import tqdm

        frames = tqdm(frames, total=total, unit="frame", desc=f"{what} {info.path.name}")
    return frames


def _keypoints(info: VideoInfo, joint_set: str, stride: int, indices: list[int], found: list[FrameDetection | None],
               meta: dict, require_person: bool) -> Keypoints2D:
    t = len(indices)
    k = next((len(f.confidence) for f in found if f is not None), None)
    if k is None:
        if require_person:
            raise NoPersonError(f"no person detected in {info.path} ({t} frames examined)")
        from phymo.data import get_mapping

        k = get_mapping(joint_set).num_external
    p, c, w = np.zeros((t, k, 2)), np.zeros((t, k)), np.zeros((t, k, 3))
    has_world = any(f is not None and f.world is not None for f in found)
    for i, f in enumerate(found):
        if f is not None:
            p[i], c[i] = f.points, f.confidence
            if f.world is not None:
                w[i] = f.world
    detected = np.array([f is not None for f in found])
    log.info("%s: person found in %d of %d frames (%.1f fps detection)", info.path, detected.sum(), t,
             meta["detect_fps"])
    return Keypoints2D(p, c, joint_set, info.fps / stride, info.width, info.height,
                       w if has_world else None, detected, np.array(indices), meta)
