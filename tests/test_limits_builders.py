"""Builders write SGD exactly: the program's finite-width run equals an autograd muP network."""

from __future__ import annotations

import numpy as np
import pytest

from infwidth.errors import InfwidthError
from infwidth.limits import KernelRegimeError, layer_roles, mlp_sgd_program, run_finite, run_particles
from infwidth.parametrization import AbcParametrization, mup, ntp
from test_limits_reference import torch_mup_sgd

XS = np.array([1.0, -1.0, 0.5, 1.0, -0.3])
YS = np.array([1.0, -1.0, -1.0, 1.0, 1.0])


@pytest.mark.parametrize("depth,decoupled,phi,loss", [
    (1, False, "tanh", "mse"), (1, False, "identity", "logistic"), (2, False, "tanh", "mse"),
    (2, True, "tanh", "mse"), (2, False, "relu", "logistic"), (3, False, "relu", "mse"),
    (3, True, "identity", "mse"), (2, False, "square", "mse"),
])
def test_program_equals_autograd_network(depth: int, decoupled: bool, phi: str, loss: str) -> None:
    n, lr = 48, (0.01 if phi == "square" else 0.5)
    fs, init = torch_mup_sgd(depth, phi, XS, YS, n=n, lr=lr, seed=3, decoupled=decoupled, loss=loss)
    b = mlp_sgd_program(depth, phi, XS, YS, lr=lr, decoupled=decoupled, loss=loss)
    mats = {k: v for k, v in init.items() if k.startswith("W")}
    got = b.collect(run_finite(b.program, n, init=init, matrices=mats))["f"].ravel()
    np.testing.assert_allclose(got, fs, rtol=1e-10, atol=1e-12)


def test_normal_and_decoupled_differ_in_the_limit() -> None:
    """Section 6.2 vs 6.3: decoupling kills the ZDot term, which changes f_2 at O(1)."""
    f = {}
    for dec in (False, True):
        b = mlp_sgd_program(2, "identity", XS[:3], YS[:3], lr=0.5, decoupled=dec)
        from infwidth.limits import run_linear

        f[dec] = b.collect(run_linear(b.program).values)["f"].ravel()
    assert f[False][0] == f[True][0] == 0.0
    assert abs(f[False][1] - f[True][1]) > 0.1


def test_layer_roles_and_regimes() -> None:
    r = layer_roles(mup(3))
    assert r.init_active == (True,) * 4 and r.update_active == (True,) * 4
    # muP with a smaller learning rate on the middle layer (2a + c above muP's): frozen in the limit
    p = AbcParametrization.from_per_layer_lr(mup(2).a, mup(2).b, ["0", "1/2", "0"])
    rp = layer_roles(p)
    assert rp.update_active == (True, False, True)
    with pytest.raises(KernelRegimeError):
        layer_roles(ntp(2))
    with pytest.raises(InfwidthError):
        mlp_sgd_program(2, "bogus", XS, YS)


def test_frozen_middle_layer_limit_matches_finite_width() -> None:
    """Section 6.4: a layer that is not maximally updated stays at initialization in the limit.

    The program (middle layer frozen) at finite width vs its particle limit.
    """
    p = AbcParametrization.from_per_layer_lr(mup(2).a, mup(2).b, ["0", "1/2", "0"])
    b = mlp_sgd_program(2, "tanh", XS[:3], YS[:3], lr=1.0, param=p)
    lim = run_particles(b.program, particles=100_000, seed=2)
    F = np.array([b.collect(run_finite(b.program, 512, seed=s))["f"].ravel() for s in range(16)])
    for t, names in enumerate(b.f_names):
        nm = names[0][0]
        se = np.hypot(F[:, t].std() / 4, lim.stderr[nm])
        assert abs(F[:, t].mean() - lim.values[nm]) < 4 * se + 1e-3


def test_program_prints_readably() -> None:
    b = mlp_sgd_program(2, "tanh", XS[:2], YS[:2])
    text = str(b.program)
    assert "W2^T dh2_t0b0" in text and "Moment" in text and "tanh" in text
    assert b.program.uses_transpose_pairs()[0].name == "W2"
    bd = mlp_sgd_program(2, "tanh", XS[:2], YS[:2], decoupled=True)
    assert bd.program.uses_transpose_pairs() == []
