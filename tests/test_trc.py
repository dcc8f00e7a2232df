"""TRC reader: values read by hand from the shared Pose2Sim file; units, gaps and errors on tiny files made here."""

from pathlib import Path

import numpy as np
import pytest

from phymo.data import DataFormatError, read_trc


def test_shared_file_against_values_read_by_hand(shared_data):
    trc = read_trc(shared_data("pose2sim", "balancing_trial", "pose3d_triangulated",
                               "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc"))
    assert trc.names[:3] == ("RHip", "RKnee", "RAnkle") and trc.names[-1] == "LWrist" and len(trc.names) == 21
    assert trc.positions.shape == (100, 21, 3) and trc.fps == 60.0
    assert trc.frame_numbers[0] == 1 and trc.frame_numbers[-1] == 100 and trc.times[-1] == pytest.approx(100 / 60)
    # row "1  0.0166666666666666  -0.06499776880731573  0.901513220141693  -1.400573592601662 ..."
    np.testing.assert_array_equal(trc.marker("RHip")[0], [-0.06499776880731573, 0.901513220141693, -1.400573592601662])
    # the last row's last six values: LElbow, LWrist
    np.testing.assert_array_equal(trc.marker("LElbow")[-1], [0.3693853665697027, 1.478945493805521, -0.575243551090717])
    np.testing.assert_array_equal(trc.marker("LWrist")[-1], [0.45734376982803315, 1.547658785190419,
                                                              -0.38649962199088916])
    assert np.isfinite(trc.positions).all()


def _write(path: Path, units: str = "mm", rows: tuple[str, ...] = ("1\t0.01\t1000\t2000\t3000\t\t\t",
                                                                       "2\t0.02\t1100\t2100\t3100\t4\t5\t6")) -> Path:
    path.write_text("PathFileType\t4\t(X/Y/Z)\tx.trc\n"
                    "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames\n"
                    f"100\t100\t2\t2\t{units}\t100\t1\t2\n"
                    "Frame#\tTime\tA\t\t\tB\t\t\t\n\t\tX1\tY1\tZ1\tX2\tY2\tZ2\n\n" + "\n".join(rows) + "\n")
    return path


def test_units_and_gaps(tmp_path):
    trc = read_trc(_write(tmp_path / "mm.trc"))
    assert trc.names == ("A", "B") and trc.fps == 100.0
    np.testing.assert_allclose(trc.marker("A"), [[1, 2, 3], [1.1, 2.1, 3.1]])
    assert np.isnan(trc.marker("B")[0]).all()  # empty cells: a marker not seen in that frame
    np.testing.assert_allclose(trc.marker("B")[1], [0.004, 0.005, 0.006])
    np.testing.assert_allclose(read_trc(_write(tmp_path / "cm.trc", "cm")).marker("A")[0], [10, 20, 30])


@pytest.mark.parametrize("kind, match", [
    ("units", "Units"), ("row", "a value is not a number"), ("wide", "9 values, expected"),
    ("header", "not a TRC file")])
def test_errors_name_the_problem(tmp_path, kind, match):
    path = tmp_path / "bad.trc"
    if kind == "units":
        _write(path, "furlong")
    elif kind == "row":
        _write(path, rows=("1\t0.01\t1\t2\tthree\t4\t5\t6",))
    elif kind == "wide":
        _write(path, rows=("1\t0.01\t1\t2\t3\t4\t5\t6\t7",))
    else:
        path.write_text("Frame#\tTime\n1\t0\n")
    with pytest.raises(DataFormatError, match=match):
        read_trc(path)
    with pytest.raises(DataFormatError, match="no marker 'C'"):
        read_trc(_write(tmp_path / "ok.trc")).marker("C")
