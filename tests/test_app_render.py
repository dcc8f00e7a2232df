import cv2
import numpy as np

from phymo.app.overlay import blank_frames, draw_frame, write_overlay_video
from phymo.app.plots import plot_loss_traces, plot_per_frame
from phymo.data import CANONICAL, Camera
from phymo.data.gait import walking_motion


def _scene():
    motion = walking_motion(duration_s=1.0, fps=20.0)
    camera = Camera.from_fov(320, 240, 60.0).looking_at((0.5, -4.0, 1.2), (0.5, 0.0, 0.9))
    return motion, camera


def test_body_is_drawn_where_the_joints_project():
    motion, camera = _scene()
    joints = motion.positions()[0]
    img = draw_frame(next(blank_frames(camera, 1)), joints, camera, CANONICAL)
    uv = np.round(camera.project(joints)).astype(int)
    assert all((img[v, u] > 200).all() for u, v in uv)  # joint discs are white
    empty = next(blank_frames(camera, 1))
    assert (img != empty).any(axis=-1).sum() > 500  # capsules and ground grid drawn too


def test_contact_markers_are_green():
    motion, camera = _scene()
    joints = motion.positions()[0]
    foot = CANONICAL.index("left_ankle")
    img = draw_frame(next(blank_frames(camera, 1)), joints, camera, CANONICAL, contacts={foot: True})
    u, v = np.round(camera.project(joints[foot])).astype(int)
    b, g, r = img[v + 4, u].astype(int)
    assert g > 150 and g > r + 50 and g > b + 50


def test_overlay_video_has_one_frame_per_pose(tmp_path):
    motion, camera = _scene()
    path = tmp_path / "overlay.mp4"
    n = write_overlay_video(path, blank_frames(camera, 100), motion.positions(), camera, CANONICAL, motion.fps)
    cap = cv2.VideoCapture(str(path))
    assert n == motion.num_frames == int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    assert cap.get(cv2.CAP_PROP_FPS) == motion.fps
    assert not list(tmp_path.glob(".*"))  # the temporary file was moved into place


def test_plots_write_pngs(tmp_path):
    a = plot_loss_traces({"w0": [10, 5, 2, 1], "w1": [8, 4, 3, 2.5]}, tmp_path / "loss.png")
    b = plot_per_frame({"skating": np.zeros(10), "penetration_mm": np.arange(10.0)}, 25.0, tmp_path / "frames.png")
    for p in (a, b):
        img = cv2.imread(str(p))
        assert img is not None and img.shape[0] > 200
