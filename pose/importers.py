"""Importers for keypoints made elsewhere, mapped to the canonical skeleton through joint mappings.

Supported: OpenPose per-frame JSON folders (BODY_25, BODY_25B, COCO-18), COCO-format keypoint JSON
(``images`` + ``annotations`` with 17-point ``keypoints``), phymo's keypoints npz
(:mod:`phymo.pose.keypoints`) and plain CSV (one row per frame: optional ``frame`` column, then
``x, y, confidence`` per keypoint). Where a file lists several people per frame, one is kept by
:func:`phymo.pose.person.select_subject`: the user's choice (``person``), else the most prominent.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np

from phymo.data import DataFormatError, InputNotFoundError, get_mapping, require_file

from .keypoints import Keypoints2D, load_keypoints
from .person import PersonChoice, select_subject

#: OpenPose model guessed from the number of keypoints per person (BODY_25B needs ``model="body25b"``).
_OPENPOSE_BY_COUNT = {25: "body25", 18: "coco18"}
_BY_COUNT = {33: "mediapipe33", 25: "body25", 18: "coco18", 17: "coco17"}


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def _reshape(flat, path: Path, what: str) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(flat, dtype=np.float64)
    if a.size % 3:
        raise DataFormatError(f"{path}: {what} has {a.size} values, not a multiple of 3 (x, y, confidence)")
    a = a.reshape(-1, 3)
    return a[:, :2], a[:, 2]


def load_openpose(folder: str | Path, fps: float, width: int, height: int, model: str | None = None,
                  person: PersonChoice | None = None) -> Keypoints2D:
    """Read an OpenPose output folder (one ``*.json`` per frame, natural sort order).

    Args:
        folder: the folder of per-frame JSON files.
        fps: frames per second of the source video.
        width, height: image size, pixels.
        model: ``"body25"``, ``"body25b"`` or ``"coco18"``; guessed from the keypoint count when None
            (25 points are taken as BODY_25).
        person: who to keep where several people are listed (None: the most prominent).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputNotFoundError(f"{folder}: no such folder of OpenPose JSON files")
    files = sorted(folder.glob("*.json"), key=_natural_key)
    if not files:
        raise DataFormatError(f"{folder}: no *.json files; expected OpenPose per-frame output")
    people = []
    for f in files:
        try:
            data = json.loads(f.read_text())
            people.append([_reshape(p["pose_keypoints_2d"], f, "pose_keypoints_2d") for p in data["people"]
                           if p.get("pose_keypoints_2d")])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataFormatError(f"{f}: not OpenPose JSON ({exc!r}); expected "
                                  '{"people": [{"pose_keypoints_2d": [x, y, c, ...]}]}') from None
    counts = {len(c) for frame in people for _, c in frame}
    if len(counts) > 1:
        raise DataFormatError(f"{folder}: people with different keypoint counts {sorted(counts)}")
    k = counts.pop() if counts else get_mapping(model or "body25").num_external
    model = model or _OPENPOSE_BY_COUNT.get(k)
    if model is None or get_mapping(model).num_external != k:
        raise DataFormatError(f"{folder}: {k} keypoints per person do not match OpenPose model {model!r}; "
                              "pass model='body25', 'body25b' or 'coco18'")
    points, conf, report = select_subject(people, k, width, height, person)
    return Keypoints2D(points, conf, model, fps, width, height,
                       meta={"source": str(folder), "importer": "openpose", "model": model, "people": report})


def load_coco_json(path: str | Path, fps: float, width: int | None = None, height: int | None = None,
                   person: PersonChoice | None = None) -> Keypoints2D:
    """Read COCO-format keypoints: ``images`` (frames, in ``id`` order) and ``annotations`` with 17 keypoints.

    Image size comes from the ``images`` entries when not given; ``person`` as in :func:`load_openpose`.
    """
    path = require_file(path)
    try:
        data = json.loads(path.read_text())
        images = sorted(data["images"], key=lambda im: im["id"])
        anns = data["annotations"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataFormatError(f"{path}: not COCO keypoint JSON ({exc!r}); expected images and annotations") from None
    if not images:
        raise DataFormatError(f"{path}: no images listed")
    row = {im["id"]: i for i, im in enumerate(images)}
    people: list[list] = [[] for _ in images]
    for a in anns:
        if a.get("image_id") not in row or "keypoints" not in a:
            continue
        pts, vis = _reshape(a["keypoints"], path, "keypoints")
        if len(vis) != 17:
            raise DataFormatError(f"{path}: annotation {a.get('id')} has {len(vis)} keypoints, COCO has 17")
        conf = np.asarray(a["scores"], dtype=np.float64) if "scores" in a else (vis > 0).astype(np.float64)
        people[row[a["image_id"]]].append((pts, np.where(vis > 0, conf, 0.0) if "scores" not in a else conf))
    width = int(width or images[0].get("width", 0))
    height = int(height or images[0].get("height", 0))
    if width <= 0 or height <= 0:
        raise DataFormatError(f"{path}: image size unknown; pass width and height")
    points, conf, report = select_subject(people, 17, width, height, person)
    return Keypoints2D(points, conf, "coco17", fps, width, height,
                       meta={"source": str(path), "importer": "coco", "people": report})


def load_csv(path: str | Path, fps: float, width: int, height: int, joint_set: str | None = None) -> Keypoints2D:
    """Read a CSV with a header: optional ``frame`` column, then ``x, y, confidence`` per keypoint.

    The joint set is guessed from the keypoint count (33 MediaPipe, 25 BODY_25, 18 COCO-18, 17 COCO-17)
    when not given. Empty cells count as missing.
    """
    path = require_file(path)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        raise DataFormatError(f"{path}: needs a header row and at least one frame row")
    header = [h.strip().lower() for h in rows[0]]
    has_frame = bool(header) and header[0] == "frame"
    ncol = len(header) - has_frame
    if ncol % 3:
        raise DataFormatError(f"{path}: {ncol} keypoint columns, not a multiple of 3 (x, y, confidence)")
    k = ncol // 3
    joint_set = joint_set or _BY_COUNT.get(k)
    if joint_set is None or get_mapping(joint_set).num_external != k:
        raise DataFormatError(f"{path}: {k} keypoints do not match joint set {joint_set!r}; pass joint_set")
    try:
        values = np.array([[float(v) if v.strip() else np.nan for v in r] for r in rows[1:] if r], dtype=np.float64)
    except ValueError as exc:
        raise DataFormatError(f"{path}: non-numeric cell ({exc})") from None
    if values.shape[1] != len(header):
        raise DataFormatError(f"{path}: rows have {values.shape[1]} cells, the header {len(header)}")
    frames = values[:, 0].astype(np.int64) if has_frame else None
    kp = values[:, int(has_frame):].reshape(-1, k, 3)
    missing = np.isnan(kp).any(axis=-1)
    kp[missing] = 0.0
    return Keypoints2D(kp[..., :2], np.clip(kp[..., 2], 0.0, 1.0), joint_set, fps, width, height,
                       frame_indices=frames, meta={"source": str(path), "importer": "csv"})


def load_any(path: str | Path, fps: float | None = None, width: int | None = None, height: int | None = None,
             model: str | None = None, person: PersonChoice | None = None) -> Keypoints2D:
    """Dispatch on the path: a folder is OpenPose, ``.npz`` phymo's format, ``.json`` COCO, ``.csv`` CSV.

    ``person`` chooses among several people in OpenPose and COCO files (the other formats hold one).
    """
    p = Path(path)
    if p.suffix == ".npz":
        return load_keypoints(p)

    def need(name, v):
        if v is None:
            raise DataFormatError(f"{p}: importing this format needs {name}; give it (e.g. from the video)")
        return v

    if p.is_dir():
        return load_openpose(p, need("fps", fps), need("width", width), need("height", height), model, person)
    if p.suffix == ".json":
        return load_coco_json(p, need("fps", fps), width, height, person)
    if p.suffix == ".csv":
        return load_csv(p, need("fps", fps), need("width", width), need("height", height), model)
    require_file(p)
    raise DataFormatError(f"{p}: unknown keypoint format; use an OpenPose folder, .npz, COCO .json or .csv")
