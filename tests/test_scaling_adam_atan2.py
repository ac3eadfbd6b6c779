"""Adam-atan2: exact scale invariance, agreement with Adam where atan2 is linear, reference package."""

import math

import pytest
import torch
from torch import nn

from infwidth.scaling.adam_atan2 import AdamAtan2


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)).double()


def _train(model, opt, scale, steps=20, seed=1, noise=0.0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 5, generator=g, dtype=torch.float64)
    y = torch.randn(32, 1, generator=g, dtype=torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        idx = torch.randint(0, 32, (8,), generator=g) if noise else torch.arange(32)
        loss = scale * ((model(x[idx]) - y[idx]) ** 2).mean()
        loss.backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


@pytest.mark.parametrize("scale", [1e-12, 1e-4, 1e6])
def test_scale_invariance(scale):
    """Multiplying the loss by s > 0 multiplies every gradient by s: atan2 cancels it exactly."""
    ref = _train(m := _model(), AdamAtan2(m.parameters(), lr=1e-2), 1.0)
    got = _train(m := _model(), AdamAtan2(m.parameters(), lr=1e-2), scale)
    assert torch.allclose(ref, got, rtol=1e-9, atol=1e-12)


def test_adam_is_not_scale_invariant_with_eps():
    """Sanity check that the invariance test can fail: Adam's eps breaks it for tiny gradients."""
    ref = _train(m := _model(), torch.optim.Adam(m.parameters(), lr=1e-2, eps=1e-8), 1.0)
    got = _train(m := _model(), torch.optim.Adam(m.parameters(), lr=1e-2, eps=1e-8), 1e-12)
    assert not torch.allclose(ref, got, rtol=1e-3)


def test_matches_adam_in_the_linear_regime():
    """b = 1000 keeps |m_hat| / (b sqrt(v_hat)) <= 1e-3, where atan2(x, y) = x / y (1 + O(1e-6)):
    Adam-atan2 with (lr, a, b) equals Adam(eps=0) with lr * a / b."""
    lr, a, b = 1e-2, 1.27, 1000.0
    got = _train(m := _model(), AdamAtan2(m.parameters(), lr=lr, a=a, b=b), 1.0, noise=1.0)
    ref = _train(m := _model(), torch.optim.Adam(m.parameters(), lr=lr * a / b, eps=0.0), 1.0, noise=1.0)
    start = torch.cat([p.detach().flatten() for p in _model().parameters()])
    assert torch.allclose(got - start, ref - start, rtol=1e-4, atol=1e-12)


def test_first_step_is_adams_sign_step():
    """Step 1: m_hat / sqrt(v_hat) = sign(g), so the step is lr * a * atan(1) = lr * 1.27 * pi / 4."""
    p = nn.Parameter(torch.tensor([1.0, -2.0], dtype=torch.float64))
    opt = AdamAtan2([p], lr=0.1)
    p.grad = torch.tensor([3e-9, -5e4], dtype=torch.float64)
    opt.step()
    step = 0.1 * 1.27 * math.pi / 4
    assert torch.allclose(p.detach(), torch.tensor([1.0 - step, -2.0 + step], dtype=torch.float64))


def test_decoupled_weight_decay_with_zero_gradient():
    p = nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = AdamAtan2([p], lr=0.1, weight_decay=0.5)
    p.grad = torch.zeros(3, dtype=torch.float64)
    opt.step()  # atan2(0, 0) = 0: only the decay acts
    assert torch.allclose(p.detach(), torch.full((3,), 1 - 0.1 * 0.5, dtype=torch.float64))


def test_agrees_with_adam_atan2_pytorch():
    ref_pkg = pytest.importorskip("adam_atan2_pytorch")
    kw = {"lr": 3e-3, "betas": (0.9, 0.99), "weight_decay": 0.1, "a": 1.27, "b": 1.0}
    ours = _train(m := _model(), AdamAtan2(m.parameters(), **kw), 1.0, noise=1.0)
    theirs = _train(m := _model(), ref_pkg.AdamAtan2(m.parameters(), **kw), 1.0, noise=1.0)
    assert torch.allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_rejects_bad_constants():
    with pytest.raises(ValueError):
        AdamAtan2([nn.Parameter(torch.zeros(1))], b=0.0)
