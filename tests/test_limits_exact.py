"""Exact backends: Corollary 6.2, its (d, d_o) generalization, degenerate covariances, refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from infwidth.errors import InfwidthError
from infwidth.limits import Program, mlp_sgd_program, run_finite, run_linear, run_particles, run_polynomial
from infwidth.limits.linear_network import LinearMuP, corollary_6_2

RNG = np.random.default_rng(0)
XS = RNG.choice([-1.0, 1.0], 8) * RNG.uniform(0.5, 1.0, 8)
YS = RNG.choice([-1.0, 1.0], 8)


def _module_fs(net: LinearMuP, xs: np.ndarray, ys: np.ndarray, lr: float) -> list[float]:
    opt = torch.optim.SGD(net.param_groups(lr))
    out = []
    for x, y in zip(xs, ys):
        xt = torch.tensor(np.atleast_1d(x)[None, :], dtype=torch.float64)
        yt = torch.tensor(np.atleast_1d(y)[None, :], dtype=torch.float64)
        out.append(net(xt).detach().numpy()[0].copy())
        opt.zero_grad()
        net.loss(xt, yt).backward()
        opt.step()
    return out


@pytest.mark.parametrize("lr", [0.3, 0.6])
def test_corollary_6_2_equals_linear_backend_and_module(lr: float) -> None:
    closed, closed_eval = corollary_6_2(XS, YS, lr, eval_xs=[0.7, -2.0])
    assert np.all(np.isfinite(closed)) and np.abs(closed).max() > 0.1
    b = mlp_sgd_program(1, "identity", XS, YS, lr=lr, eval_xs=[0.7, -2.0])
    res = b.collect(run_linear(b.program).values)
    scale = max(1.0, np.abs(closed).max())
    np.testing.assert_allclose(res["f"].ravel(), closed, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(res["f_eval"][-1].ravel(), closed_eval, rtol=0, atol=1e-12 * scale)
    mod = np.array(_module_fs(LinearMuP(1, 1), XS, YS, lr)).ravel()
    np.testing.assert_allclose(mod, closed, rtol=0, atol=1e-12 * scale)
    # the polynomial backend is exact too on this (degree-1) program
    np.testing.assert_allclose(b.collect(run_polynomial(b.program).values)["f"].ravel(), closed, atol=1e-12 * scale)


def test_generalized_corollary_d3_do2() -> None:
    """Infinite-width linear muP with d = 3, d_o = 2 == width-(d + d_o) net with diagonal init."""
    T, d, do = 6, 3, 2
    xs, ys = RNG.normal(size=(T, d)), RNG.normal(size=(T, do))
    b = mlp_sgd_program(1, "identity", xs, ys, lr=0.5, d_in=d, d_out=do)
    lim = b.collect(run_linear(b.program).values)["f"][:, 0, :]
    mod = np.array(_module_fs(LinearMuP(d, do), xs, ys, 0.5))
    np.testing.assert_allclose(mod, lim, rtol=0, atol=1e-12)
    assert np.abs(lim[1:]).max() > 0.1  # nontrivial


def test_finite_linear_mup_is_a_random_projection_converging_to_the_limit() -> None:
    """LinearMuP(width=n) is the width-n muP net (same as the program's finite run) and -> limit."""
    T = 5
    xs, ys = XS[:T], YS[:T]
    lim = np.array(_module_fs(LinearMuP(1, 1), xs, ys, 0.5)).ravel()
    errs = []
    for n in (64, 1024):
        fs = np.array([np.array(_module_fs(LinearMuP(1, 1, width=n, seed=s), xs, ys, 0.5)).ravel()
                       for s in range(20)])
        errs.append(np.sqrt(((fs - lim) ** 2).mean()))
    assert errs[1] < errs[0] / 2.5  # ~ n^{-1/2}: ratio 4 expected
    # the same network via the program's finite-width executor, fed the module's initial vectors
    net = LinearMuP(1, 1, width=256, seed=3)
    b = mlp_sgd_program(1, "identity", xs, ys, lr=0.5)
    init = {"U0": net.U.detach().numpy()[:, 0].copy(), "nV0": net.V.detach().numpy()[0].copy()}
    fin = b.collect(run_finite(b.program, 256, init=init))["f"].ravel()
    np.testing.assert_allclose(np.array(_module_fs(net, xs, ys, 0.5)).ravel(), fin, atol=1e-12)


def test_degenerate_covariances_are_exact() -> None:
    """Identical initial vectors and a family W u, W (2u), W^T-free: exact second moments."""
    p = Program("degenerate")
    W = p.matrix("W", sigma2=2.0)
    u, v = p.init_vectors(["u", "v"], [[1.0, 1.0], [1.0, 1.0]])  # rank 1: u == v
    a = p.matmul(W, u)
    b = p.matmul(W, p.nonlin(lambda x, y: x + y, [u, v]))  # W (2u) = 2 W u
    c = p.matmul(W, p.nonlin(lambda x: 3.0 * x, [u]))
    p.output("Eab", p.moment(lambda x, y: x * y, [a, b]))
    p.output("Ebb", p.moment(lambda y: y * y, [b]))
    p.output("Ecc", p.moment(lambda y: y * y, [c]))
    p.output("Euv", p.moment(lambda x, y: (x - y) ** 2, [u, v]))
    r = run_linear(p)
    assert r.outputs["Eab"] == pytest.approx(4.0, abs=1e-12)
    assert r.outputs["Ebb"] == pytest.approx(8.0, abs=1e-12)
    assert r.outputs["Ecc"] == pytest.approx(18.0, abs=1e-12)
    assert r.outputs["Euv"] == pytest.approx(0.0, abs=1e-12)
    assert "degenerate" in str(p) and "W u" in str(p)


def test_degenerate_zdot_is_well_defined() -> None:
    """W^T applied to y and 2y (a singular family), then W x: Zdot must not depend on the split."""
    def prog(split: bool) -> Program:
        p = Program("zdot")
        W = p.matrix("W")
        (u, y) = p.init_vectors(["u", "y"])
        z1 = p.matmul(W, y, transpose=True)
        if split:
            y2 = p.nonlin(lambda t: 2.0 * t, [y])
            z2 = p.matmul(W, y2, transpose=True)
            x = p.nonlin(lambda a, b_, c: a + 0.25 * b_ + 0.5 * c, [u, z1, z2])  # = u + 1.25 W^T y
        else:
            x = p.nonlin(lambda a, b_: a + 1.25 * b_, [u, z1])
        h = p.matmul(W, x)
        p.output("Ehy", p.moment(lambda a, b_: a * b_, [h, y]))
        return p
    e1, e2 = run_linear(prog(False)).outputs["Ehy"], run_linear(prog(True)).outputs["Ehy"]
    assert e1 == pytest.approx(1.25, abs=1e-12)  # Eq. (31): Zdot = 1.25 Z^y, E[Zhat Z^y] = 0
    assert e2 == pytest.approx(e1, abs=1e-12)


def test_linear_backend_refuses_nonlinear_and_polynomial_refuses_nonpolynomial() -> None:
    b = mlp_sgd_program(2, "tanh", XS[:2], YS[:2])
    with pytest.raises(InfwidthError, match="not polynomial"):
        run_polynomial(b.program)
    with pytest.raises(InfwidthError, match=r"not linear|not polynomial"):
        run_linear(mlp_sgd_program(1, "square", XS[:3], YS[:3]).program)


def test_polynomial_backend_refuses_when_too_costly() -> None:
    """Degree grows like 2^t (Section 8): the backend must refuse quickly, not hang."""
    import time

    b = mlp_sgd_program(2, "square", XS[:6], YS[:6], lr=0.01)
    t0 = time.perf_counter()
    with pytest.raises(InfwidthError, match="budget"):
        run_polynomial(b.program, budget=2e5)
    assert time.perf_counter() - t0 < 30


@pytest.mark.parametrize("depth,decoupled,phi,T,lr", [(1, False, "identity", 6, 0.5), (2, False, "identity", 5, 0.5),
                                                      (2, True, "identity", 5, 0.5), (1, False, "square", 4, 0.05),
                                                      (2, False, "square", 3, 0.02), (2, True, "square", 3, 0.02)])
def test_exact_and_particles_agree_within_standard_errors(depth: int, decoupled: bool, phi: str, T: int,
                                                          lr: float) -> None:
    b = mlp_sgd_program(depth, phi, XS[:T], YS[:T], lr=lr, decoupled=decoupled)
    exact = run_linear(b.program) if phi == "identity" else run_polynomial(b.program)
    mc = run_particles(b.program, particles=64_000, replicas=16, seed=1)
    for names in b.f_names[1:]:
        nm = names[0][0]
        z = (mc.values[nm] - exact.values[nm]) / max(mc.stderr[nm], 1e-12)
        assert abs(z) < 4.5, (nm, exact.values[nm], mc.values[nm], mc.stderr[nm])
        assert mc.stderr[nm] > 0
