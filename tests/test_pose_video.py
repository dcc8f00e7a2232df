"""Video reading: metadata, frame selection, streaming, and bad files."""

import cv2
import numpy as np
import pytest

from phymo.data import DataFormatError, InputNotFoundError
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


def _boxes(data: bytes, start: int, end: int):
    """Top-level ISO-BMFF boxes ``(offset, size, type)`` of ``data[start:end]``."""
    import struct

    i = start
    while i < end:
        size, kind = struct.unpack(">I4s", data[i:i + 8])
        yield i, size, kind
        i += size


def _moov_first(data: bytes) -> bytes:
    """The mp4 ``data`` with its index (moov) moved before the media data, as cameras and web encoders
    write it; OpenCV writes it last, and a cut file without it would not open at all."""
    import struct

    top = {kind: (i, size) for i, size, kind in _boxes(data, 0, len(data))}
    mi, ms = top[b"moov"]
    moov = bytearray(data[mi:mi + ms])

    def shift_chunk_offsets(s, e):
        for i, size, kind in _boxes(moov, s, e):
            if kind in (b"trak", b"mdia", b"minf", b"stbl"):
                shift_chunk_offsets(i + 8, i + size)
            elif kind == b"stco":
                for k in range(struct.unpack(">I", moov[i + 12:i + 16])[0]):
                    o = i + 16 + 4 * k
                    moov[o:o + 4] = struct.pack(">I", struct.unpack(">I", moov[o:o + 4])[0] + ms)

    shift_chunk_offsets(8, ms)
    fi, fs = top[b"ftyp"]
    rest = b"".join(data[i:i + s] for i, s, k in _boxes(data, 0, len(data)) if k not in (b"moov", b"ftyp"))
    return data[fi:fi + fs] + bytes(moov) + rest


def test_truncated_video_warns_naming_declared_and_decoded_frames(tmp_path, caplog):
    full = tmp_path / "full.mp4"
    w = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (64, 48))
    rng = np.random.default_rng(0)
    for _ in range(47):
        w.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    w.release()
    data = _moov_first(full.read_bytes())
    whole, cut = tmp_path / "whole.mp4", tmp_path / "cut.mp4"
    whole.write_bytes(data)
    cut.write_bytes(data[:len(data) // 3])
    with caplog.at_level("WARNING", logger="phymo.pose.video"):
        assert len(list(iter_frames(whole))) == 47
    assert not caplog.records  # a whole file decodes silently
    assert probe_video(cut).num_frames == 47  # the container still declares every frame
    with caplog.at_level("WARNING", logger="phymo.pose.video"):
        decoded = len(list(iter_frames(cut)))
    assert 0 < decoded < 47
    (record,) = caplog.records
    assert str(cut) in record.getMessage() and "declares 47 frames" in record.getMessage()
    assert f"only {decoded} could be decoded" in record.getMessage()
