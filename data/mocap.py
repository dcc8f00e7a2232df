"""A motion-capture corpus: a folder of BVH files with deterministic train/validation/test splits.

Splits are by file, so frames of one clip never land in two splits. Each file goes to a split by
the SHA-256 of its path relative to the corpus root (POSIX form): the first 8 bytes as a fraction
``u`` in ``[0, 1)``; ``u < 0.8`` is train, ``u < 0.9`` validation, the rest test (the defaults of
:data:`DEFAULT_FRACTIONS`). The assignment does not depend on the machine, the folder's location,
the listing order or on which other files exist, so adding clips never moves old ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import InputNotFoundError
from .motion import Motion
from .retarget import load_bvh_motion

SPLITS = ("train", "validation", "test")
#: Fractions of files per split, in :data:`SPLITS` order.
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


def split_of(relative_path: str, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> str:
    """The split of a file given its POSIX path relative to the corpus root."""
    digest = hashlib.sha256(relative_path.encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0**64
    edge = 0.0
    for name, frac in zip(SPLITS, fractions, strict=True):
        edge += frac
        if u < edge:
            return name
    return SPLITS[-1]


class MocapCorpus:
    """All ``*.bvh`` files under ``root`` (recursive, case-insensitive suffix), split by file.

    Args:
        root: the corpus folder.
        fractions: train/validation/test fractions, non-negative, summing to 1.
    """

    def __init__(self, root: str | Path, fractions: tuple[float, float, float] = DEFAULT_FRACTIONS) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputNotFoundError(f"{self.root}: mocap corpus folder does not exist")
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-9:
            raise ValueError(f"split fractions must be three non-negative numbers summing to 1, got {fractions}")
        self.fractions = tuple(float(f) for f in fractions)

    def files(self) -> list[Path]:
        """Every BVH file in the corpus, sorted by relative path."""
        found = (p for p in self.root.rglob("*") if p.suffix.lower() == ".bvh" and p.is_file())
        return sorted(found, key=lambda p: p.relative_to(self.root).as_posix())

    def split(self, name: str) -> list[Path]:
        """The files of split ``name`` (``"train"``, ``"validation"`` or ``"test"``; ``"all"``: every file), sorted."""
        if name == "all":
            return self.files()
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; expected one of {SPLITS} or 'all'")
        return [p for p in self.files() if split_of(p.relative_to(self.root).as_posix(), self.fractions) == name]

    def load(self, path: str | Path) -> Motion:
        """One clip retargeted to the canonical skeleton (Z up, metres); ``path`` absolute or corpus-relative."""
        p = Path(path)
        return load_bvh_motion(p if p.is_absolute() else self.root / p)
