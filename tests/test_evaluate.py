"""Evaluation orchestration: protocol numbers on a miniature Human3.6M tree, streaming/resume, faults, Ray."""

import dataclasses
import functools
import json
import os
import pickle
import signal
import types
from pathlib import Path

import numpy as np
import pytest

from phymo.app import evaluation as ev
from phymo.app.demo.run import DEMO_CLIP
from phymo.data import CANONICAL, ConfigError, PhymoError, walking_motion
from phymo.data.bvh import write_bvh
from phymo.data.h36m import CAMERA_IDS, H36MDataset
from phymo.data.metrics import FOOT_CONTACT, FOOT_JOINTS
from phymo.data.skeleton import H36M_17, H36M_17_FROM_32
from phymo.optimizer import OptimizerConfig
from phymo.physics import PlannerConfig, ReconstructConfig, SimulationConfig, WindowConfig

FAST = ReconstructConfig(windows=WindowConfig(window=8, overlap=2), simulation=SimulationConfig(threads=1),
                         planner=PlannerConfig(samples=16, iterations=2))
ADAM = OptimizerConfig(name="adam", steps=1)


def _h36m_tree(root: Path) -> dict:
    """A miniature Human3.6M root: 3D file (two subjects, three clips) and a karfly camera file."""
    clips = {("S9", "Walking 1"): 0.6, ("S9", "Eating"): 0.5, ("S11", "Walking"): 0.7}
    positions = {}
    for (subject, action), duration in clips.items():
        motion = walking_motion(duration, 50.0)
        p17 = H36M_17.from_canonical(motion.positions() + [0.0, 0.0, 0.02])
        p32 = np.repeat(p17[:, :1], 32, axis=1)
        p32[:, list(H36M_17_FROM_32)] = p17
        positions.setdefault(subject, {})[action] = p32.astype(np.float32)
    np.savez(root / "data_3d_h36m.npz", positions_3d=positions)
    K = [[1145.0, 0.0, 512.0], [0.0, 1144.0, 515.0], [0.0, 0.0, 1.0]]
    # camera 4 m in front (-Y looking +Y), 1 m up: world (x, y, z) -> camera (x, -z + 1, y + 4), millimetres
    R = [[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]]
    cams = {"intrinsics": {c: {"calibration_matrix": K} for c in CAMERA_IDS},
            "extrinsics": {s: {c: {"R": R, "t": [[0.0], [1000.0], [4000.0]]} for c in CAMERA_IDS}
                           for s in ("S9", "S11")}}
    (root / "camera-parameters.json").write_text(json.dumps(cams))
    return clips



def fake_result(motion, frames: int):
    """A stand-in for a physics result: ``motion`` (anything with ``positions()``), no windows, no residual."""
    return types.SimpleNamespace(motion=motion, windows=(), residual_force=np.zeros(frames), body_weight_n=687.0,
                                 standing_heights=FOOT_CONTACT.standing(FOOT_JOINTS))


def identity_reconstruct(obs, *args, **kwargs):
    """A stand-in for physics that returns the kinematic estimate unchanged."""
    return fake_result(obs.kinematic, obs.num_frames)

def test_h36m_protocol_numbers_match_hand_computed(tmp_path):
    _h36m_tree(tmp_path)
    cfg = ev.EvalConfig("h36m", str(tmp_path), cameras=(0, 2), physics=FAST, optimizer=ADAM)
    specs = ev.list_sequences(cfg)
    assert [s.id for s in specs][:2] == ["S9/Eating/54138969", "S9/Eating/58860488"] and len(specs) == 6
    assert {s.action for s in specs} == {"Walking", "Eating"}
    ds = H36MDataset(tmp_path, downsample=2)
    gt = {ev.sequence_seed(0, s.id): (s.source[0], ds.positions_17(*s.source[:2])) for s in specs}
    scale = {"S9": 1.1, "S11": 1.2}
    shift = np.array([0.03, -0.04, 0.0])

    def fake_reconstruct(obs, config, solver, cache_dir=None, body=None):
        subject, g17 = gt[obs.meta["seed"]]  # prediction: ground truth scaled about the pelvis, then shifted
        s = scale[subject]
        pred17 = g17[:, :1] + s * (g17 - g17[:, :1]) + shift
        motion = dataclasses.make_dataclass("M", [])()
        motion.positions = lambda: H36M_17.to_canonical(pred17)[0]
        return fake_result(motion, len(pred17))

    job = functools.partial(ev.evaluate_sequence, cfg=cfg, reconstruct_fn=fake_reconstruct)
    summary = ev.run_evaluation(cfg, tmp_path / "out", job_fn=job)

    def per_frame(subject, action):  # by hand: the mean distance of each joint from the pelvis
        g = ds.positions_17(subject, action)
        radial = np.mean([np.linalg.norm(g[:, j] - g[:, 0], axis=-1) for j in range(17)], axis=0)
        glob = np.mean([np.linalg.norm((scale[subject] - 1) * (g[:, j] - g[:, 0]) + shift, axis=-1)
                        for j in range(17)], axis=0)
        return (scale[subject] - 1) * radial * 1000, glob * 1000

    walk = [per_frame("S9", "Walking 1"), per_frame("S11", "Walking")]
    eat = per_frame("S9", "Eating")
    for k, key in enumerate(("mpjpe", "mpjpe_g")):
        walking = np.concatenate([w[k] for w in walk]).mean()  # frames pooled over clips (cameras repeat them)
        assert summary["physics"]["per_action"]["Walking"][key] == pytest.approx(walking, rel=1e-9)
        assert summary["physics"][key] == pytest.approx((walking + eat[k].mean()) / 2, rel=1e-9)
    assert summary["physics"]["pa_mpjpe"] == pytest.approx(0.0, abs=1e-6)
    assert summary["count"] == {"ok": 6, "failed": 0} and len(summary["sequences"]) == 6
    for kind in ("kinematic", "physics"):
        assert set(ev.METRICS) <= set(summary[kind]) and all(np.isfinite(summary[kind][m]) for m in ev.METRICS)
    on_disk = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert on_disk["physics"]["mpjpe"] == pytest.approx(summary["physics"]["mpjpe"])
    table = (tmp_path / "out" / "summary.md").read_text()
    assert "| Walking |" in table
    ours = summary["physics"]
    row = f"| phymo physics (this run) | {ours['mpjpe']:.1f} | {ours['mpjpe_g']:.1f} | {ours['pa_mpjpe']:.1f} |"
    assert row in table
    assert "| DiffPhy (Gärtner et al., CVPR 2022) | 81.7 | 139.1 | 55.6 |" in table
    assert on_disk["published"] == ev.PUBLISHED_H36M


def test_h36m_with_dataset_2d_keypoints(tmp_path):
    _h36m_tree(tmp_path)
    ds = H36MDataset(tmp_path)
    cams = [ds.camera("S9", c) for c in range(4)]
    p2d = {"S9": {a: [c.project(ds.positions_17("S9", a)) for c in cams] for a in ds.actions("S9")}}
    np.savez(tmp_path / "data_2d_h36m_gt.npz", positions_2d=p2d, metadata={"num_joints": 17})
    cfg = ev.EvalConfig("h36m", str(tmp_path), subjects=("S9",), cameras=(1,), actions=("Eating",),
                        keypoints="gt", max_frames=10)
    (spec,) = ev.list_sequences(cfg)
    rec = ev.evaluate_sequence(spec, cfg, reconstruct_fn=identity_reconstruct)
    assert rec["num_frames"] == 10 and rec["physics"]["mpjpe"] == rec["kinematic"]["mpjpe"] < 150.0
    sample = ev.DATASETS["h36m"].load(spec, cfg, None)
    expected, _ = H36M_17.to_canonical(p2d["S9"]["Eating"][1][::2][:10])
    np.testing.assert_allclose(sample.obs.keypoints_2d, expected)


def _aist_tree(root: Path) -> None:
    """A miniature AIST++ root: one sequence's 3D keypoints (COCO-17, Y up, cm) and its camera c01."""
    from scipy.spatial.transform import Rotation

    from phymo.data import COCO_17

    seq = "gWA_sBM_cAll_d25_mWA0_ch01"
    for d in ("keypoints3d", "cameras"):
        (root / d).mkdir()
    coco = COCO_17.from_canonical(walking_motion(0.5, 60.0).positions())
    coco = np.where(np.isnan(coco), coco[:, :1], coco)  # eyes and ears at the nose
    file_frame = np.stack([coco[..., 0], coco[..., 2], -coco[..., 1]], axis=-1) * 100.0  # Y up, cm
    with (root / "keypoints3d" / f"{seq}.pkl").open("wb") as f:
        pickle.dump({"keypoints3d": file_frame, "keypoints3d_optim": file_frame}, f)
    R = np.array([[1.0, 0, 0], [0, -1, 0], [0, 0, -1]])  # looks along -Z of the file frame from z = 600 cm
    cam = {"name": "c01", "size": [1920, 1080], "matrix": [[1600.0, 0, 960], [0, 1600, 540], [0, 0, 1]],
           "distortions": [0.0] * 5, "rotation": Rotation.from_matrix(R).as_rotvec().tolist(),
           "translation": (-R @ np.array([0.0, 90.0, 600.0])).tolist()}
    (root / "cameras" / "setting1.json").write_text(json.dumps([cam]))
    (root / "cameras" / "mapping.txt").write_text(f"{seq} setting1\n")


def test_aist_sequence_runs(tmp_path):
    _aist_tree(tmp_path)
    cfg = ev.EvalConfig("aist", str(tmp_path))
    (spec,) = ev.list_sequences(cfg)
    rec = ev.evaluate_sequence(spec, cfg, reconstruct_fn=identity_reconstruct)
    assert spec.action == "gWA" and rec["fps"] == 30.0 and rec["num_frames"] == 15
    assert 0 < rec["kinematic"]["mpjpe"] < 150.0 and rec["kinematic"]["mpjpe_2d"] < 50.0


def _corpus(root: Path, n: int = 2, corrupt: bool = True) -> None:
    for i in range(n):
        write_bvh(root / f"walk_{i}.bvh", walking_motion(0.5 + 0.1 * i, 30.0, cadence_hz=0.8 + 0.2 * i))
    if corrupt:
        (root / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n{ OFFSET 0 0\n")


#: a tiny root of every dataset, made here; multiview: the trial shipped for the demo (see ``multiview_demo``)
ROOTS = {"mocap": lambda root: _corpus(root, n=1, corrupt=False) or root,
         "h36m": lambda root: _h36m_tree(root) and root,
         "aist": lambda root: _aist_tree(root) or root,
         "multiview": lambda root: DEMO_CLIP}
#: the settings of each dataset's job in the contract test: multiview's are the ``multiview_demo`` run's, so that
#: its pipeline run is resumed, not made again
CONTRACT = {name: {"max_frames": 13, "split": "all", "physics": FAST, "optimizer": ADAM} for name in ROOTS} | {
    "multiview": {"max_frames": 30, "use_calibration": True, "optimizer": dataclasses.replace(ADAM, steps=2),
                  "physics": ReconstructConfig(windows=WindowConfig(window=16))}}


def test_every_dataset_is_covered_by_the_contract():
    assert set(ROOTS) == set(ev.DATASETS)


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_every_dataset_keeps_the_contract(name, tmp_path, request):
    """Each entry lists picklable jobs with distinct ids and turns one into a sample whose truth, kinematic estimate
    (and physics result, where the dataset brings one) cover the same frames and the scored joints; its report
    adds a dict and Markdown; the options only it reads are fields of the configuration."""
    entry = ev.DATASETS[name]
    assert isinstance(entry, ev.Dataset)
    assert set(entry.options) <= {f.name for f in dataclasses.fields(ev.EvalConfig)}
    cfg = ev.EvalConfig(name, str(ROOTS[name](tmp_path)), **CONTRACT[name])
    runs = request.getfixturevalue("multiview_demo") / "runs" if name == "multiview" else tmp_path / "runs"
    specs = entry.specs(cfg)
    assert specs and len({s.id for s in specs}) == len(specs)
    assert all(isinstance(s, ev.SequenceSpec) and pickle.loads(pickle.dumps(s)) == s for s in specs)
    sample = entry.load(specs[0], cfg, runs / specs[0].id)
    frames = sample.obs.num_frames
    assert isinstance(sample, ev.Sample) and 3 <= frames <= cfg.max_frames
    assert sample.gt.shape == sample.obs.kinematic_positions().shape == (frames, CANONICAL.num_joints, 3)
    assert len(set(sample.joints)) == len(sample.joints) and all(0 <= j < CANONICAL.num_joints for j in sample.joints)
    assert np.isfinite(sample.gt[:, sample.joints]).all()
    if sample.physics is not None:
        assert sample.physics.shape == sample.gt.shape and set(sample.plausibility) == set(ev.KINDS)
    record = ev.evaluate_sample(specs[0], sample, cfg, reconstruct_fn=identity_reconstruct)
    entries, markdown = entry.report([record], ev.summarize([record]))
    assert isinstance(entries, dict) and isinstance(markdown, str)


def test_the_options_of_one_dataset_are_refused_by_the_others(tmp_path):
    with pytest.raises(ConfigError, match="^use_calibration applies to dataset multiview only"):
        ev.list_sequences(ev.EvalConfig("mocap", str(tmp_path), use_calibration=True))


def test_summary_does_not_depend_on_the_order_jobs_finish(tmp_path):
    """Ray hands results back as they finish; the summary must not change with that order (not even in the
    last bit: sums run in the dataset's order)."""
    class Reversed(ev.SequentialRunner):
        def run(self, specs, job_fn, on_result):
            super().run(specs[::-1], job_fn, on_result)

    (tmp_path / "bvh").mkdir()
    for i in range(5):
        write_bvh(tmp_path / "bvh" / f"walk_{i}.bvh", walking_motion(0.5 + 0.1 * i, 30.0, cadence_hz=0.7 + 0.15 * i))
    cfg = ev.EvalConfig("mocap", str(tmp_path / "bvh"), split="all", max_frames=12, physics=FAST, optimizer=ADAM)
    job = functools.partial(ev.evaluate_sequence, cfg=cfg, reconstruct_fn=identity_reconstruct)
    forward = ev.run_evaluation(cfg, tmp_path / "forward", job_fn=job)
    backward = ev.run_evaluation(cfg, tmp_path / "backward", runner=Reversed(), job_fn=job)
    for kind in ("kinematic", "physics"):
        for m in ev.METRICS:
            assert backward[kind][m] == forward[kind][m], (kind, m)
    assert [r["id"] for r in backward["sequences"]] == [r["id"] for r in forward["sequences"]]


def test_mocap_run_records_failure_and_resumes(tmp_path):
    _corpus(tmp_path)
    cfg = ev.EvalConfig("mocap", str(tmp_path), split="all", max_frames=12, physics=FAST, optimizer=ADAM)
    summary = ev.run_evaluation(cfg, tmp_path / "out")
    assert summary["count"] == {"ok": 2, "failed": 1}
    assert summary["failed"][0]["id"] == "broken.bvh" and "Error" in summary["failed"][0]["error"]
    for kind in ("kinematic", "physics"):
        assert all(np.isfinite(summary[kind][m]) for m in ev.METRICS)
    phys = summary["sequences"][1]["physics"]
    assert phys["steps"] >= 2 and phys["wall_s"] > 0 and np.isfinite(phys["residual_force_n"])
    calls = []
    ev.run_evaluation(cfg, tmp_path / "out", job_fn=lambda s: calls.append(s.id) or ev.failed_record(s, "again"))
    assert calls == ["broken.bvh"]  # finished sequences are skipped, the failed one is retried
    with (tmp_path / "out" / "sequences.jsonl").open("a") as f:
        f.write('{"id": "walk_0.bvh", "stat')  # a write cut by a crash
    assert set(ev.read_results(tmp_path / "out" / "sequences.jsonl")) == {"walk_0.bvh", "walk_1.bvh", "broken.bvh"}


def test_optimizer_comparison_traces_each_optimizer(tmp_path):
    _corpus(tmp_path, n=1, corrupt=False)
    cfg = ev.EvalConfig("mocap", str(tmp_path), split="all", max_frames=10, compare=("adam", "lbfgs"),
                        optimizer=dataclasses.replace(ADAM, steps=2),
                        physics=dataclasses.replace(FAST, windows=WindowConfig(window=10, overlap=2)))
    ev.run_evaluation(cfg, tmp_path / "out")
    comp = json.loads((tmp_path / "out" / "optimizers.json").read_text())
    assert set(comp) == {"adam", "lbfgs"}
    for c in comp.values():
        curve = np.array(c["loss_vs_evaluation"])
        assert len(curve) >= 2 and np.all(np.diff(curve) <= 1e-12) and c["windows"] == 1
        assert np.all(np.diff(c["seconds_vs_evaluation"]) >= 0)
    assert len(comp["lbfgs"]["loss_vs_evaluation"]) > len(comp["adam"]["loss_vs_evaluation"])
    assert "| lbfgs | 1 |" in (tmp_path / "out" / "summary.md").read_text()


def test_unknown_names_fail_clearly(tmp_path):
    with pytest.raises(PhymoError, match=r"unknown dataset 'kitti'; choose one of \['aist', 'h36m', 'mocap'"):
        ev.list_sequences(ev.EvalConfig("kitti", str(tmp_path)))
    with pytest.raises(PhymoError, match="unknown optimizer"):
        OptimizerConfig(name="sgd-with-wings")
    with pytest.raises(PhymoError, match="unknown optimizer"):
        ev.EvalConfig("mocap", str(tmp_path), compare=("adam", "sgd-with-wings"))


def test_cli_evaluate_mocap(tmp_path, capsys):
    from phymo.app.commands.cli import main

    _corpus(tmp_path, n=1, corrupt=False)
    rc = main(["evaluate", "--dataset", "mocap", "--root", str(tmp_path), "--split", "all", "--max-frames", "8",
               "--window", "8", "--overlap", "2", "--steps", "1", "--samples", "16", "--iterations", "2",
               "-o", str(tmp_path / "out")])
    assert rc == 0 and "| **all** |" in capsys.readouterr().out
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["physics"]["windows"]["window"] == 8 and config["optimizer"]["steps"] == 1


def test_ray_runner_survives_killed_worker_and_failed_job(tmp_path):
    ray = pytest.importorskip("ray")
    marker = tmp_path / "killed_once"

    def job(spec):
        if spec.id == "crash" and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-job; Ray retries it
        if spec.id == "always-crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if spec.id == "corrupt":
            raise ValueError("corrupt sequence file")
        return {"id": spec.id, "action": "a", "status": "ok", "pid": os.getpid()}

    specs = [ev.SequenceSpec(i, "a", ()) for i in ("ok", "crash", "corrupt", "always-crash")]
    got = []
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ev.RayRunner(2, max_retries=1).run(specs, job, got.append)
    finally:
        ray.shutdown()
    by_id = {r["id"]: r for r in got}
    assert set(by_id) == {"ok", "crash", "corrupt", "always-crash"} and marker.exists()
    assert by_id["ok"]["status"] == by_id["crash"]["status"] == "ok"
    assert by_id["corrupt"]["status"] == "failed" and "corrupt sequence file" in by_id["corrupt"]["error"]
    assert by_id["always-crash"]["status"] == "failed" and "worker lost" in by_id["always-crash"]["error"]


@pytest.mark.slow
def test_ray_and_sequential_agree_on_held_out_mocap(tmp_path, shared_data):
    pytest.importorskip("ray")
    cfg = ev.EvalConfig("mocap", str(shared_data()), max_frames=16, max_sequences=3, physics=FAST, optimizer=ADAM)
    seq = ev.run_evaluation(cfg, tmp_path / "seq")
    par = ev.run_evaluation(cfg, tmp_path / "ray", runner=ev.RayRunner(2))
    for kind in ("kinematic", "physics"):
        for m in ev.METRICS:
            assert par[kind][m] == seq[kind][m], (kind, m)  # bit for bit: same work, sums in the same order


def test_comparison_counts_evaluations_to_reach_lbfgs():
    lbfgs = {"events": [(0, 0, 5.0, 0.1), (0, 1, 3.0, 0.3)], "iterations": 1, "wall_s": 0.3}
    adam = {"events": [(0, 0, 5.0, 0.05), (0, 1, 4.0, 0.1), (0, 2, 2.9, 0.15)], "iterations": 3, "wall_s": 0.15}
    slow = {"events": [(0, 0, 5.0, 0.05), (0, 1, 3.5, 0.1)], "iterations": 2, "wall_s": 0.1}
    out = ev.compare_optimizers([{"id": "s", "optimizers": {"lbfgs": lbfgs, "adam": adam, "slow": slow}}])
    assert (out["adam"]["evaluations_to_lbfgs"], out["adam"]["seconds_to_lbfgs"]) == (3, 0.15)
    assert (out["lbfgs"]["evaluations_to_lbfgs"], out["lbfgs"]["seconds_to_lbfgs"]) == (2, 0.3)
    assert out["slow"]["evaluations_to_lbfgs"] is None
    assert "| adam | 1 | 3 | 3 |" in ev.format_comparison(out)


def test_a_split_without_files_is_one_clear_error(tmp_path, capsys):
    """Every file of this corpus falls in the train split: evaluating the default (test) split must not
    "succeed" with 0 sequences; the error names the split, the files per split and --split all."""
    from phymo.app.commands.cli import main
    from phymo.data.mocap import split_of

    for name in ("walk_0.bvh", "walk_1.bvh"):
        assert split_of(name) == "train"
        write_bvh(tmp_path / name, walking_motion(0.5, 30.0))
    rc = main(["evaluate", "--dataset", "mocap", "--root", str(tmp_path), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and err.startswith("phymo evaluate: error: ")
    assert "no BVH file in the 'test' split" in err and "train 2, validation 0, test 0" in err
    assert "--split all" in err
    assert not (tmp_path / "out").exists()  # no empty summary
