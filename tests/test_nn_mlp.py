"""AbcMLP: exact init/update scales of TP4's abc definition, losses, and decoupled backprop (Section 6.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infwidth.errors import InfwidthError
from infwidth.nn import AbcMLP
from infwidth.parametrization import AbcParametrization, mfp, mup, ntp, sp, sp_stable

F64 = torch.float64

PARAMS = [
    sp(2),
    sp_stable(2),
    ntp(2),
    mup(2),
    AbcParametrization(["1/4", "-1/3", "3/4"], ["-1/4", "5/6", "-1/4"], "2/3", "odd"),
]


@pytest.mark.parametrize("p", PARAMS, ids=lambda p: p.name)
@pytest.mark.parametrize("n", [64, 256])
def test_init_variances_and_multipliers(p: AbcParametrization, n: int) -> None:
    """w^l ~ N(0, sigma_l^2 n^{-2 b_l}) and W^l = alpha_l n^{-a_l} w^l (chi-square tolerance 6 sd)."""
    alphas, sigmas = [1.5, 0.5, 2.0], [0.7, 1.3, 0.9]
    net = AbcMLP(p, n, d_in=40, d_out=30, alphas=alphas, sigmas=sigmas, dtype=F64, seed=3)
    for l in range(1, 4):
        w = net.weights[l - 1].detach()
        target = sigmas[l - 1] ** 2 * n ** (-2 * float(p.b[l - 1]))
        rel_sd = math.sqrt(2.0 / w.numel())
        assert abs(float(w.pow(2).mean()) / target - 1) < 6 * rel_sd
        assert abs(float(w.mean())) < 6 * math.sqrt(target / w.numel())
        assert net.multiplier(l) == pytest.approx(alphas[l - 1] * n ** (-float(p.a[l - 1])), rel=1e-14)
        assert torch.equal(net.effective_weight(l), net.multiplier(l) * w)
    assert net.lr_scale == pytest.approx(n ** (-float(p.c)), rel=1e-14)


def test_default_constants_give_pytorch_lecun_init() -> None:
    """SP with the default sigmas is PyTorch's fan-in init: Var W^1 = 1/d_in, Var W^l = 1/n."""
    n, d = 512, 20
    net = AbcMLP(sp(2), n, d_in=d, d_out=200, dtype=F64, seed=0)
    for l, fan_in in [(1, d), (2, n), (3, n)]:
        var = float(net.effective_weight(l).pow(2).mean())
        assert var * fan_in == pytest.approx(1.0, abs=6 * math.sqrt(2 / net.weights[l - 1].numel()))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _hand_step(Ws: list[np.ndarray], xi: np.ndarray, y: np.ndarray, mults: list[float], lrs: list[float]
               ) -> list[np.ndarray]:
    """Effective weights after one SGD step on 1/2 |f - y|^2, relu MLP, batch 1 (numpy, by hand).

    Delta W^l = mult_l * Delta w^l = -lr_l * mult_l^2 * dh^l (x^{l-1})^T (TP4 Section 3).
    """
    xs, hs = [xi], []
    for W in Ws[:-1]:
        hs.append(W @ xs[-1])
        xs.append(_relu(hs[-1]))
    f = Ws[-1] @ xs[-1]
    dh = f - y  # chi
    new = [W.copy() for W in Ws]
    for l in range(len(Ws) - 1, -1, -1):
        new[l] = Ws[l] - lrs[l] * mults[l] ** 2 * np.outer(dh, xs[l])
        if l > 0:
            dh = (Ws[l].T @ dh) * (hs[l - 1] > 0)
    return new


@pytest.mark.parametrize("p", PARAMS + [mfp(1)], ids=lambda p: p.name)
@pytest.mark.parametrize("n", [32, 128])
def test_one_sgd_step_matches_hand_formula(p: AbcParametrization, n: int) -> None:
    """One SGD step (float64) equals W^l - eta_l n^{-c} alpha_l^2 n^{-2 a_l} dh^l x^{l-1 T} exactly."""
    L = p.depth
    alphas = [1.0 + 0.25 * l for l in range(L + 1)]
    net = AbcMLP(p, n, d_in=5, d_out=2, alphas=alphas, dtype=F64, seed=11)
    g = torch.Generator().manual_seed(5)
    xi = torch.randn(1, 5, generator=g, dtype=F64)
    y = torch.randn(1, 2, generator=g, dtype=F64)
    etas = [0.3 + 0.1 * l for l in range(L + 1)]
    Ws = [net.effective_weight(l).numpy().copy() for l in range(1, L + 2)]
    mults = [alphas[l] * n ** (-float(p.a[l])) for l in range(L + 1)]
    lrs = [e * n ** (-float(p.c)) for e in etas]
    expected = _hand_step(Ws, xi[0].numpy(), y[0].numpy(), mults, lrs)
    loss = net.sgd_step(xi, y, etas)
    f0 = Ws[-1] @ _relu(Ws[-2] @ _relu(Ws[0] @ xi[0].numpy())) if L == 2 else None
    if f0 is not None:
        assert loss == pytest.approx(0.5 * float(((f0 - y[0].numpy()) ** 2).sum()), rel=1e-12)
    for l in range(1, L + 2):
        got = net.effective_weight(l).numpy()
        scale = np.abs(expected[l - 1] - Ws[l - 1]).max()
        assert scale > 0
        np.testing.assert_allclose(got - Ws[l - 1], expected[l - 1] - Ws[l - 1], rtol=1e-9, atol=1e-12 * scale)


@pytest.mark.parametrize("p", [mup(2), ntp(3), sp_stable(2)], ids=lambda p: p.name)
def test_eq5_symmetry_gives_identical_training(p: AbcParametrization) -> None:
    """Eq. (5): (a + theta, b - theta, c - 2 theta) trains to the same f_t at every width (float64)."""
    n, d = 96, 4
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(3, d, generator=g, dtype=F64), torch.randn(3, 1, generator=g, dtype=F64)
    nets = [AbcMLP(q, n, d, dtype=F64, seed=7) for q in (p, p.shift("1/3"), p.shift(-1))]
    for _ in range(3):
        for net in nets:
            net.sgd_step(X, Y, 0.5)
    outs = [net(X).detach() for net in nets]
    assert not torch.allclose(outs[0], AbcMLP(p, n, d, dtype=F64, seed=7)(X).detach())
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0], rtol=1e-10, atol=1e-12)


def test_per_layer_learning_rates_fold_into_abc() -> None:
    """Per-layer LR n^{-c_l} on (a, b) equals training AbcParametrization.from_per_layer_lr with one c."""
    n, d = 64, 3
    base = mup(2)
    c_layers = ["1/2", 0, 1]
    folded = AbcParametrization.from_per_layer_lr(base.a, base.b, c_layers)
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(2, d, generator=g, dtype=F64), torch.randn(2, 1, generator=g, dtype=F64)
    a = AbcMLP(base, n, d, dtype=F64, seed=4)
    b = AbcMLP(folded, n, d, dtype=F64, seed=4)
    assert a.lr_scale == 1.0  # mup has c = 0, so eta_l is the whole per-layer LR eta n^{-c_l}
    etas = [0.7 * n ** (-float(AbcParametrization(base.a, base.b, cl).c)) for cl in c_layers]
    for _ in range(2):
        a.sgd_step(X, Y, etas)
        b.sgd_step(X, Y, 0.7)
    torch.testing.assert_close(a(X), b(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["mse", "logistic", "xent"])
def test_manual_backprop_matches_autograd(loss: str) -> None:
    """Hand-written backprop from the closed-form chi equals autograd for every loss and phi."""
    n, d = 48, 6
    g = torch.Generator().manual_seed(2)
    X = torch.randn(5, d, generator=g, dtype=F64)
    Y = {"mse": torch.randn(5, 3, generator=g, dtype=F64),
         "logistic": torch.randint(0, 2, (5, 3), generator=g) * 2.0 - 1,
         "xent": torch.randint(0, 3, (5,), generator=g)}[loss]
    for phi in ["relu", "tanh", "gelu", "square", "identity"]:
        a = AbcMLP(mup(3), n, d, d_out=3, phi=phi, dtype=F64, seed=9)
        b = AbcMLP(mup(3), n, d, d_out=3, phi=phi, dtype=F64, seed=9)
        la, lb = a.sgd_step(X, Y, 0.2, loss), b.sgd_step_manual(X, Y, 0.2, loss)
        assert la == pytest.approx(lb, rel=1e-12)
        for wa, wb in zip(a.weights, b.weights):
            torch.testing.assert_close(wa, wb, rtol=1e-10, atol=1e-13)


def test_loss_values_closed_forms() -> None:
    """Loss conventions: MSE = 1/2 sum (f - y)^2 averaged over the batch; xent = -log softmax."""
    from infwidth.nn.losses import loss_value

    f = torch.tensor([[1.0, 2.0], [0.0, -1.0]], dtype=F64)
    y = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=F64)
    assert float(loss_value(f, y, "mse")) == pytest.approx((0.5 * 5 + 0.5 * 5) / 2)
    cls = torch.tensor([1, 0])
    expected = (-math.log(math.exp(2) / (math.exp(1) + math.exp(2))) - math.log(1 / (1 + math.exp(-1)))) / 2
    assert float(loss_value(f, cls, "xent")) == pytest.approx(expected)
    assert float(loss_value(f, torch.sign(y - 0.5), "logistic")) == pytest.approx(
        (math.log1p(math.exp(1)) + math.log1p(math.exp(2)) + math.log1p(math.exp(0)) + math.log1p(math.exp(1))) / 2)


def test_decoupled_backprop_changes_only_the_backward_pass() -> None:
    """Section 6.2: same forward pass and same readout/middle gradients; the first-layer gradient uses W~."""
    n, d = 80, 3
    g = torch.Generator().manual_seed(3)
    X, Y = torch.randn(4, d, generator=g, dtype=F64), torch.randn(4, 1, generator=g, dtype=F64)
    plain = AbcMLP(mup(2), n, d, dtype=F64, seed=21)
    dec = AbcMLP(mup(2), n, d, dtype=F64, seed=21, decoupled_backprop=True)
    torch.testing.assert_close(plain(X), dec(X), rtol=0, atol=0)
    gp = torch.autograd.grad(0.5 * ((plain(X) - Y) ** 2).sum(), list(plain.weights))
    gd = torch.autograd.grad(0.5 * ((dec(X) - Y) ** 2).sum(), list(dec.weights))
    torch.testing.assert_close(gp[2], gd[2], rtol=0, atol=0)
    torch.testing.assert_close(gp[1], gd[1], rtol=1e-14, atol=1e-15)
    assert not torch.allclose(gp[0], gd[0], rtol=1e-3)
    # the first-layer gradient is exactly the one obtained with W~ = W~^T copy in place of W^2 (Eq. (20))
    m = [dec.multiplier(l) for l in (1, 2, 3)]
    with torch.no_grad():
        feats = dec.features(X)
        chi = dec(X) - Y
        dh2 = (chi @ dec.effective_weight(3)) * (feats["h"][1] > 0)
        dx1 = dh2 @ (m[1] * dec._wtilde[1])
        expected = m[0] * ((dx1 * (feats["h"][0] > 0)).T @ X)
    torch.testing.assert_close(gd[0], expected, rtol=1e-12, atol=1e-14)


def test_decoupled_training_matches_manual_and_reduces_to_plain() -> None:
    """Decoupled SGD: autograd equals the hand-written Eq. (20)-(21) backprop; with W~ = W_0 it is plain SGD."""
    n, d = 64, 3
    g = torch.Generator().manual_seed(4)
    X, Y = torch.randn(2, d, generator=g, dtype=F64), torch.randn(2, 1, generator=g, dtype=F64)
    a = AbcMLP(mup(3), n, d, dtype=F64, seed=5, decoupled_backprop=True)
    b = AbcMLP(mup(3), n, d, dtype=F64, seed=5, decoupled_backprop=True)
    c = AbcMLP(mup(3), n, d, dtype=F64, seed=5, decoupled_backprop=True)
    p = AbcMLP(mup(3), n, d, dtype=F64, seed=5)
    for i in c._wtilde:
        c._wtilde[i] = c._w0[i].clone()
    for _ in range(3):
        a.sgd_step(X, Y, 0.5)
        b.sgd_step_manual(X, Y, 0.5)
        c.sgd_step(X, Y, 0.5)
        p.sgd_step(X, Y, 0.5)
    torch.testing.assert_close(a(X), b(X), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(c(X), p(X), rtol=1e-10, atol=1e-12)
    assert not torch.allclose(a(X), p(X), rtol=1e-4)
    # the forward pass of a trained decoupled net is the ordinary one with its current weights
    with torch.no_grad():
        z = X
        for l in (1, 2, 3):
            z = torch.relu(z @ a.effective_weight(l).T)
        torch.testing.assert_close(a(X), z @ a.effective_weight(4).T)


def test_float32_and_biases_run() -> None:
    """float32 and biases work; biases start at zero so the initial function is unchanged."""
    x = torch.randn(3, 4)
    with_b = AbcMLP(mup(2), 32, 4, d_out=2, bias=True, seed=1)
    without = AbcMLP(mup(2), 32, 4, d_out=2, seed=1)
    assert with_b(x).dtype == torch.float32
    torch.testing.assert_close(with_b(x), without(x))
    before = with_b(x).detach().clone()
    with_b.sgd_step(x, torch.tensor([0, 1, 1]), 0.1, loss="xent")
    assert not torch.allclose(before, with_b(x))
    assert float(with_b.biases[-1].detach().abs().sum()) > 0


def test_bad_inputs_raise_clear_errors() -> None:
    with pytest.raises(InfwidthError):
        AbcMLP(mup(2), 16, 3, phi="nope")
    with pytest.raises(InfwidthError):
        AbcMLP(mup(2), 16, 3, alphas=[1.0, 1.0])
    net = AbcMLP(mup(2), 16, 3)
    with pytest.raises(InfwidthError):
        net.sgd_step(torch.randn(2, 3), torch.randn(2, 1), [0.1, 0.2])
    with pytest.raises(InfwidthError):
        net.sgd_step(torch.randn(2, 3), torch.randn(2, 1), 0.1, loss="hinge")
    with pytest.raises(InfwidthError):
        net.multiplier(0)


def test_spec_form_equals_older_form_and_residual_blocks_by_hand() -> None:
    """AbcMLP(spec, param, n) == AbcMLP(param, n, d_in, ...) for the same seed; a residual net's forward pass is
    x^1 = phi(W^1 xi), x^l = x^{l-1} + phi(W^l x^{l-1}) written out, and its manual backprop equals autograd."""
    from infwidth.arch import MLPSpec

    spec = MLPSpec(3, d_in=4, d_out=2, phi="tanh", bias=True, alphas=(1.0, 0.5, 2.0, 1.0))
    a = AbcMLP(spec, mup(3), 24, dtype=F64, seed=3)
    b = AbcMLP(mup(3), 24, 4, 2, phi="tanh", bias=True, alphas=[1.0, 0.5, 2.0, 1.0], dtype=F64, seed=3)
    for wa, wb in zip(a.trainable(), b.trainable()):
        torch.testing.assert_close(wa, wb, rtol=0, atol=0)
    res = AbcMLP(MLPSpec(3, d_in=4, d_out=2, phi="tanh", residual=True), mup(3), 24, dtype=F64, seed=3)
    X = torch.randn(5, 4, dtype=F64)
    with torch.no_grad():
        z = torch.tanh(X @ res.effective_weight(1).T)
        for l in (2, 3):
            z = z + torch.tanh(z @ res.effective_weight(l).T)
        torch.testing.assert_close(res(X), z @ res.effective_weight(4).T, rtol=1e-13, atol=1e-14)
    twin = AbcMLP(MLPSpec(3, d_in=4, d_out=2, phi="tanh", residual=True), mup(3), 24, dtype=F64, seed=3)
    Y = torch.randn(5, 2, dtype=F64)
    for _ in range(2):
        assert res.sgd_step(X, Y, 0.3) == pytest.approx(twin.sgd_step_manual(X, Y, 0.3), rel=1e-12)
    for wa, wb in zip(res.weights, twin.weights):
        torch.testing.assert_close(wa, wb, rtol=1e-10, atol=1e-13)
