"""Finite width -> computed limit (Master Theorem 7.4) for every builder and activation.

For each builder (depth 1, depth 2 decoupled, depth 2, depth 3) and phi (linear, quadratic, tanh,
relu): 20 seeds at widths 64, 256, 1024. The root-mean-square error of f_t to the limit must shrink
like n^{-1/2} (ratio 4 from 64 to 1024; we accept 2.5..7), and at width 1024 the seed-mean must lie
within 4 combined standard errors of the limit. The limit comes from the exact linear backend
(phi = x), the exact polynomial backend (phi = x^2) or particles (tanh, relu).
"""

from __future__ import annotations

import numpy as np
import pytest

from infwidth.limits import mlp_sgd_program, run_finite, run_linear, run_particles, run_polynomial

XS = [1.0, -0.7, 0.5]
YS = [1.0, -1.0, 1.0]
LR = {"identity": 0.5, "square": 0.01, "tanh": 1.0, "relu": 0.5}
BUILDERS = [(1, False), (2, True), (2, False), (3, False)]
SEEDS, WIDTHS = 20, (64, 256, 1024)


def _limit(b, phi: str):  # type: ignore[no-untyped-def]
    if phi == "identity":
        return run_linear(b.program)
    if phi == "square":
        return run_polynomial(b.program)
    return run_particles(b.program, particles=160_000, replicas=16, seed=5)


@pytest.mark.parametrize("phi", ["identity", "square", "tanh", "relu"])
@pytest.mark.parametrize("depth,decoupled", BUILDERS)
def test_finite_width_converges_to_limit(depth: int, decoupled: bool, phi: str) -> None:
    if depth == 3 and phi == "square":
        pytest.skip("x^2 through 3 layers has degree-8 heavy tails: widths <= 1024 are far from the limit "
                    "(the exact limit is computed, but this test cannot verify it cheaply)")
    b = mlp_sgd_program(depth, phi, XS, YS, lr=LR[phi], decoupled=decoupled)
    lim = _limit(b, phi)
    names = [nm[0][0] for nm in b.f_names]
    f_lim = np.array([lim.values[nm] for nm in names])
    se_lim = np.array([lim.stderr[nm] for nm in names])
    rms, last = [], None
    for n in WIDTHS:
        F = np.array([b.collect(run_finite(b.program, n, seed=s))["f"].ravel() for s in range(SEEDS)])
        rms.append(float(np.sqrt(((F - f_lim) ** 2).mean())))
        last = F
    assert last is not None
    ratio = rms[0] / rms[-1]
    assert 2.5 < ratio < 7.0, (rms, ratio)
    se = np.sqrt(last.std(axis=0, ddof=1) ** 2 / SEEDS + se_lim ** 2)
    z = (last.mean(axis=0) - f_lim)[1:] / se[1:]
    assert np.all(np.abs(z) < 4.0), (z, last.mean(axis=0), f_lim)
    assert np.abs(f_lim[1:]).max() > 0.01  # training moved the function
