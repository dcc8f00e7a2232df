"""Feature extraction (optimizer/features.py) against hand-computed values on a tiny vector."""

import math

import torch

from phymo.optimizer import features as F


def test_features_match_hand_computed_values_after_one_update():
    g = torch.tensor([1.0, -2.0], dtype=torch.float64)
    x = torch.tensor([0.5, 3.0], dtype=torch.float64)
    acc = F.update_accumulators(F.init_accumulators(x), g)
    # one EMA step from zero: m_b = (1-b) g, v = 0.001 g^2, f_b = (1-b) g^2, t = 1
    assert torch.allclose(acc["m"][1], 0.01 * g)
    assert torch.allclose(acc["v"], 0.001 * g * g)
    assert torch.allclose(acc["f"][0], 0.1 * g * g)
    assert float(acc["t"]) == 1.0
    raw = F.raw_features(acc, g, x)
    assert raw.shape == (2, F.N_FEATURES)
    assert torch.allclose(raw[:, 0], g) and torch.allclose(raw[:, 1], x)
    assert torch.allclose(raw[:, 6], torch.tensor([1 / math.sqrt(0.001 + 1e-8), 1 / math.sqrt(0.004 + 1e-8)],
                                                  dtype=torch.float64))
    # m_0.9 * rsqrt(v) = 0.1 g / sqrt(0.001 g^2 + eps)
    want7 = torch.tensor([0.1 / math.sqrt(0.001 + 1e-8), -0.2 / math.sqrt(0.004 + 1e-8)], dtype=torch.float64)
    assert torch.allclose(raw[:, 7], want7)
    # flat vector: factored slots fall back to the diagonal accumulators
    assert torch.allclose(raw[:, 22:25], raw[:, 10:13]) and torch.allclose(raw[:, 25:28], raw[:, 10:13])
    feats = F.features(acc, g, x)
    assert feats.shape == (2, F.N_INPUTS)
    # RMS normalisation: g / sqrt(mean g^2) with mean g^2 = 2.5
    assert torch.allclose(feats[:, 0], g / math.sqrt(2.5 + 1e-8))
    # x / sqrt(mean x^2), mean x^2 = (0.25 + 9) / 2
    assert torch.allclose(feats[:, 1], x / math.sqrt(4.625 + 1e-8))
    # time features tanh(t/tau - 1) at t = 1
    want_t = torch.tensor([math.tanh(1 / tau - 1) for tau in F.TIME_SCALES], dtype=torch.float64)
    assert torch.allclose(feats[0, F.N_FEATURES:], want_t) and torch.allclose(feats[1, F.N_FEATURES:], want_t)
    assert abs(float(feats[0, F.N_FEATURES])) < 1e-12          # tau = 1: tanh(0)


def test_adam_direction_is_bias_corrected():
    g = torch.tensor([3.0, -0.5], dtype=torch.float64)
    acc = F.update_accumulators(F.init_accumulators(g), g)
    # after one step Adam's direction is g / (|g| + eps) = sign(g)
    assert torch.allclose(F.adam_direction(acc), torch.sign(g), atol=1e-6)


def test_update_is_pure():
    x = torch.zeros(3)
    acc = F.init_accumulators(x)
    F.update_accumulators(acc, torch.ones(3))
    assert float(acc["m"].abs().sum()) == 0.0 and float(acc["t"]) == 0.0
