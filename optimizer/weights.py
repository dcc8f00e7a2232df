"""Save and load learned-optimizer weights with a format/version/architecture header (offline).

File layout (a plain dict, loadable with ``torch.load(..., weights_only=True)``)::

    {"format": "phymo-optimizer-weights", "version": 1,
     "arch": {"name": "optimus", <config fields>}, "meta": {...}, "state_dict": {...float32...}}
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import torch

from phymo.data import PhymoError

FORMAT = "phymo-optimizer-weights"
VERSION = 1
WEIGHTS_DIR = Path(__file__).parent / "weights"


class WeightsError(PhymoError):
    """A weights file is missing, of another format/version, or for another architecture."""


def _archs():
    from .learned_baselines import AdafacMLP, AdafacMLPConfig, Metz2020, Metz2020Config, Mnemosyne, MnemosyneConfig
    from .optimus import Optimus, OptimusConfig
    return {"optimus": (Optimus, OptimusConfig), "adafac_mlp": (AdafacMLP, AdafacMLPConfig),
            "metz2020": (Metz2020, Metz2020Config), "mnemosyne": (Mnemosyne, MnemosyneConfig)}


def save(net: torch.nn.Module, path: str | Path, meta: dict | None = None) -> None:
    """Write ``net``'s weights as float32 with its architecture header."""
    sd = {k: v.detach().to("cpu", torch.float32).clone() for k, v in net.state_dict().items()}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "version": VERSION, "arch": net.arch(), "meta": meta or {}, "state_dict": sd},
               path)


def load(path: str | Path, expect: str | None = None) -> torch.nn.Module:
    """Build the network named in the header of ``path`` and load its weights (CPU, float32).

    ``expect`` (e.g. ``"optimus"``) checks the architecture name. Raises :class:`WeightsError`
    with the file and the fix on any mismatch.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file; meta-train with `phymo meta-train` or use the shipped "
                           f"weights in {WEIGHTS_DIR}")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not our format"
        raise WeightsError(f"{path}: not a phymo optimizer weights file ({type(exc).__name__}: {exc})") from exc
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise WeightsError(f"{path}: not a phymo optimizer weights file (missing header {FORMAT!r})")
    if blob.get("version") != VERSION:
        raise WeightsError(f"{path}: weights format version {blob.get('version')} but this phymo reads version "
                           f"{VERSION}; re-export the weights with this version")
    arch = dict(blob["arch"])
    name = arch.pop("name", None)
    if expect is not None and name != expect:
        raise WeightsError(f"{path}: weights are for architecture {name!r}, expected {expect!r}")
    archs = _archs()
    if name not in archs:
        raise WeightsError(f"{path}: unknown architecture {name!r}; known: {sorted(archs)}")
    cls, cfg_cls = archs[name]
    known = {f.name for f in fields(cfg_cls)}
    if set(arch) != known:
        raise WeightsError(f"{path}: architecture fields {sorted(arch)} do not match {name} fields {sorted(known)}")
    net = cls(cfg_cls(**arch))
    try:
        net.load_state_dict(blob["state_dict"])
    except RuntimeError as exc:
        raise WeightsError(f"{path}: weights do not fit the {name} architecture in its header: {exc}") from exc
    return net


def shipped_path(name: str, tasks: str = "functions") -> Path:
    """The shipped weights of ``name`` for a task domain: ``<name>_physics.pt`` for ``tasks="physics"`` where
    they exist (meta-trained on physics windows), else ``<name>.pt`` (meta-trained on test functions)."""
    if tasks not in ("functions", "physics"):
        raise ValueError(f"unknown task domain {tasks!r} (functions or physics)")
    physics = WEIGHTS_DIR / f"{name}_physics.pt"
    return physics if tasks == "physics" and physics.is_file() else WEIGHTS_DIR / f"{name}.pt"


def load_shipped(name: str, tasks: str = "functions") -> torch.nn.Module:
    """The default weights shipped in ``optimizer/weights/`` for ``tasks`` (see :func:`shipped_path`)."""
    return load(shipped_path(name, tasks), expect=name)
