"""ZDot (Eq. (31)) on the Section 6.3 warm-up: Eq. (30)'s coefficient, zero when decoupled."""

from __future__ import annotations

import numpy as np
import pytest

from infwidth.arch import activation
from infwidth.limits import mlp_sgd_program, run_linear, run_particles, run_polynomial

XI0, XI1, LR = 0.8, -1.3, 0.7


def _warmup(phi: str, decoupled: bool = False):  # type: ignore[no-untyped-def]
    b = mlp_sgd_program(2, phi, [XI0, XI1], [1.0, -1.0], lr=LR, decoupled=decoupled)
    if phi == "identity":
        return b, run_linear(b.program, keep_z=True)
    if phi == "square":
        return b, run_polynomial(b.program, keep_z=True)
    return b, run_particles(b.program, particles=200_000, replicas=16, seed=0, keep_z=True)


@pytest.mark.parametrize("phi", ["identity", "square", "tanh"])
def test_zdot_coefficient_is_eq_30(phi: str) -> None:
    """Zdot^{W x_1} = c Z^{dh_0}, c = a E[phi'(Z^{h_1}) phi'(Z^{h_0})], a = -eta xi_0 xi_1.

    (Our dh carries the loss derivative chi_0, so the paper's a = -chi_0 xi_0 xi_1 loses chi_0.)
    """
    b, r = _warmup(phi)
    (y_name, coef), = r.zdot["W2x1_t1b0"]
    assert y_name == "dh2_t0b0"
    d = activation(phi).numpy_derivative
    prod = d(r.Z["h1_t1b0"]) * d(r.Z["h1_t0b0"])
    if phi == "identity":
        expected = -LR * XI0 * XI1
    elif phi == "square":
        expected = -LR * XI0 * XI1 * prod.expect()
    else:
        expected = -LR * XI0 * XI1 * float(np.mean(prod))
    assert coef == pytest.approx(expected, rel=3e-2 if phi == "tanh" else 1e-12)
    assert abs(coef) > 0.05


@pytest.mark.parametrize("phi", ["identity", "tanh"])
def test_zdot_vanishes_with_decoupled_backprop(phi: str) -> None:
    _, r = _warmup(phi, decoupled=True)
    assert r.zdot == {}
    _, rn = _warmup(phi, decoupled=False)
    assert "W2x1_t1b0" in rn.zdot
    # the backward pass at t = 1 also gets a ZDot (W^T dh_1 depends on W x_0 through dh_1)
    assert "W2Tdh2_t1b0" in rn.zdot
