"""Fixtures every test file may use: the one way the tests find the shared data (real clips, motion capture), and
one multi-view evaluation of the trial shipped for the demo that several tests read."""

from pathlib import Path

import pytest

from phymo.data import data_root


@pytest.fixture(scope="session")
def shared_data():
    """``shared_data(*parts) -> Path`` below :func:`phymo.data.data_root` (``$PHYMO_DATA``, else
    ``../shared/data``); the test is skipped where that path is absent (``required=False``: None instead), so
    the default run needs none of it."""
    root = data_root()

    def find(*parts: str, required: bool = True) -> Path | None:
        path = root.joinpath(*parts)
        if not path.exists():
            if not required:
                return None
            pytest.skip(f"shared data not present: {path}")
        return path

    return find


#: ``phymo evaluate`` on the first 30 frames of the trial shipped for the demo, its calibrated intrinsics given
MULTIVIEW_ARGS = ("--dataset", "multiview", "--max-frames", "30", "--optimizer", "adam", "--steps", "2",
                  "--samples", "16", "--iterations", "2", "--window", "16", "--use-calibration")


@pytest.fixture(scope="session")
def multiview_demo(tmp_path_factory) -> Path:
    """The output folder of :data:`MULTIVIEW_ARGS` run once (``runs/cam01`` holds the pipeline's run and cache)."""
    from phymo.app.commands import cli
    from phymo.app.demo.run import DEMO_CLIP

    out = tmp_path_factory.mktemp("multiview") / "eval"
    assert cli.main(["evaluate", *MULTIVIEW_ARGS, "--root", str(DEMO_CLIP), "-o", str(out)]) == 0
    return out
