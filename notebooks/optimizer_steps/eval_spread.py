"""Mean and range over sequences of a few physics figures of ``phymo evaluate`` runs, side by side (issue 27).

    .venv/bin/python notebooks/optimizer_steps/eval_spread.py OUT_DIR [OUT_DIR ...]

Each ``OUT_DIR`` is an ``phymo evaluate -o`` folder; its ``sequences.jsonl`` holds every sequence's figures.
"""

import json
import sys
from pathlib import Path

import numpy as np

FIGURES = ("mpjpe", "pa_mpjpe", "mpjpe_2d", "foot_skating", "floating_mm", "residual_share", "evaluations")


def main(folders: list[str]) -> None:
    print("| run | " + " | ".join(FIGURES) + " |")
    print("|---" * (len(FIGURES) + 1) + "|")
    for folder in folders:
        rows = [json.loads(line) for line in (Path(folder) / "sequences.jsonl").read_text().splitlines()]
        cells = []
        for key in FIGURES:
            v = np.array([r["physics"][key] for r in rows if r["status"] == "ok"], dtype=float)
            cells.append(f"{v.mean():.3g} [{v.min():.3g}, {v.max():.3g}]")
        print(f"| {Path(folder).name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
