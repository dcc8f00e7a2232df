"""The overlay's side view: where its camera stands, what a depth error looks like in it, and the video it widens."""

import cv2
import numpy as np

from phymo.app.render.overlay import (
    BONE_COLOR,
    GROUND_COLOR,
    KINEMATIC_COLOR,
    OverlayBody,
    SidePanel,
    blank_frames,
    draw_frame,
    write_overlay_video,
)
from phymo.app.render.side_view import panel_width
from phymo.data import CANONICAL, FOOT_CONTACT, FOOT_JOINTS, Camera, walking_motion

FEET = tuple(CANONICAL.index(n) for n in FOOT_JOINTS)


def _scene(depth_error_m: float = 0.0):
    """A walk filmed by a level camera turned 35 degrees off the walk, and a kinematic copy ``depth_error_m``
    farther along the camera's optical axis (projecting to nearly the same pixels)."""
    motion = walking_motion(duration_s=1.0, fps=20.0)
    positions = motion.positions()
    pelvis = positions[0, CANONICAL.index("pelvis")]
    yaw = np.radians(35.0)
    eye = pelvis + 4.0 * np.array([-np.sin(yaw), -np.cos(yaw), 0.0])
    camera = Camera.from_fov(320, 240, 60.0).looking_at(eye, pelvis)
    kinematic = positions + depth_error_m * camera.R[2]
    body = OverlayBody(np.arange(len(positions)), positions, camera, CANONICAL,
                       FOOT_CONTACT.in_contact(positions[:, FEET], FOOT_JOINTS), FEET, kinematic,
                       FOOT_CONTACT.in_contact(kinematic[:, FEET], FOOT_JOINTS))
    return motion, camera, body


def _centroid(image: np.ndarray, colour, background: np.ndarray) -> np.ndarray:
    """``(u, v)`` mean pixel of ``image`` (RGB) drawn over ``background`` within 30 of ``colour`` in every channel."""
    close = (np.abs(image.astype(int) - colour) <= 30).all(axis=-1)
    v, u = np.nonzero(close & (image != background).any(axis=-1))
    assert len(u) > 50, f"{colour} hardly drawn"
    return np.array([u.mean(), v.mean()])


def test_panel_is_as_tall_as_the_video_and_no_wider_than_either_side():
    assert panel_width(1920, 1080) == 1080 and panel_width(1080, 1920) == 1080


def test_side_camera_stands_at_right_angles_to_the_real_one_and_looks_down_at_the_motion():
    _, camera, body = _scene()
    side = SidePanel.of(body, 240, 240).camera
    forward = camera.R[2] * [1, 1, 0] / np.linalg.norm(camera.R[2, :2])
    assert abs(side.R[2] @ forward) < 1e-9  # 90 degrees about the vertical
    np.testing.assert_allclose(side.R[0], forward, atol=1e-9)  # away from the real camera is to the right
    assert side.R[2, 2] < 0  # looking down a little: the grid shows as a plane
    # every joint of every frame is in the picture, upright: the head above the ankles
    uv = side.project(body.positions)
    assert (uv > 5).all() and (uv[..., 0] < 235).all() and (uv[..., 1] < 235).all()
    head, ankle = CANONICAL.index("head_top"), CANONICAL.index("left_ankle")
    assert (uv[:, head, 1] < uv[:, ankle, 1] - 60).all()


def test_a_depth_error_invisible_to_the_camera_moves_the_body_sideways_in_the_side_view():
    """The kinematic copy 1.5 m farther along the optical axis: in the camera view its drawing stays centred where
    the physics one is; in the side panel it moves right by focal * 1.5 m / depth, and not up or down."""
    error = 1.5
    _, camera, body = _scene(error)
    blank = next(blank_frames(camera, 1))
    seen = [_centroid(draw_frame(blank.copy(), p[0], camera, CANONICAL, ground_grid=False), BONE_COLOR, blank)
            for p in (body.positions, body.kinematic)]
    assert abs(seen[1][0] - seen[0][0]) < 4  # the camera cannot tell them apart sideways
    panel = SidePanel.of(body, 240, 240)
    image = panel.draw(body, 0)
    shift = (_centroid(image, KINEMATIC_COLOR, panel.background)
             - _centroid(image, BONE_COLOR, panel.background))
    depth = panel.camera.to_camera(body.positions[0, CANONICAL.index("pelvis")])[2]
    expected = panel.camera.fx * error / depth
    assert expected > 40  # far enough apart not to overlap
    assert abs(shift[0] - expected) < 0.05 * expected and abs(shift[1]) < 3, (shift, expected)


def test_panel_background_has_the_ground_grid_and_the_legend():
    _, _, body = _scene()
    panel = SidePanel.of(body, 240, 240, shade=40)
    bg = panel.background.astype(int)
    assert (bg[-60:, 200:] == 40).all(axis=-1).mean() < 0.95  # grid lines reach the bottom right
    assert (bg[70:130] == 40).all()  # below the legend, above the ground: plain background
    centre = 0.5 * (body.positions[..., :2].reshape(-1, 2).min(0) + body.positions[..., :2].reshape(-1, 2).max(0))
    for x in (-0.5, 0.0, 0.5):  # on a grid line (every 0.5 m about the centre): the grid's colour
        u, v = np.round(panel.camera.project(np.array([centre[0] + x, centre[1] + 0.25, 0.0]))).astype(int)
        assert np.abs(bg[v - 1:v + 2, u - 1:u + 2] - GROUND_COLOR).max(-1).min() < 60
        u, v = np.round(panel.camera.project(np.array([centre[0] + x + 0.25, centre[1] + 0.25, 0.0]))).astype(int)
        assert (bg[v, u] == 40).all()  # inside a cell: background
    for colour in (KINEMATIC_COLOR, BONE_COLOR):  # a swatch of each result's colour in the legend, top left
        assert ((bg[:60, :40] == colour).all(axis=-1)).sum() > 20


def test_overlay_video_widens_by_the_panel_and_keeps_fps_and_colours(tmp_path):
    motion, camera, body = _scene(0.5)
    colour = np.array([200, 60, 20], np.uint8)  # RGB: red-orange; swapped it would read blue
    frames = ((i, np.broadcast_to(colour, (240, 320, 3))) for i in range(-5, 20))
    path = tmp_path / "overlay.mp4"
    assert write_overlay_video(path, frames, [body], 12.5, 320, 240, shade=40, side_width=200) == 25
    cap = cv2.VideoCapture(str(path))
    assert cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 520 and cap.get(cv2.CAP_PROP_FRAME_HEIGHT) == 240
    assert cap.get(cv2.CAP_PROP_FPS) == 12.5 and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 25
    drawn = []
    for _ in range(25):
        rgb = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB).astype(int)
        np.testing.assert_allclose(rgb[200:, 250:310].reshape(-1, 3).mean(0), colour, atol=20)  # camera view
        np.testing.assert_allclose(rgb[60:120, 490:].reshape(-1, 3).mean(0), 40, atol=6)  # panel: sky, right
        drawn.append(int((np.abs(rgb[:, 320:] - 40).max(-1) > 60).sum()))
    drawn = np.array(drawn)
    assert (drawn[5:] > 1000).all() and (drawn[:5] == 0).all()  # bodies on their frames, a plain panel elsewhere
