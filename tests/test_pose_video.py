"""Video reading: metadata, frame selection, streaming, and bad files."""

import cv2
import numpy as np
import pytest

from phymo.data.errors import DataFormatError, InputNotFoundError
from phymo.pose.video import frame_indices, iter_frames, probe_video


def _write_video(path, frames=5, size=(64, 48), fps=25.0):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 10 * i, np.uint8)
        w.write(img)
    w.release()
    return path


def test_probe_and_iterate(tmp_path):
    p = _write_video(tmp_path / "a.avi", frames=7)
    info = probe_video(p)
    assert (info.width, info.height, info.num_frames, info.fps_source) == (64, 48, 7, "container")
    assert info.fps == pytest.approx(25.0)
    got = list(iter_frames(p, start=1, end=6, stride=2))
    assert [i for i, _ in got] == [1, 3, 5]
    assert got[0][1].shape == (48, 64, 3) and got[0][1].dtype == np.uint8
    assert list(frame_indices(7, 1, None, 3)) == [1, 4]


def test_one_frame_video(tmp_path):
    p = _write_video(tmp_path / "one.avi", frames=1)
    assert probe_video(p).num_frames == 1
    assert len(list(iter_frames(p))) == 1


def test_bad_files(tmp_path):
    with pytest.raises(InputNotFoundError):
        probe_video(tmp_path / "missing.mp4")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        probe_video(empty)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20)
    with pytest.raises(DataFormatError):
        probe_video(corrupt)
    with pytest.raises(ValueError):
        list(iter_frames(_write_video(tmp_path / "b.avi"), stride=0))
