"""Overlay drawing and video, and the plots: what they show for fallback windows, seams and feet in contact."""

import cv2
import matplotlib
import numpy as np
from _figures import closest, pixels_at
from matplotlib.collections import PolyCollection
from matplotlib.patches import Polygon, Rectangle

from phymo.app.render.overlay import OverlayBody, blank_frames, draw_frame, write_overlay_video
from phymo.app.render.plots import SegmentSeries, WindowTrace, loss_figure, plausibility_figure, save
from phymo.data import CANONICAL, Camera, walking_motion


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


def test_overlay_video_keeps_the_frames_colours_and_notes_frames_without_a_body(tmp_path):
    """RGB in, the same colours out (OpenCV encodes BGR); one frame per input frame, bodies only on theirs."""
    motion, camera = _scene()
    colour = np.array([200, 60, 20], np.uint8)  # RGB: red-orange; swapped it would read blue
    frames = ((i, np.broadcast_to(colour, (240, 320, 3))) for i in range(10, 30))
    body = OverlayBody(np.arange(14, 24), motion.positions()[:10], camera, CANONICAL)
    path = tmp_path / "overlay.mp4"
    assert write_overlay_video(path, frames, [body], motion.fps, 320, 240) == 20
    cap = cv2.VideoCapture(str(path))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 20 and cap.get(cv2.CAP_PROP_FPS) == motion.fps
    head = CANONICAL.index("head_top")
    changed, at_head = [], []
    for k in range(20):
        rgb = cv2.cvtColor(cap.read()[1], cv2.COLOR_BGR2RGB)
        np.testing.assert_allclose(rgb[200:, 280:].reshape(-1, 3).mean(0), colour, atol=20)  # a corner, away
        changed.append(int((np.abs(rgb.astype(int) - colour).max(-1) > 60)[40:].sum()))
        u, v = np.round(camera.project(motion.positions()[min(max(k - 4, 0), 9), head])).astype(int)
        at_head.append(rgb[v, u].astype(int))  # where that frame's body (if any) has its head
    drawn = np.array(changed) > 300  # capsules and grid below the note's band
    assert drawn[4:14].all() and not drawn[:4].any() and not drawn[14:].any()
    # the decoded pixels at a known joint: the white joint disc on the frames with a body, the input elsewhere
    assert all(px.min() > 170 for px in at_head[4:14]), at_head[4:14]
    assert all(np.abs(px - colour).max() < 30 for px in at_head[14:]), at_head[14:]
    assert not list(tmp_path.glob(".*"))  # the temporary file was moved into place


def _windows(n: int, fell: dict[int, bool]) -> list[WindowTrace]:
    """``n`` windows of 15 frames overlapping by 3; ``fell[i]``: window i fell back (True: after a trace)."""
    out = []
    for i in range(n):
        used_from, used_to = (0 if i == 0 else 12 * i + 1), (12 * (i + 1) + 1 if i < n - 1 else 12 * i + 15)
        history = [] if fell.get(i) is False else list(np.geomspace(10, 1, 6) * (1 + 0.1 * i))
        out.append(WindowTrace(12 * i, 12 * i + 15, used_from, used_to, "fell over" if i in fell else "", history))
    return out


def _texts(fig) -> str:
    return " ".join(t.get_text() for t in fig.texts + [t for ax in fig.axes for t in ax.texts])


def test_loss_plot_marks_fallbacks_and_reads_past_twelve_windows(tmp_path):
    fig = loss_figure(_windows(20, {3: False, 7: False, 11: True}), "loss")
    ax = fig.axes[0]
    solid = [line for line in ax.lines if line.get_linestyle() == "-"]
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(solid) == 17 and len(dashed) == 1  # the one that fell back after optimizing is drawn dashed
    assert len(fig.axes) == 2  # a colour bar (first frame of each window) instead of a 20-entry legend
    note = _texts(fig)
    assert "3 of 20 windows fell back" in note and "frames 36-50" in note and "frames 84-98" in note
    # the saved pixels: window 0's curve (the lowest, the colour map's first colour) where it is drawn, white off it
    save(fig, tmp_path / "loss.png")
    first = solid[0]
    assert first.get_color() == matplotlib.colormaps["viridis"](0.0)
    (x0, y0), (x1, y1) = first.get_xydata()[-2:]
    middle = ax.transData.inverted().transform(ax.transData.transform([(x0, y0), (x1, y1)]).mean(axis=0))
    assert closest(pixels_at(tmp_path / "loss.png", ax, *middle), first.get_color()) < 0.1
    below = ax.transData.inverted().transform(ax.transData.transform(middle) - (0, 12))
    assert closest(pixels_at(tmp_path / "loss.png", ax, *below, reach=0), "white") < 0.01


def test_loss_plot_when_every_window_fell_back_says_so():
    fig = loss_figure(_windows(5, {i: False for i in range(5)}), "loss")
    assert not fig.axes[0].lines and "all 5 windows fell back" in _texts(fig)


def test_plausibility_plot_has_kinematic_beside_physics_fallbacks_and_seams():
    windows = _windows(4, {2: False})
    t = 52
    series = {"slide (m/s)": np.linspace(0, 1, t), "penetration (mm)": np.zeros(t)}
    fig = plausibility_figure([SegmentSeries(np.arange(t), series, {k: v / 2 for k, v in series.items()})],
                              windows, 30.0)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "kinematic", "physics", "fell back", "seam between windows"]
    for ax in fig.axes:
        assert len([line for line in ax.lines if line.get_linestyle() == "-"]) == 2  # kinematic and physics
        spans = [p for p in ax.patches + ax.collections if isinstance(p, Polygon | Rectangle | PolyCollection)]
        assert len(spans) == 1  # window 2's frames, shaded
        seams = [line for line in ax.lines if line.get_linestyle() == ":"]
        assert len(seams) == 3  # where windows 1, 2 and 3 take over


def test_drawing_leaves_the_backend_alone(tmp_path):
    """Importing the plots and drawing one neither needs nor switches matplotlib's backend (a notebook keeps its
    own; they used to force Agg on import)."""
    import subprocess
    import sys

    code = ("import matplotlib; matplotlib.use('svg'); import phymo.app.render.plots as P; "
            f"P.save(P.loss_figure([P.WindowTrace(0, 15, 0, 15, '', [2.0, 1.0])], 'loss'), r'{tmp_path / 'l.png'}'); "
            "print(matplotlib.get_backend())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["svg"] and (tmp_path / "l.png").read_bytes()[:4] == b"\x89PNG"
