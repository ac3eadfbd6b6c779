"""NNGP/NTK against independent references: neural-tangents (a JAX library), scipy quadrature, closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infwidth.arch import activation
from infwidth.kernels import dual, nngp, ntk

try:  # test-only peer, installed by scripts/test.sh (neural-tangents --no-deps, jax/jaxlib 0.4.30)
    from infwidth.peers import neural_tangents_stax

    stax = neural_tangents_stax()
    import jax

    NT_ERROR = ""
except Exception as e:  # pragma: no cover - depends on the environment
    NT_ERROR = f"neural-tangents cannot be imported ({type(e).__name__}: {e})"

RNG = np.random.default_rng(0)
X1 = RNG.standard_normal((7, 5))
X2 = RNG.standard_normal((4, 5)) * 1.5


def _nt_layer(name: str):  # type: ignore[no-untyped-def]
    return {"relu": stax.Relu(), "erf": stax.Erf(), "identity": stax.Identity(), "gelu": stax.Gelu(),
            "square": stax.Monomial(2)}[name]


CASES = [(phi, depth) for phi in ["relu", "erf", "identity", "square", "gelu"] for depth in [1, 2, 4]]


@pytest.mark.skipif(bool(NT_ERROR), reason=NT_ERROR or "ok")
@pytest.mark.parametrize("phi,depth", CASES)
def test_matches_neural_tangents(phi: str, depth: int) -> None:
    """Both kernels agree with neural-tangents to 1e-6 relative, with weight and bias variances."""
    ws = [1.3 + 0.1 * l for l in range(depth)] + [0.9]
    bs = [0.2 + 0.05 * l for l in range(depth)] + [0.3]
    layers = []
    for l in range(depth):
        layers += [stax.Dense(512, W_std=ws[l], b_std=bs[l]), _nt_layer(phi)]
    layers += [stax.Dense(1, W_std=ws[-1], b_std=bs[-1])]
    _, _, kernel_fn = stax.serial(*layers)
    for a, b in [(X1, X2), (X1, None)]:
        ref = kernel_fn(a, b, ("nngp", "ntk"))
        for ours, theirs in [(nngp(a, b, depth, phi, ws, bs), ref.nngp), (ntk(a, b, depth, phi, ws, bs), ref.ntk)]:
            theirs = np.asarray(theirs)
            assert ours.dtype == torch.float64
            assert np.abs(ours.numpy() - theirs).max() <= 1e-6 * np.abs(theirs).max()


@pytest.mark.skipif(bool(NT_ERROR), reason=NT_ERROR or "ok")
def test_tanh_matches_neural_tangents_numerical() -> None:
    """tanh (quadrature here) against neural-tangents' own Gauss-Hermite ElementwiseNumerical."""
    _, _, kernel_fn = stax.serial(stax.Dense(512, W_std=1.2, b_std=0.1),
                                  stax.ElementwiseNumerical(jax.numpy.tanh, deg=300),
                                  stax.Dense(1, W_std=1.0, b_std=0.0))
    ref = kernel_fn(X1, X2, ("nngp", "ntk"))
    assert np.allclose(nngp(X1, X2, 1, "tanh", [1.2, 1.0], [0.1, 0.0]).numpy(), ref.nngp, rtol=0, atol=1e-6)
    assert np.allclose(ntk(X1, X2, 1, "tanh", [1.2, 1.0], [0.1, 0.0]).numpy(), ref.ntk, rtol=0, atol=1e-6)


def _scipy_expectation(f, s1: float, s2: float, c: float) -> float:  # type: ignore[no-untyped-def]
    """E[f(u) f(v)] by scipy's adaptive 2-D quadrature in Cholesky coordinates."""
    from scipy import integrate

    rho = c / math.sqrt(s1 * s2)
    q = math.sqrt(1 - rho * rho)

    def integrand(z2: float, z1: float) -> float:
        u = math.sqrt(s1) * z1
        v = math.sqrt(s2) * (rho * z1 + q * z2)
        return f(u) * f(v) * math.exp(-0.5 * (z1 * z1 + z2 * z2)) / (2 * math.pi)

    val, _ = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-12, epsrel=1e-12)
    return val


@pytest.mark.parametrize("s1,s2,c", [(1.0, 1.0, 0.3), (2.5, 0.7, -0.9), (4.0, 3.0, 3.2)])
def test_quadrature_tanh_and_gelu_against_scipy(s1: float, s2: float, c: float) -> None:
    """Gauss-Hermite dual kernels of tanh and gelu (value and derivative) to 1e-8 of scipy's dblquad."""
    t = torch.float64
    S1, S2, C = torch.tensor([s1], dtype=t), torch.tensor([s2], dtype=t), torch.tensor([[c]], dtype=t)
    gelu = lambda x: 0.5 * x * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    gelu_d = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2))) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    for name, f, df in [("tanh", math.tanh, lambda x: 1 - math.tanh(x) ** 2), ("gelu", gelu, gelu_d)]:
        ev, dv = dual(activation(name), S1, S2, C)
        assert dv is not None
        assert abs(float(ev) - _scipy_expectation(f, s1, s2, c)) < 1e-8
        assert abs(float(dv) - _scipy_expectation(df, s1, s2, c)) < 1e-8


def test_quadrature_of_callables_matches_closed_forms() -> None:
    """A user callable (autograd derivative) reproduces the erf and x^2 closed forms to 1e-8."""
    s = torch.tensor([0.3, 1.0, 2.0, 3.5], dtype=torch.float64)
    c = 0.8 * torch.sqrt(s[:, None] * s[None, :]) * torch.tensor([[1.0, -0.5, 0.2, 1.0]], dtype=torch.float64)
    c.fill_diagonal_(0.0)
    c = c + torch.diag(s)
    for name, fn in [("erf", torch.erf), ("square", lambda x: x * x)]:
        ev, dv = dual(activation(name), s, s, c)
        ev_q, dv_q = dual(activation(fn), s, s, c)
        assert dv is not None and dv_q is not None
        assert (ev - ev_q).abs().max() < 1e-8
        assert (dv - dv_q).abs().max() < 1e-8


def test_relu_closed_form_special_values() -> None:
    """Arc-cosine kernel: E[relu(u)^2] = s/2, E[relu relu] at rho = 0 is s/(2 pi), at rho = -1 it is 0."""
    s = torch.tensor([2.0], dtype=torch.float64)
    for c, want, want_d in [(2.0, 1.0, 0.5), (0.0, 2 / (2 * math.pi), 0.25), (-2.0, 0.0, 0.0)]:
        ev, dv = dual(activation("relu"), s, s, torch.tensor([[c]], dtype=torch.float64))
        assert dv is not None
        assert abs(float(ev) - want) < 1e-14 and abs(float(dv) - want_d) < 1e-14


def test_non_smooth_callable_falls_back_to_quadrature() -> None:
    """A kinked callable (relu passed as a function) has slowly decaying Hermite coefficients: the Mehler series
    is refused and 2-D Gauss-Hermite quadrature approximates the arc-cosine kernel (only algebraically)."""
    from infwidth.kernels.activations import _mehler

    s = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    c = torch.tensor([[0.5, 0.3, -0.2], [0.3, 1.0, 0.9], [-0.2, 0.9, 2.0]], dtype=torch.float64)
    assert _mehler(torch.relu, s[:, None], s[None, :], c) is None
    ev, dv = dual(activation(lambda x: torch.relu(x)), s, s, c)
    ev_exact, dv_exact = dual(activation("relu"), s, s, c)
    assert dv is not None and dv_exact is not None
    assert (ev - ev_exact).abs().max() < 2e-3 and (dv - dv_exact).abs().max() < 2e-2
