"""The kernel limit against wide AbcMLP networks: empirical NTK, output covariance, training trajectories."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from infwidth.errors import InfwidthError
from infwidth.kernels import (
    abc_kernel_spec,
    abc_kernels,
    kernel_recursion,
    kernel_regime_limit,
    kernel_sgd,
    layer_exponents,
)
from infwidth.nn import AbcMLP
from infwidth.parametrization import AbcParametrization, classify, mup, ntp, sp, sp_stable

RNG = np.random.default_rng(3)
D = 3
X = torch.tensor(RNG.standard_normal((3, D)))


def _sgd_run(net: AbcMLP, X: torch.Tensor, y: torch.Tensor, lr: float, loss: str = "mse") -> np.ndarray:
    """Batch-size-1 SGD through the rows of X: f_t(xi_t) before each update, (T, d_out)."""
    fs = []
    for t in range(X.shape[0]):
        with torch.no_grad():
            fs.append(net(X[t:t + 1])[0].numpy())
        net.sgd_step(X[t:t + 1], y[t:t + 1], lr, loss=loss)
    return np.array(fs)


def _empirical(net: AbcMLP, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(empirical Eq. (9) kernel n^{-c} <df/dw, df/dw'> of output 0, outputs f_0 (N, d_out))."""
    grads = []
    for i in range(x.shape[0]):
        f = net(x[i:i + 1])[0, 0]
        g = torch.autograd.grad(f, net.trainable())
        grads.append(torch.cat([t.reshape(-1) for t in g]))
    G = torch.stack(grads)
    with torch.no_grad():
        out = net(x)
    return (G @ G.T) * net.lr_scale, out


@pytest.mark.parametrize("param,phi,bias", [(ntp(2), "relu", True), (sp_stable(2), "tanh", False)])
def test_empirical_ntk_and_output_covariance_at_width_4096(param: AbcParametrization, phi: str, bias: bool) -> None:
    """Width 4096, 4 seeds: the empirical tangent kernel and the output covariance (over 256 outputs and the
    seeds) match the limit within 4.5 standard errors of their seed-to-seed spread."""
    n, seeds, d_out = 4096, 4, 256
    alphas, sigmas = [1.2, 0.9, 1.1], [0.7, 1.3, 0.8]
    spec = abc_kernel_spec(param, phi, D, alphas, sigmas, bias=bias)
    nngp_lim, ntk_lim = abc_kernels(spec, X)
    assert spec.f0_random
    k_est, c_est = [], []
    for s in range(seeds):
        net = AbcMLP(param, n, D, d_out=d_out, phi=phi, bias=bias, alphas=alphas, sigmas=sigmas,
                     dtype=torch.float64, seed=s)
        k, out = _empirical(net, X)
        k_est.append(k)
        c_est.append(out @ out.T / d_out)
    for est, lim in [(torch.stack(k_est), ntk_lim), (torch.stack(c_est), nngp_lim)]:
        mean, se = est.mean(0), est.std(0) / seeds**0.5
        floor = 1e-3 * lim.abs().max()
        assert torch.all((mean - lim).abs() <= 4.5 * se + floor), (mean, lim, se)


def _trajectory_error(param: AbcParametrization, n: int, seeds: int, lr: float) -> float:
    """RMS over seeds of max_t |f_t(xi_t) - kernel prediction| (kernel dynamics from the network's own f_0)."""
    rng = np.random.default_rng(7)
    T = 4
    xs = torch.tensor(rng.standard_normal((T, 2)))
    ys = torch.tensor([1.5, -1.5, 1.5, -1.5], dtype=torch.float64)
    _, K = abc_kernels(abc_kernel_spec(param, "relu", 2), xs)
    errs = []
    for s in range(seeds):
        net = AbcMLP(param, n, 2, phi="relu", dtype=torch.float64, seed=100 + s)
        with torch.no_grad():
            f0 = net(xs)
        pred = kernel_sgd(K, ys, lr, "mse", f0=f0).f[:, 0]
        fs = _sgd_run(net, xs, ys.reshape(-1, 1), lr)[:, 0]
        errs.append(float(np.abs(fs - pred.numpy()).max()))
    return float(np.sqrt(np.mean(np.square(errs))))


@pytest.mark.slow
def test_sp_and_ntp_approach_kernel_gd_but_mup_does_not() -> None:
    """Theorem 3.8 / Corollary 3.9: SP with LR 1/n and NTP follow kernel GD (error ~ n^{-1/2}: x8 width
    -> /2.8); muP, whose tangent kernel at init has the same limit form, keeps an O(1) gap (feature learning)."""
    small, big, seeds = 256, 2048, 8
    for p in [ntp(2), sp_stable(2)]:
        e_small, e_big = _trajectory_error(p, small, seeds, 1.0), _trajectory_error(p, big, seeds, 1.0)
        assert e_big < 0.6 * e_small, (p.name, e_small, e_big)
        assert e_big < 0.05
    m_small, m_big = _trajectory_error(mup(2), small, seeds, 1.0), _trajectory_error(mup(2), big, seeds, 1.0)
    assert m_big > 0.5 * m_small and m_big > 0.15, (m_small, m_big)
    assert m_big > 3 * _trajectory_error(ntp(2), big, seeds, 1.0)


def test_kernel_regime_limit_is_the_mean_of_wide_networks_for_mse() -> None:
    """MSE dynamics are affine in f_0, so the f_0 = 0 limit trajectory is the mean over initializations."""
    rng = np.random.default_rng(11)
    xs, ev = rng.standard_normal((4, 2)), rng.standard_normal((2, 2))
    ys = np.array([1.0, -1.0, 0.5, 2.0])
    res = kernel_regime_limit(ntp(2), "tanh", xs, ys, 0.8, eval_xs=ev)
    assert res.f0_random and res.kernel == "ntk(layers 1..3)" and res.f_eval is not None
    X, E = torch.tensor(xs), torch.tensor(ev)
    runs, evals = [], []
    for s in range(24):
        net = AbcMLP(ntp(2), 1024, 2, phi="tanh", dtype=torch.float64, seed=s)
        runs.append(_sgd_run(net, X, torch.tensor(ys).reshape(-1, 1), 0.8)[:, 0])
        with torch.no_grad():
            evals.append(net(E)[:, 0].numpy())
    runs_a, evals_a = np.array(runs), np.array(evals)
    se = runs_a.std(0) / np.sqrt(len(runs)) + 0.02
    assert np.all(np.abs(runs_a.mean(0) - res.f) < 4 * se), (runs_a.mean(0), res.f, se)
    se_e = evals_a.std(0) / np.sqrt(len(runs)) + 0.02
    assert np.all(np.abs(evals_a.mean(0) - res.f_eval[-1]) < 4 * se_e)


def test_kernel_regime_limit_refuses_other_regimes() -> None:
    """Feature learning (muP), unstable (SP with c = 0) and trivial parametrizations are refused."""
    xs, ys = np.ones((2, 1)), np.ones(2)
    trivial = AbcParametrization([0, 0, 0], [0, "1/2", 1], 2)
    assert classify(trivial).regime == "trivial"
    for p in [mup(2), sp(2), trivial]:
        with pytest.raises(InfwidthError):
            kernel_regime_limit(p, "relu", xs, ys, 1.0)


def test_layer_rule_equals_the_r_formulation() -> None:
    """For every nontrivial stable kernel-regime parametrization on a grid: the exponent rule (hidden
    layer l contributes iff its exponent is 0) equals 'r_l = r and a_{L+1} + b_{L+1} + r = 1', the readout
    contributes iff 2 a_{L+1} + c = 1, and no contribution has a positive exponent."""
    vals = [Fraction(k, 2) for k in range(-2, 4)]
    seen = 0
    for a1, a2, a3, b3, c in itertools.product(vals, vals, vals, vals, vals):
        p = AbcParametrization([a1, a2, a3], [-a1, Fraction(1, 2) - a2, b3], c)
        cl = classify(p)
        if cl.regime != "kernel":
            continue
        seen += 1
        ex = layer_exponents(p)
        assert all(e <= 0 for e in ex)
        A = a3 + b3
        for l in range(2):
            assert (ex[l] == 0) == (cl.r_l[l] == cl.r and A + cl.r == 1)
        assert (ex[2] == 0) == (2 * a3 + c == 1)
        assert any(e == 0 for e in ex)  # nontrivial: some layer moves f
    assert seen > 20


@pytest.mark.parametrize("loss", ["logistic", "xent"])
def test_deterministic_kernel_limit_matches_wide_network(loss: str) -> None:
    """a_{L+1} + b_{L+1} = 1 (f_0 -> 0): the limit is deterministic and a width-4096 network follows it for
    nonlinear losses too (only the readout trains in the limit: 'ntk(layer 3)')."""
    p = AbcParametrization([0, "1/2", "1/2"], [0, 0, "1/2"], 0)
    rng = np.random.default_rng(2)
    xs, ev = rng.standard_normal((5, 2)), rng.standard_normal((2, 2))
    ys = np.array([1.0, -1.0, -1.0, 1.0, 1.0]) if loss == "logistic" else np.array([0, 2, 1, 2, 0])
    res = kernel_regime_limit(p, "tanh", xs, ys, 2.0, loss=loss, eval_xs=ev)
    assert res.kernel == "ntk(layer 3)" and not res.f0_random and res.f_eval is not None
    k = 3 if loss == "xent" else 1
    net = AbcMLP(p, 4096, 2, d_out=k, phi="tanh", dtype=torch.float64, seed=0)
    X, E = torch.tensor(xs), torch.tensor(ev)
    y = torch.tensor(ys).reshape(-1, 1) if loss == "logistic" else torch.tensor(ys).long()
    fs = _sgd_run(net, X, y, 2.0, loss)
    with torch.no_grad():
        fe = net(E).numpy()
    want = res.f.reshape(5, k)
    assert np.abs(np.array(fs) - want).max() < 0.04
    assert np.abs(fe - res.f_eval[-1].reshape(2, k)).max() < 0.04
    assert np.abs(want).max() > 0.12  # the limit moved (by more than 3x the tolerance)


def test_hidden_layer_contributes_when_readout_init_is_not_half() -> None:
    """a = (-1/4, 1/2), b = (1/4, 1/4), c = 0: A = 3/4, r = 1/4, A + r = 1, so layer 1 contributes although the
    backward signal is n^{-1/4} (compensated by its LR) and f_0 -> 0. Wide depth-1 networks (to n = 2^19)
    converge to this limit (error ~ n^{-r}), and not to the readout-only kernel's trajectory."""
    p = AbcParametrization(["-1/4", "1/2"], ["1/4", "1/4"], 0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((4, 2)), np.array([1.0, -1.0, 1.0, 0.5])
    res = kernel_regime_limit(p, "tanh", xs, ys, 1.0)
    assert res.kernel == "ntk(layers 1..2)" and not res.f0_random
    spec = abc_kernel_spec(p, "tanh", 2)
    c = spec.consts
    readout_only = type(c)(c.w_var, c.b_var, (0.0, c.w_grad[1]), c.b_grad)
    X, Y = torch.tensor(xs), torch.tensor(ys)
    k_ro = kernel_recursion(X, None, spec.nonlinearity, readout_only)[1]
    assert k_ro is not None
    f_ro = kernel_sgd(k_ro, Y, 1.0).f[:, 0].numpy()
    errs = {}
    for n in [2**10, 2**19]:
        e = []
        for s in range(4):
            net = AbcMLP(p, n, 2, phi="tanh", dtype=torch.float64, seed=s)
            fs = _sgd_run(net, X, Y.reshape(-1, 1), 1.0)[:, 0]
            e.append(np.abs(fs - res.f).max())
        errs[n] = float(np.sqrt(np.mean(np.square(e))))
        if n == 2**19:
            assert np.abs(fs - f_ro).max() > 5 * errs[n]
    assert errs[2**19] < 0.35 * errs[2**10] and errs[2**19] < 0.03, errs
