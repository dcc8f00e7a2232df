"""The user's SMPL model files: found, read and checked, as an smplx layer, and SMPL's joints without vertices.

SMPL model files are licensed; phymo never downloads them. The user passes a folder holding
``SMPL_NEUTRAL.pkl`` / ``SMPL_MALE.pkl`` / ``SMPL_FEMALE.pkl`` (or ``.npz`` with the same arrays),
as smplx expects (``DIR/smpl/`` is also searched). Shapes and frames are SMPL's own (Y up, metres);
:mod:`phymo.data.smpl` fits the model to a motion in phymo's world.
"""

from __future__ import annotations

import contextlib
import io
import pickle
from pathlib import Path

import numpy as np

from .errors import DataFormatError, InputNotFoundError
from .skeleton import SMPL_24_PARENTS

GENDERS = ("neutral", "male", "female")
NUM_JOINTS = 24

_REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
_HOW_TO_GET = ("phymo never downloads SMPL: download it from https://smpl.is.tue.mpg.de, rename the files to "
               "SMPL_NEUTRAL.pkl / SMPL_MALE.pkl / SMPL_FEMALE.pkl and pass --smpl-model DIR")


def find_model_file(model_dir: str | Path, gender: str = "neutral") -> Path:
    """The ``SMPL_<GENDER>.pkl`` or ``.npz`` file in ``model_dir`` (or ``model_dir/smpl``); a file path is kept."""
    if gender not in GENDERS:
        raise ValueError(f"SMPL gender must be one of {', '.join(GENDERS)}, got {gender!r}")
    root = Path(model_dir).expanduser()
    if not root.exists():
        raise InputNotFoundError(f"{root}: SMPL model folder does not exist; {_HOW_TO_GET}")
    if root.is_file():
        return root
    stem = f"SMPL_{gender.upper()}"
    for folder in (root, root / "smpl"):
        for ext in (".pkl", ".npz"):
            if (folder / f"{stem}{ext}").is_file():
                return folder / f"{stem}{ext}"
    present = sorted(p.name for p in root.iterdir() if p.suffix in (".pkl", ".npz"))
    seen = f" (found: {', '.join(present)})" if present else ""
    raise InputNotFoundError(f"no {stem}.pkl or {stem}.npz in {root}{seen}; {_HOW_TO_GET}")


def read_model_data(path: str | Path) -> dict:
    """The arrays of an SMPL model file (``.pkl`` as smplx reads it, or ``.npz``), checked for keys and shapes."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=True) as npz:  # the user's own model file
                data = {k: npz[k] for k in npz.files}
        else:
            with open(path, "rb") as fh:
                data = pickle.load(fh, encoding="latin1")
    except ModuleNotFoundError as exc:
        raise DataFormatError(
            f"{path}: the SMPL file needs the Python module {exc.name!r} to unpickle (the original SMPL v1.0 files "
            "hold chumpy arrays); convert it with smplx's tools/clean_ch.py or use the v1.1 files") from exc
    except (pickle.UnpicklingError, EOFError, ValueError, OSError) as exc:
        raise DataFormatError(f"{path}: not a readable SMPL model file ({exc})") from exc
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise DataFormatError(f"{path}: not an SMPL model, missing keys {', '.join(missing)} "
                              f"(needs {', '.join(_REQUIRED)})")
    _check_shapes(path, data)
    return data


def _shape(a) -> tuple[int, ...]:
    return tuple(getattr(a, "shape", np.shape(a)))


def _check_shapes(path: Path, data: dict) -> None:
    v = _shape(data["v_template"])
    if len(v) != 2 or v[1] != 3:
        raise DataFormatError(f"{path}: v_template must be (V, 3), got {v}")
    n = v[0]
    expected = {
        "shapedirs": (lambda s: len(s) == 3 and s[:2] == (n, 3) and s[2] >= 1, f"({n}, 3, B)"),
        "posedirs": (lambda s: s in ((n, 3, 207), (n * 3, 207)), f"({n}, 3, 207)"),
        "J_regressor": (lambda s: s == (NUM_JOINTS, n), f"({NUM_JOINTS}, {n})"),
        "weights": (lambda s: s == (n, NUM_JOINTS), f"({n}, {NUM_JOINTS})"),
        "kintree_table": (lambda s: s == (2, NUM_JOINTS), f"(2, {NUM_JOINTS})"),
        "f": (lambda s: len(s) == 2 and s[1] == 3, "(F, 3)"),
    }
    for key, (ok, want) in expected.items():
        if not ok(_shape(data[key])):
            raise DataFormatError(f"{path}: {key} must be {want} for an SMPL model, got {_shape(data[key])}")
    parents = np.asarray(data["kintree_table"])[0].astype(np.int64)
    if tuple(int(p) for p in parents[1:]) != SMPL_24_PARENTS[1:]:
        raise DataFormatError(f"{path}: kintree_table is not SMPL's 24-joint tree")


def load_smpl_layer(model_dir: str | Path, gender: str = "neutral", batch_size: int = 1, num_betas: int = 10):
    """An ``smplx.SMPL`` layer (float32, CPU) built from the user's model file for ``gender``.

    Raises:
        InputNotFoundError: the folder or the gender's file is missing (the message says how to get it).
        DataFormatError: the file is unreadable or lacks SMPL's arrays.
    """
    import smplx
    from smplx.utils import Struct

    path = find_model_file(model_dir, gender)
    data = read_model_data(path)
    # smplx prints a warning for models with fewer than 300 shape components (every SMPL release).
    with contextlib.redirect_stdout(io.StringIO()):
        return smplx.SMPL(model_path=str(path), data_struct=Struct(**data), gender=gender, batch_size=batch_size,
                          num_betas=num_betas)


def joint_model(layer, dtype, device) -> tuple:
    """Joint-only SMPL: ``j_template (24, 3)`` and ``j_dirs (24, 3, B)`` tensors, metres, SMPL's frame.

    The rest joints are ``J(betas) = j_template + j_dirs @ betas``, exactly (no vertices needed).
    """
    import torch

    reg = layer.J_regressor.to(device=device, dtype=dtype)
    j_template = reg @ layer.v_template.to(device=device, dtype=dtype)
    j_dirs = torch.einsum("jv,vcb->jcb", reg, layer.shapedirs.to(device=device, dtype=dtype))
    return j_template, j_dirs


def smpl_joints(j_template, j_dirs, betas, global_orient, body_pose, transl):
    """``(T, 24, 3)`` posed SMPL joints and ``(T, 24, 3, 3)`` local rotations, as smplx's ``lbs`` computes them.

    Args: rest joints ``j_template (24, 3)`` and ``j_dirs (24, 3, B)``; ``betas (B,)``; rotation vectors
    ``global_orient (T, 3)``, ``body_pose (T, 69)``; ``transl (T, 3)``. Torch tensors, metres, radians.
    """
    import torch
    from smplx.lbs import batch_rigid_transform, batch_rodrigues

    t = global_orient.shape[0]
    rest = (j_template + torch.einsum("jcb,b->jc", j_dirs, betas)).expand(t, NUM_JOINTS, 3)
    rot = batch_rodrigues(torch.cat([global_orient, body_pose], dim=-1).reshape(-1, 3)).reshape(t, NUM_JOINTS, 3, 3)
    parents = torch.tensor(SMPL_24_PARENTS, device=rest.device)
    posed, _ = batch_rigid_transform(rot, rest, parents, dtype=rest.dtype)
    return posed + transl[:, None, :], rot


__all__ = ["GENDERS", "NUM_JOINTS", "find_model_file", "joint_model", "load_smpl_layer", "read_model_data",
           "smpl_joints"]
