"""The kernel limit against wide AbcMLP networks: empirical NTK, output covariance, training trajectories."""

from __future__ import annotations

import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch

from infwidth.arch import MLPSpec, Routine
from infwidth.errors import InfwidthError
from infwidth.kernels import kernel, kernel_gd, kernel_limit, kernel_recursion, layer_exponents, tangent_kernel
from infwidth.limits import limit_of
from infwidth.nn import AbcMLP, train
from infwidth.parametrization import AbcParametrization, classify, mup, ntp, sp, sp_stable

RNG = np.random.default_rng(3)
D = 3
X = torch.tensor(RNG.standard_normal((3, D)))


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


@pytest.mark.parametrize("param,phi,bias,residual", [
    (ntp(2), "relu", True, False), (sp_stable(2), "tanh", False, False), (ntp(3), "tanh", True, True)])
def test_empirical_ntk_and_output_covariance_at_width_4096(param: AbcParametrization, phi: str, bias: bool,
                                                           residual: bool) -> None:
    """Width 4096, 4 seeds: the empirical tangent kernel and the output covariance (over 256 outputs and the
    seeds) match the limit within 4.5 standard errors of their seed-to-seed spread (residual blocks too)."""
    n, seeds, d_out = 4096, 4, 256
    L = param.depth
    alphas, sigmas = [1.2, 0.9, 1.1, 1.0][: L + 1], [0.7, 1.3, 0.8, 0.9][: L + 1]
    spec = MLPSpec(L, d_in=D, d_out=d_out, phi=phi, bias=bias, residual=residual, alphas=alphas, sigmas=sigmas)
    lim = kernel(spec, param)
    nngp_lim, ntk_lim = lim(X)
    assert lim.f0_random
    k_est, c_est = [], []
    for s in range(seeds):
        net = AbcMLP(spec, param, n, dtype=torch.float64, seed=s)
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
    spec = MLPSpec(param.depth, d_in=2, phi="relu")
    _, K = tangent_kernel(spec, param)(xs)  # muP too: its tangent kernel at initialization
    routine = Routine(xs.numpy(), ys.numpy(), lr=lr)
    errs = []
    for s in range(seeds):
        net = AbcMLP(spec, param, n, dtype=torch.float64, seed=100 + s)
        with torch.no_grad():
            f0 = net(xs).numpy()
        pred = kernel_gd(K.numpy(), routine, f0[None]).f[0, :, 0, 0]
        fs = train(net, routine).f[:, 0, 0]
        errs.append(float(np.abs(fs - pred).max()))
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


@pytest.mark.parametrize("case", ["mse-ntp2-tanh-batch2", "mse-ntp3-residual-relu-bias", "logistic-ntp2-tanh"])
def test_kernel_limit_mean_and_spread_match_a_finite_width_ensemble(case: str) -> None:
    """With A = 1/2 lim f_t is random (driven by the GP f_0): the limit's mean and standard deviation of every
    f_t (training batches and eval inputs) match 64 networks of width 1024 (4 standard errors of the mean; the
    spread within 4 standard errors of a standard deviation, 1/sqrt(2(S-1)) relative, plus 0.02)."""
    rng = np.random.default_rng(11)
    xs, ev = rng.standard_normal((4, 2)), rng.standard_normal((2, 2))
    if case.startswith("logistic"):
        ys, loss = np.array([1.0, -1.0, -1.0, 1.0]), "logistic"
    else:
        ys, loss = np.array([1.0, -1.0, 0.5, 2.0]), "mse"
    spec = MLPSpec(3, d_in=2, phi="relu", residual=True, bias=True) if "residual" in case else \
        MLPSpec(2, d_in=2, phi="tanh")
    lr = 0.1 if "residual" in case else 0.8  # the residual NTK is ~8 on the diagonal: keep eta K < 2 (stable GD)
    routine = Routine(xs, ys, loss=loss, lr=lr, batch_size=2 if "batch2" in case else 1, steps=4, eval_inputs=ev)
    p = ntp(spec.depth)
    res = limit_of(spec, p, routine, samples=4000 if loss != "mse" else None, seed=1)
    assert res.regime == "kernel" and res.f0_random and res.f_eval is not None and res.f_eval_std is not None
    assert res.f_eval_stderr is not None
    S = 64
    runs = [train(AbcMLP(spec, p, 1024, dtype=torch.float64, seed=s), routine) for s in range(S)]
    for got, mean, std, se_lim in [(np.array([r.f for r in runs]), res.f, res.f_std, res.f_stderr),
                                   (np.array([r.f_eval for r in runs]), res.f_eval, res.f_eval_std, res.f_eval_stderr)]:
        se = got.std(0, ddof=1) / np.sqrt(S) + se_lim + 0.01
        assert np.all(np.abs(got.mean(0) - mean) < 4 * se), (got.mean(0), mean, se)
        tol = 4 * std / np.sqrt(2 * (S - 1)) + 0.02
        assert np.all(np.abs(got.std(0, ddof=1) - std) < tol), (got.std(0, ddof=1), std)
        assert std.min() > 0.1  # the spread is real: a deterministic curve (std 0) would fail above


def test_kernel_regime_refuses_other_regimes_and_mup_has_no_kernel_limit() -> None:
    """Feature learning (muP), unstable (SP with c = 0) and trivial parametrizations are refused by the kernel
    limit; limit_of sends muP to the Tensor Program and refuses the unstable and trivial ones."""
    spec, routine = MLPSpec(2, d_in=1, phi="relu"), Routine(np.ones((2, 1)), np.ones(2))
    trivial = AbcParametrization([0, 0, 0], [0, "1/2", 1], 2)
    assert classify(trivial).regime == "trivial"
    for p in [mup(2), sp(2), trivial]:
        with pytest.raises(InfwidthError):
            kernel_limit(spec, p, routine)
    with pytest.raises(InfwidthError, match="no kernel limit"):
        kernel(spec, mup(2))
    with pytest.raises(InfwidthError, match="unstable"):
        limit_of(spec, sp(2), routine)
    with pytest.raises(InfwidthError, match="trivial"):
        limit_of(spec, trivial, routine)
    assert limit_of(spec, mup(2), routine, particles=4000, replicas=4).regime == "feature learning"


def test_callable_phi_in_the_kernel_regime() -> None:
    """The seam bug ("unknown nonlinearity '<lambda>'"): a callable works in the kernel regime and equals the
    registered closed form it implements (x^2: Isserlis) to quadrature accuracy."""
    rng = np.random.default_rng(3)
    routine = Routine(rng.standard_normal((3, 2)), np.array([1.0, -1.0, 0.5]), lr=0.5,
                      eval_inputs=rng.standard_normal((2, 2)))
    got = limit_of(MLPSpec(2, d_in=2, phi=lambda x: x * x), ntp(2), routine)
    want = limit_of(MLPSpec(2, d_in=2, phi="square"), ntp(2), routine)
    assert got.f_eval is not None and want.f_eval is not None and got.f_eval_std is not None
    np.testing.assert_allclose(got.f_eval, want.f_eval, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got.f_eval_std, want.f_eval_std, rtol=1e-7, atol=1e-9)


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
    k = 3 if loss == "xent" else 1
    spec = MLPSpec(2, d_in=2, d_out=k, phi="tanh")
    routine = Routine(xs, ys, loss=loss, lr=2.0, eval_inputs=ev)
    res = kernel_limit(spec, p, routine)
    assert res.kernel == "ntk(layer 3)" and not res.f0_random and res.f_eval is not None
    assert np.all(res.f_std == 0) and np.all(res.f_stderr == 0)
    fin = train(AbcMLP(spec, p, 4096, dtype=torch.float64, seed=0), routine)
    assert fin.f_eval is not None
    assert np.abs(fin.f - res.f).max() < 0.04
    assert np.abs(fin.f_eval[-1] - res.f_eval[-1]).max() < 0.04
    assert np.abs(res.f).max() > 0.12  # the limit moved (by more than 3x the tolerance)


def test_hidden_layer_contributes_when_readout_init_is_not_half() -> None:
    """a = (-1/4, 1/2), b = (1/4, 1/4), c = 0: A = 3/4, r = 1/4, A + r = 1, so layer 1 contributes although the
    backward signal is n^{-1/4} (compensated by its LR) and f_0 -> 0. Wide depth-1 networks (to n = 2^19)
    converge to this limit (error ~ n^{-r}), and not to the readout-only kernel's trajectory."""
    p = AbcParametrization(["-1/4", "1/2"], ["1/4", "1/4"], 0)
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((4, 2)), np.array([1.0, -1.0, 1.0, 0.5])
    spec = MLPSpec(1, d_in=2, phi="tanh")
    routine = Routine(xs, ys, lr=1.0)
    res = kernel_limit(spec, p, routine)
    f_lim = res.f[:, 0, 0]
    assert res.kernel == "ntk(layers 1..2)" and not res.f0_random
    c = kernel(spec, p).consts
    readout_only = type(c)(c.w_var, c.b_var, (0.0, c.w_grad[1]), c.b_grad)
    k_ro = kernel_recursion(torch.tensor(xs), None, spec.activation, readout_only)[1]
    assert k_ro is not None
    f_ro = kernel_gd(k_ro.numpy(), routine).f[0, :, 0, 0]
    errs = {}
    for n in [2**10, 2**19]:
        e = []
        for s in range(4):
            fs = train(AbcMLP(spec, p, n, dtype=torch.float64, seed=s), routine).f[:, 0, 0]
            e.append(np.abs(fs - f_lim).max())
        errs[n] = float(np.sqrt(np.mean(np.square(e))))
        if n == 2**19:
            assert np.abs(fs - f_ro).max() > 5 * errs[n]
    assert errs[2**19] < 0.35 * errs[2**10] and errs[2**19] < 0.03, errs


def test_expected_accuracy_of_a_random_limit() -> None:
    """TrainingLimit.accuracy averages over f_0: with Gaussian marginals N(m, s^2) and d_out = 1 the expected
    accuracy of sign(f) is mean_e Phi(y_e m_e / s_e); a deterministic limit gives the plain accuracy."""
    from scipy.stats import norm

    from infwidth.arch import TrainingLimit

    m, s, y = np.array([[0.3], [-0.2], [1.0]]), np.array([[0.5], [0.4], [2.0]]), np.array([1, 1, -1])
    z = np.zeros((1, 1, 1))
    lim = TrainingLimit("kernel", "kernel", z, z, z, np.zeros(1), np.zeros(1), [0], m[None], s[None], 0 * s[None])
    acc, se = lim.accuracy(y)
    want = float(np.mean(norm.cdf(y * m[:, 0] / s[:, 0])))
    assert se > 0 and abs(acc - want) < 4 * se
    det = TrainingLimit("kernel", "kernel", z, z, z, np.zeros(1), np.zeros(1), [0], m[None], 0 * s[None], 0 * s[None])
    assert det.accuracy(y) == (1 / 3, 0.0)
