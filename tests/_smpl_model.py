"""A tiny, format-correct SMPL model file for tests (real SMPL files are licensed and never needed)."""

import pickle

import numpy as np
import scipy.sparse

from phymo.data.skeleton import SMPL_24_PARENTS

# Rest joints of an adult SMPL-like body in SMPL's native frame (Y up, facing +Z, left +X), metres.
REST_JOINTS = np.array([
    [0.000, -0.240, 0.029], [0.059, -0.327, 0.019], [-0.060, -0.331, 0.021], [0.004, -0.117, -0.002],
    [0.104, -0.709, 0.025], [-0.105, -0.713, 0.021], [0.008, 0.022, 0.032], [0.090, -1.113, -0.018],
    [-0.092, -1.113, -0.022], [0.005, 0.078, 0.031], [0.115, -1.168, 0.104], [-0.115, -1.170, 0.108],
    [-0.001, 0.290, -0.016], [0.081, 0.192, -0.009], [-0.081, 0.190, -0.005], [0.002, 0.366, 0.032],
    [0.170, 0.225, -0.018], [-0.171, 0.224, -0.015], [0.428, 0.213, -0.041], [-0.429, 0.212, -0.041],
    [0.680, 0.222, -0.035], [-0.684, 0.219, -0.037], [0.766, 0.213, -0.053], [-0.769, 0.211, -0.055],
])
_CUBE = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=float) * 0.02
_CUBE_FACES = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                        [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])


def tiny_smpl_data(seed: int = 0, sparse_regressor: bool = True) -> dict:
    """SMPL's arrays for a body of 24 small cubes (8 vertices each) around the joints.

    Each joint is regressed as the mean of its cube, so ``J_regressor @ v_template`` is REST_JOINTS;
    betas move whole cubes (beta 0 scales the body), so they change bone lengths.
    """
    rng = np.random.default_rng(seed)
    v = (REST_JOINTS[:, None, :] + _CUBE[None]).reshape(-1, 3)
    n = len(v)
    owner = np.repeat(np.arange(24), 8)
    per_joint = rng.normal(scale=0.015, size=(24, 3, 10))
    per_joint[:, :, 0] = 0.05 * REST_JOINTS
    regressor = np.zeros((24, n))
    regressor[owner, np.arange(n)] = 1.0 / 8
    kintree = np.array([[2**32 - 1, *SMPL_24_PARENTS[1:]], np.arange(24)], dtype=np.uint32)
    return {
        "v_template": v,
        "shapedirs": per_joint[owner],
        "posedirs": rng.normal(scale=1e-3, size=(n, 3, 207)),
        "J_regressor": scipy.sparse.csc_matrix(regressor) if sparse_regressor else regressor,
        "weights": np.eye(24)[owner],
        "kintree_table": kintree,
        "f": (np.arange(24)[:, None, None] * 8 + _CUBE_FACES[None]).reshape(-1, 3).astype(np.uint32),
        "vert_sym_idxs": np.arange(n),  # real files carry extra keys; they must be ignored
    }


def write_model(folder, gender="neutral", data=None, ext="pkl"):
    folder.mkdir(parents=True, exist_ok=True)
    data = tiny_smpl_data() if data is None else data
    path = folder / f"SMPL_{gender.upper()}.{ext}"
    if ext == "npz":
        np.savez(path, **{k: (v.toarray() if scipy.sparse.issparse(v) else v) for k, v in data.items()})
    else:
        path.write_bytes(pickle.dumps(data, protocol=2))
    return path
