"""``phymo demo``: the whole pipeline on a real clip shipped with phymo, scored against its 3D truth.

The clip (:data:`DEMO_CLIP`, package data) is one view of a Pose2Sim trial, BSD-3-Clause, see its
``SOURCE.md`` and ``LICENSE``: ``videos/cam01.mp4`` (a person balancing, 100 frames at 60 fps, portrait
1080x1920), the trial's Qualisys calibration and its triangulated, Butterworth-filtered markers. The
demo runs it exactly as ``phymo reconstruct videos/cam01.mp4`` would (the real detector, the usual
camera and height guesses; the calibration is not given to the reconstruction) and scores the
kinematic and physics results against the markers (:mod:`phymo.app.evaluation.multiview`,
:mod:`phymo.app.evaluation.truth`). ``synthetic=True`` runs the synthesized walk instead (:mod:`.synthetic`).

``truth.json``: ``{"reference": what the truth is, "kinematic": {"mpjpe", "pa_mpjpe", "mpjpe_g"},
"physics": {...}}``, millimetres, as :func:`phymo.app.evaluation.truth.truth_errors` measures them.
"""

from __future__ import annotations

from pathlib import Path

from phymo.app.evaluation.multiview import find_trial, marker_truth
from phymo.app.evaluation.truth import Truth, run_sample, truth_errors
from phymo.app.pipeline import PipelineConfig, run_pipeline
from phymo.data import atomic_write_json

from .synthetic import walk_truth, write_demo_input

#: the shipped trial folder (multiview layout), package data of ``phymo.app``
DEMO_CLIP = Path(__file__).resolve().parents[1] / "demo_clip"
DEMO_CAMERA = "cam01"


def clip_truth(width: int, height: int) -> Truth:
    """The shipped clip's markers as the truth of its camera's view."""
    trial = find_trial(DEMO_CLIP)
    return marker_truth(trial.markers, trial.calibration, DEMO_CAMERA, width, height)


def run_demo(out: Path, config: PipelineConfig, synthetic: bool = False, duration_s: float = 3.0,
             resume: bool = False) -> tuple[dict, dict]:
    """Run the demo into ``out``; returns the pipeline's report and ``truth.json``'s content."""
    if synthetic:
        video, keypoints = write_demo_input(out / "input", duration_s=duration_s)
        report = run_pipeline(out, config, video=video, keypoints=keypoints, resume=resume)
        truth = walk_truth(duration_s)
    else:
        video = DEMO_CLIP / "videos" / f"{DEMO_CAMERA}.mp4"
        report = run_pipeline(out, config, video=video, resume=resume)
        truth = clip_truth(report["input"]["width"], report["input"]["height"])
    scores = {"reference": truth.reference, **truth_errors(run_sample(out, truth))}
    atomic_write_json(out / "truth.json", scores)
    return report, scores
