"""Where the shared data lives: real clips and motion capture that stay outside the repository.

One function, read when called (never at import): the environment variable ``PHYMO_DATA`` when set, else
``../shared/data`` beside the repository (``INDEX.md`` there lists sources and terms). The command line,
the benchmarks and the tests all find the data through it.
"""

from __future__ import annotations

import os
from pathlib import Path

#: the environment variable that moves the data root
ENV = "PHYMO_DATA"


def data_root() -> Path:
    """The shared data folder: ``$PHYMO_DATA``, else ``../shared/data`` next to the repository root."""
    given = os.environ.get(ENV)
    return Path(given) if given else Path(__file__).resolve().parents[2] / "shared" / "data"
