"""Multi-view trials as an evaluation dataset: each camera's video reconstructed alone, scored against markers.

A trial folder (Pose2Sim's layout; OpenCap, FreeMoCap and mocap labs make the same shape) holds:

- a calibration: a Qualisys ``*.qca.txt`` or a Pose2Sim ``Calib*.toml`` anywhere under it (a TOML wins
  when both are there: Pose2Sim writes it from the QCA);
- one video per camera, ``videos/*.mp4`` (or ``.avi``, ``.mov``), matched to the calibration's cameras by
  name (``cam01.mp4`` -> camera ``cam01``; case, ``_`` and ``-`` are ignored); cameras without a video
  are skipped;
- triangulated markers, a ``*.trc`` anywhere under it: the Butterworth-filtered one when there are
  several (``reference`` picks another); marker names and axes as :mod:`phymo.data.markers` reads them.

Each camera is one sequence: its video goes through :func:`phymo.app.pipeline.run_pipeline`, exactly
as ``phymo reconstruct VIDEO`` would run it (detection, camera and height guesses, kinematic fit,
physics, every output under ``OUT/runs/<camera>``). The calibration enters only with
``use_calibration``, and then only as that camera's intrinsics. The markers become the truth in the
run's world through the calibration's extrinsics of that camera (:mod:`.truth`), with TRC row
``f`` taken as video frame ``f``. Each record also notes the height and focal length the run used, how
it got them, and what the markers (height, :func:`phymo.data.markers.marker_height`) and the
calibration (focal length; the lab floor's tilt from the run's ground) say.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from phymo.app.pipeline import PipelineConfig, run_pipeline
from phymo.data import DataFormatError, InputNotFoundError

from .truth import Truth, run_sample
from .types import EvalConfig, Sample, SequenceSpec

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv")


@dataclass(frozen=True)
class Trial:
    """A trial's calibration file, its markers (TRC) and its videos by calibration camera name."""

    calibration: Path
    markers: Path
    videos: dict[str, Path]


def _key(name: str) -> str:
    return re.sub(r"[\s_\-]", "", name).lower()


def _pick(paths: list[Path], what: str, root: Path, fix: str) -> Path:
    if len(paths) != 1:
        listed = ", ".join(str(p.relative_to(root)) for p in paths)
        raise DataFormatError(f"{root}: " + (f"several {what} ({listed}); {fix}" if paths else f"no {what} under it"))
    return paths[0]


def find_trial(root: str | Path, reference: str | Path | None = None) -> Trial:
    """The calibration, markers and matched videos of the trial folder ``root`` (see the module docstring)."""
    from phymo.pose import read_calibration

    root = Path(root)
    if not root.is_dir():
        raise InputNotFoundError(f"{root}: no such folder (a multi-view trial: calibration, videos/, a .trc)")
    files = sorted(p for p in root.rglob("*") if p.is_file())
    tomls = [p for p in files if p.suffix == ".toml" and p.name.lower().startswith("calib")]
    qcas = [p for p in files if p.name.lower().endswith(".qca.txt")]
    calibration = _pick(tomls or qcas, "calibration files", root, "keep one")
    if reference is not None:
        markers = Path(reference)
        if not markers.is_file():
            raise InputNotFoundError(f"{markers}: no such file (--reference names the markers' .trc)")
    else:
        trcs = [p for p in files if p.suffix.lower() == ".trc"]
        filtered = [p for p in trcs if "butterworth" in p.name.lower()]
        markers = _pick(filtered if len(trcs) > 1 and filtered else trcs, "marker files (.trc)", root,
                        "name one with --reference FILE")
    cameras = {_key(n): n for n in read_calibration(calibration)}
    videos = {}
    for v in files:
        if v.suffix.lower() in VIDEO_SUFFIXES and _key(v.stem) in cameras:
            videos[cameras[_key(v.stem)]] = v
    if not videos:
        names = list(cameras.values())
        raise DataFormatError(f"{root}: no video named after a camera of {calibration.name} ({', '.join(names)}); "
                              f"expected e.g. videos/{names[0]}.mp4")
    return Trial(calibration, markers, dict(sorted(videos.items())))


def camera_specs(cfg: EvalConfig) -> list[SequenceSpec]:
    """One job per camera with a video: ``source = (video, camera name, calibration, markers)``."""
    trial = find_trial(cfg.root, cfg.reference)
    return [SequenceSpec(name, name, (str(video), name, str(trial.calibration), str(trial.markers)))
            for name, video in trial.videos.items()]


def marker_truth(markers: str | Path, calibration: str | Path, camera: str, width: int, height: int) -> Truth:
    """The markers of a trial as the truth of one camera's view (lab frame, that camera's extrinsics)."""
    from phymo.data import markers_to_canonical, read_trc, trc_to_lab
    from phymo.pose import load_calibration

    points, joints = markers_to_canonical(read_trc(markers))
    return Truth(trc_to_lab(points), load_calibration(calibration, camera, width, height), tuple(joints), True,
                 f"triangulated markers, {markers}")


def camera_sample(spec: SequenceSpec, cfg: EvalConfig, work: Path | None = None) -> Sample:
    """Reconstruct one camera's video with the whole pipeline into ``work`` and score it against the markers."""
    if work is None:
        with tempfile.TemporaryDirectory(prefix="phymo-multiview-") as tmp:
            return camera_sample(spec, cfg, Path(tmp))
    from phymo.data import marker_height
    from phymo.pose import probe_video

    video, camera, calibration, markers = spec.source
    info = probe_video(video)
    config = PipelineConfig(optimizer=cfg.optimizer, physics=cfg.physics,
                            end=None if cfg.max_frames is None else cfg.max_frames / info.fps,
                            calibration=calibration if cfg.use_calibration else None,
                            camera=camera if cfg.use_calibration else None)
    report = run_pipeline(work, config, video=Path(video), resume=True)
    truth = marker_truth(markers, calibration, camera, info.width, info.height)
    sample = run_sample(work, truth)
    guesses = report["input"]["guesses"]
    up_run, up_lab = sample.obs.camera.R[:, 2], truth.camera.R[:, 2]  # each world's up in the camera's axes
    sample.info = {"run": str(work), "height_m": guesses["height_m"], "height_source": guesses["height_source"],
                   "height_markers_m": marker_height(truth.positions), "focal_px": guesses["focal_px"],
                   "focal_source": guesses["focal_source"], "focal_calibration_px": truth.camera.fx,
                   "ground_tilt_deg": float(np.degrees(np.arccos(np.clip(up_run @ up_lab, -1.0, 1.0))))}
    return sample


def format_cameras(records: list[dict]) -> str:
    """Markdown: per camera, the height and focal length the run used beside the markers' and the calibration's,
    the angle between the run's ground and the lab floor, and the unaligned error in the camera frame
    (``mpjpe_cam``, mm) they drive."""
    lines = ["| camera | height m (source) | markers m | focal px (source) | calibration px | ground tilt deg | "
             "mpjpe_cam kin | mpjpe_cam phys |", "|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r.get("status") != "ok":
            continue
        i = r["info"]
        lines.append(f"| {r['id']} | {i['height_m']:.3f} ({i['height_source']}) | {i['height_markers_m']:.3f} | "
                     f"{i['focal_px']:.0f} ({i['focal_source']}) | {i['focal_calibration_px']:.0f} | "
                     f"{i['ground_tilt_deg']:.1f} | "
                     f"{r['kinematic']['mpjpe_cam']:.1f} | {r['physics']['mpjpe_cam']:.1f} |")
    return "\n".join(lines) + "\n"


def report(records: list[dict], summary: dict) -> tuple[dict, str]:
    """What a multi-view evaluation adds to its summary: the per-camera table of :func:`format_cameras`."""
    return {}, "\n" + format_cameras(records)
