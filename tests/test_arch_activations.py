"""The one activation registry: every reading sees the same function, derivative and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from infwidth.arch import ACTIVATIONS, Activation, MLPSpec, activation, polynomial_activation
from infwidth.errors import InfwidthError

GRID = np.linspace(-3.0, 3.0, 61)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_numpy_and_torch_sides_agree_and_derivatives_are_exact(name: str) -> None:
    """phi(numpy) == phi(torch); both phi' equal torch autograd of phi (away from relu's kink)."""
    act = ACTIVATIONS[name]
    x = GRID[np.abs(GRID) > 1e-9]
    t = torch.tensor(x, requires_grad=True)
    y_t = act.torch(t)
    (auto,) = torch.autograd.grad(y_t.sum(), t)
    np.testing.assert_allclose(np.broadcast_to(act.numpy(x), x.shape), y_t.detach().numpy(), rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.broadcast_to(act.numpy_derivative(x), x.shape), auto.numpy(), rtol=1e-13,
                               atol=1e-14)
    np.testing.assert_allclose(act.torch_derivative(t.detach()).numpy(), auto.numpy(), rtol=1e-13, atol=1e-14)
    # dispatch: calling the activation picks the library of its argument
    assert isinstance(act(t.detach()), torch.Tensor) and not isinstance(act(x), torch.Tensor)


def test_known_values_from_their_definitions() -> None:
    """Spot values from the mathematical definitions (not from the code): erf(1), gelu(1) = Phi(1), ..."""
    assert abs(float(ACTIVATIONS["erf"].numpy(np.array(1.0))) - math.erf(1.0)) < 1e-15
    assert abs(float(ACTIVATIONS["gelu"].numpy(np.array(1.0))) - 0.5 * (1 + math.erf(1 / math.sqrt(2)))) < 1e-15
    assert float(ACTIVATIONS["relu"].numpy(np.array(-2.0))) == 0.0
    assert float(ACTIVATIONS["square"].numpy(np.array(-3.0))) == 9.0


def test_aliases_resolve_to_one_object_everywhere() -> None:
    """The names the four old registries used (x, id, linear, quadratic, x^2, ...) are one registry now."""
    for alias, name in [("x", "identity"), ("id", "identity"), ("linear", "identity"), ("Identity", "identity"),
                        ("quadratic", "square"), ("x^2", "square"), ("x2", "square"), (" tanh ", "tanh")]:
        assert activation(alias) is ACTIVATIONS[name]
    with pytest.raises(InfwidthError, match="unknown activation 'softsign'"):
        activation("softsign")
    assert activation("identity").kind == "linear" and activation("square").kind == "polynomial"
    assert activation("tanh").kind == "general" and activation("relu").dual == "relu"


def test_polynomial_forms_match_the_functions() -> None:
    for act in ACTIVATIONS.values():
        if act.polynomial is not None:
            want = sum(c * GRID**j for j, c in enumerate(act.polynomial))
            np.testing.assert_allclose(np.broadcast_to(act.numpy(GRID), GRID.shape), want, rtol=0, atol=1e-14)
    p = polynomial_activation([0.5, -1.0, 0.25])
    np.testing.assert_allclose(p.numpy(GRID), 0.5 - GRID + 0.25 * GRID**2, atol=1e-14)
    np.testing.assert_allclose(p.numpy_derivative(GRID), -1.0 + 0.5 * GRID, atol=1e-14)
    assert p.kind == "polynomial"


def test_callables_are_wrapped_once_with_exact_or_accurate_derivatives() -> None:
    """A torch-capable callable gets autograd derivatives (exact); a numpy-only one a 5-point difference."""
    both = activation(lambda x: x * x * x)
    np.testing.assert_allclose(both.numpy_derivative(GRID), 3 * GRID**2, rtol=1e-13, atol=1e-13)
    torch_only = activation(torch.sin)
    np.testing.assert_allclose(torch_only.numpy(GRID), np.sin(GRID), atol=1e-15)
    np.testing.assert_allclose(torch_only.numpy_derivative(GRID), np.cos(GRID), atol=1e-14)
    numpy_only = activation(np.sin)
    assert numpy_only.name == "sin" and numpy_only.kind == "general" and numpy_only.dual is None
    np.testing.assert_allclose(numpy_only.numpy_derivative(GRID), np.cos(GRID), atol=1e-10)
    t = torch.tensor(GRID, requires_grad=True)
    (g,) = torch.autograd.grad(numpy_only.torch(t).sum(), t)  # differentiable through its derivative
    np.testing.assert_allclose(g.numpy(), np.cos(GRID), atol=1e-10)
    assert activation(both) is both  # wrapped once: an Activation passes through
    with pytest.raises(InfwidthError, match="accepts neither"):
        activation(lambda x: x.no_such_method())


@pytest.mark.parametrize("name", ["identity", "square", "erf", "relu"])
def test_dual_closed_forms_against_quadrature_of_the_same_function(name: str) -> None:
    """The registry's closed-form key against the numerical path on the plain function (Mehler/quadrature)."""
    from infwidth.kernels import dual

    act = ACTIVATIONS[name]
    assert act.dual == name
    s = torch.tensor([0.4, 1.0, 2.2], dtype=torch.float64)
    c = torch.tensor([[0.4, 0.3, -0.5], [0.3, 1.0, 0.9], [-0.5, 0.9, 2.2]], dtype=torch.float64)
    ev, dv = dual(act, s, s, c)
    ev_n, dv_n = dual(activation(lambda x: act.torch(x)), s, s, c)
    assert dv is not None and dv_n is not None
    if name == "relu":  # the kink (and the jump of relu'): quadrature converges only algebraically
        assert (ev - ev_n).abs().max() < 2e-3
    else:
        assert (ev - ev_n).abs().max() < 1e-8 and (dv - dv_n).abs().max() < 1e-8


def test_every_reading_accepts_every_registered_name() -> None:
    """The old registries disagreed (erf only in kernels, x only in limits, id failed in nn): not any more."""
    from infwidth.kernels import nngp
    from infwidth.maml.models import MupMLP1
    from infwidth.nn import AbcMLP
    from infwidth.parametrization import mup

    x = torch.randn(3, 2, dtype=torch.float64)
    for name in [*ACTIVATIONS, "x", "id", "quadratic"]:
        net = AbcMLP(mup(2), 8, 2, phi=name, dtype=torch.float64, seed=0)
        assert torch.isfinite(net(x)).all()
        assert torch.isfinite(nngp(x, depth=2, phi=name)).all()
        assert isinstance(MLPSpec(2, d_in=2, phi=name).phi, Activation)
        assert torch.isfinite(MupMLP1(2, 1, 8, name, seed=0)(x.float().double())).all()
