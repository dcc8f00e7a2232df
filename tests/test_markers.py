"""Triangulated markers as canonical joints: axes checked against the views, the mapping against a fitted skeleton."""

import json
from dataclasses import replace

import numpy as np
import pytest

from phymo.data import marker_height, markers_to_canonical, read_trc, trc_to_lab
from phymo.data.skeleton import BODY_25B_NAMES, CANONICAL
from phymo.pose import read_calibration

FILTERED = "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"


@pytest.fixture(scope="module")
def trial(shared_data):
    return shared_data("pose2sim", "balancing_trial")


@pytest.fixture(scope="module")
def markers(trial):
    return read_trc(trial / "pose3d_triangulated" / FILTERED)


def _view_error(trial, markers, lab_from_trc, camera, view: str) -> float:
    """Median over frames of the median pixel distance between the projected markers and the OpenPose
    BODY_25B detections (the closest of the people found) in ``view``'s JSON files."""
    names = [n for n in markers.names if n in BODY_25B_NAMES]
    pts = markers.positions[:, [markers.names.index(n) for n in names]] @ lab_from_trc.T
    errors = []
    for t in range(0, markers.num_frames, 5):
        people = json.loads((trial / "pose_openpose_body25b" / f"{view}_json" / f"{view}.{t:04d}.json").read_text())
        uv = camera.project(pts[t]) if (camera.to_camera(pts[t])[:, 2] > 0).all() else np.full((len(names), 2), 1e6)
        per_person = []
        for p in people["people"]:
            kp = np.asarray(p["pose_keypoints_2d"]).reshape(-1, 3)[[BODY_25B_NAMES.index(n) for n in names]]
            seen = kp[:, 2] > 0.3
            per_person.append(np.median(np.linalg.norm(uv[seen] - kp[seen, :2], axis=-1)))
        errors.append(min(per_person))
    return float(np.median(errors))


def test_markers_land_on_every_views_detections(trial, markers):
    """Pose2Sim's TRC axes undone and the Qualisys cameras read right: the markers project onto what OpenPose
    found in all four views (the frames are in step: TRC row t is video frame t)."""
    cams = read_calibration(trial / "calibration" / "Calib.qca.txt")
    for view, cam in cams.items():
        assert _view_error(trial, markers, trc_to_lab(np.eye(3)).T, cam, view) < 20.0, view
    assert _view_error(trial, markers, np.eye(3), cams["cam01"], "cam01") > 200.0  # the file's own axes do not


#: every canonical bone whose two ends have markers
BONES = tuple((f"{s}_{a}", f"{s}_{b}") for s in ("left", "right") for a, b in (
    ("hip", "knee"), ("knee", "ankle"), ("ankle", "toe"), ("shoulder", "elbow"), ("elbow", "wrist")))


def _bone_errors(markers) -> dict[str, float]:
    """Per bone: median length between the mapped markers minus the canonical skeleton's bone, fitted to the
    markers (scaled to :func:`marker_height`), metres."""
    points, have = markers_to_canonical(markers)
    assert all(CANONICAL.index(n) in have for bone in BONES for n in bone)
    fitted = CANONICAL.scaled(marker_height(points) / CANONICAL.height()).bone_lengths()
    out = {}
    for parent, child in BONES:
        j = CANONICAL.index(child)
        out[child] = float(np.median(np.linalg.norm(points[:, j] - points[:, CANONICAL.index(parent)], axis=-1))
                           - fitted[j])
    return out


def test_mapped_bones_agree_with_the_skeleton_fitted_to_them_within_2cm(markers):
    errors = _bone_errors(markers)
    assert max(map(abs, errors.values())) < 0.02, {k: round(v, 4) for k, v in errors.items()}
    assert 1.6 < marker_height(markers_to_canonical(markers)[0]) < 1.8  # 1.68 m: an adult


@pytest.mark.parametrize("pair", [("LKnee", "RKnee"), ("LWrist", "RWrist"), ("LAnkle", "RAnkle")])
def test_a_wrong_mapping_fails_the_check(markers, pair):
    """Left and right swapped: the bones run across the body and no longer fit."""
    names = list(markers.names)
    a, b = names.index(pair[0]), names.index(pair[1])
    names[a], names[b] = names[b], names[a]
    assert max(map(abs, _bone_errors(replace(markers, names=tuple(names))).values())) > 0.05
