"""Rung 1 of ``phymo bench own-feet`` on a fixed subset of training clips, with settings overridden from the
command line: how the planner's and the refinement's settings in docs/results.md ("The body stands on its
own") were chosen. Not product code: the product measures with its defaults (``phymo bench own-feet``).

    python notebooks/own_feet/harness.py TAG FRAMES '{"planner": {"samples": 64}, "optimizer": {"steps": 0}}' \\
        [walk_happy,run_tired,...]

prints one line per clip and a summary, and writes /tmp/own_feet_TAG.json.
"""

import json
import sys

import numpy as np

from phymo.app.benchmarks.own_feet import rung1_row
from phymo.data import MocapCorpus, data_root
from phymo.optimizer import OptimizerConfig
from phymo.physics import PlannerConfig, ReconstructConfig, ServoConfig, WindowConfig

#: the subset: two walks of the Bandai set, the SFU walk, a run, a dash and a kick
CLIPS = ["walk_happy", "walk-left", "run_tired", "dash_active", "0005_Walking", "kick_normal"]


def main(tag: str, frames: int, overrides: dict, clips: list[str]) -> None:
    physics = ReconstructConfig(planner=PlannerConfig(**overrides.get("planner", {})),
                                servo=ServoConfig(**overrides.get("servo", {})),
                                windows=WindowConfig(**overrides.get("windows", {})))
    optimizer = OptimizerConfig(**overrides.get("optimizer", {}))
    files = [f for f in MocapCorpus(data_root()).split("train") if any(c in f.name for c in clips)]
    rows = []
    for f in files:
        r = rung1_row(f, f.name, frames, physics, optimizer)
        rows.append(r)
        print(f"{tag} {f.name[:32]:32s} mpjpe {r['mpjpe_mm']:5.1f} global {r['mpjpe_global_mm']:6.1f} "
              f"skating {r['skating']:.2f} (truth {r['skating_truth']:.2f}) fell {r['fell_at']} "
              f"assisted {r['assisted_windows']} cpu/s {r['cpu_s_per_video_s']:5.1f}", flush=True)
    mp = [r["mpjpe_mm"] for r in rows]
    skating = np.mean([r["skating"] for r in rows])
    print(f"{tag} SUMMARY mpjpe median {np.median(mp):.1f} mean {np.mean(mp):.1f} max {np.max(mp):.1f}, global mean "
          f"{np.mean([r['mpjpe_global_mm'] for r in rows]):.1f}, skating mean {skating:.3f}"
          f", assisted {sum(r['assisted_windows'] for r in rows)}, fell {sum(r['fell_at'] is not None for r in rows)}"
          f", cpu/s mean {np.mean([r['cpu_s_per_video_s'] for r in rows]):.1f}", flush=True)
    with open(f"/tmp/own_feet_{tag}.json", "w") as f:
        json.dump(rows, f)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3]) if len(sys.argv) > 3 else {},
         sys.argv[4].split(",") if len(sys.argv) > 4 else CLIPS)
