"""SMPL model files: found, read, checked and turned into a layer and a joint model (tiny model the tests write)."""

import numpy as np
import pytest
import torch
from _smpl_model import REST_JOINTS, tiny_smpl_data, write_model

from phymo.data import DataFormatError, InputNotFoundError
from phymo.data.skeleton import SMPL_24_PARENTS
from phymo.data.smpl_model import joint_model, load_smpl_layer, smpl_joints


@pytest.fixture
def model_dir(tmp_path):
    write_model(tmp_path / "smpl_models")
    return tmp_path / "smpl_models"


@pytest.mark.parametrize("ext", ["pkl", "npz"])
def test_layer_loads_and_joint_model_matches_smplx_lbs(tmp_path, ext):
    from smplx.lbs import lbs

    write_model(tmp_path, ext=ext)
    layer = load_smpl_layer(tmp_path, batch_size=3)
    assert layer.v_template.shape == (192, 3) and layer.J_regressor.shape == (24, 192)
    assert layer.num_betas == 10 and layer.betas.shape == (3, 10)
    assert layer.parents.tolist() == [-1, *SMPL_24_PARENTS[1:]]
    np.testing.assert_allclose(layer.J_regressor.numpy() @ layer.v_template.numpy(), REST_JOINTS, atol=1e-6)

    g = torch.Generator().manual_seed(1)
    betas = torch.randn(3, 10, generator=g)
    pose = 0.4 * torch.randn(3, 72, generator=g)
    transl = torch.randn(3, 3, generator=g)
    _, oracle = lbs(betas, pose, layer.v_template, layer.shapedirs, layer.posedirs, layer.J_regressor,
                    layer.parents, layer.lbs_weights)
    jt, jd = joint_model(layer, torch.float32, "cpu")
    for i in range(3):
        ours, _ = smpl_joints(jt, jd, betas[i], pose[i:i + 1, :3], pose[i:i + 1, 3:], transl[i:i + 1])
        np.testing.assert_allclose(ours[0].numpy(), (oracle[i] + transl[i]).numpy(), atol=1e-5)


def test_missing_folder_names_it_and_the_fix(tmp_path):
    with pytest.raises(InputNotFoundError, match="does not exist") as info:
        load_smpl_layer(tmp_path / "nowhere")
    assert "nowhere" in str(info.value) and "smpl.is.tue.mpg.de" in str(info.value)


def test_missing_gender_file(model_dir):
    with pytest.raises(InputNotFoundError, match="no SMPL_FEMALE.pkl or SMPL_FEMALE.npz") as info:
        load_smpl_layer(model_dir, gender="female")
    assert str(model_dir) in str(info.value) and "SMPL_NEUTRAL.pkl" in str(info.value)
    with pytest.raises(ValueError, match="gender"):
        load_smpl_layer(model_dir, gender="robot")


def test_wrong_keys_shapes_or_content(tmp_path):
    data = tiny_smpl_data()
    del data["J_regressor"]
    write_model(tmp_path / "a", data=data)
    with pytest.raises(DataFormatError, match="missing keys J_regressor"):
        load_smpl_layer(tmp_path / "a")
    data = tiny_smpl_data()
    data["weights"] = data["weights"][:, :20]
    write_model(tmp_path / "b", data=data)
    with pytest.raises(DataFormatError, match=r"weights must be \(192, 24\)"):
        load_smpl_layer(tmp_path / "b")
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "SMPL_NEUTRAL.pkl").write_bytes(b"not a pickle")
    with pytest.raises(DataFormatError, match="SMPL_NEUTRAL.pkl"):
        load_smpl_layer(tmp_path / "c")
