"""The one activation registry: each nonlinearity once, with everything every reading needs.

An :class:`Activation` carries the elementwise function and its derivative for numpy arrays (the
Tensor Program executors; for polynomials also their symbolic Gaussian polynomials) and for torch
tensors (:class:`~infwidth.nn.AbcMLP`, the kernel quadratures), the coefficients of its polynomial
form when it is one (which exact limit backend can run it), and the key of the closed form of its
Gaussian dual ``E[phi(u) phi(v)]`` when one exists (used by :mod:`infwidth.kernels`).

Names and aliases: identity (id, linear, x), square (quadratic, x^2, x2), relu, tanh, gelu (exact,
erf form, as ``torch.nn.functional.gelu``), erf. Any other callable is wrapped once by
:func:`activation`: a function that accepts torch tensors gets its derivatives by autograd (exact);
one that accepts only numpy arrays gets a 5-point central difference (error ~1e-11) unless its
derivative is given.

>>> from infwidth.arch import activation
>>> activation("quadratic").name, activation("x").kind, activation("relu").dual
('square', 'linear', 'relu')
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError

Elementwise = Callable[[Any], Any]
SQRT2 = math.sqrt(2.0)
SQRT2PI = math.sqrt(2.0 * math.pi)


@dataclass(frozen=True, eq=False)
class Activation:
    """A coordinatewise nonlinearity phi, read by every part of the package.

    Fields:
        name: canonical name (the registry key), or the callable's name.
        numpy, numpy_derivative: phi and phi' on numpy arrays (float64). For polynomial activations they
            use only ``+ - *``, so they also run on the exact backends' symbolic polynomials.
        torch, torch_derivative: phi and phi' on torch tensors (``torch`` is autograd-differentiable).
        polynomial: coefficients (c_0, ..., c_k) with phi(x) = sum_j c_j x^j, or None.
        dual: closed-form key of the Gaussian dual in :mod:`infwidth.kernels` ("relu", "identity", "erf",
            "square"), or None (numerical Mehler expansion / quadrature).
        aliases: other names that resolve to it.

    Calling an activation dispatches on the argument: a torch tensor goes to ``torch``, anything else
    to ``numpy``.
    """

    name: str
    numpy: Elementwise
    numpy_derivative: Elementwise
    torch: Elementwise
    torch_derivative: Elementwise
    polynomial: tuple[float, ...] | None = None
    dual: str | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def kind(self) -> str:
        """"linear" (degree <= 1), "polynomial", or "general": which exact limit backend can run it."""
        if self.polynomial is None:
            return "general"
        return "linear" if len(self.polynomial) <= 2 else "polynomial"

    def __call__(self, x: Any) -> Any:
        if _is_tensor(x):
            return self.torch(x)
        return self.numpy(x)

    @property
    def label(self) -> str:
        """The name (how programs print it)."""
        return self.name

    def derivative(self, x: Any) -> Any:
        """phi'(x), dispatching like ``__call__``."""
        if _is_tensor(x):
            return self.torch_derivative(x)
        return self.numpy_derivative(x)

    def __repr__(self) -> str:
        return f"Activation({self.name!r}, kind={self.kind!r}, dual={self.dual!r})"


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "requires_grad")


def _torch() -> Any:
    import torch

    return torch


# -- the named activations -------------------------------------------------------------------------
def _identity(x: Any) -> Any:
    return x


def _one(x: Any) -> Any:
    return 1.0


def _ones_like(x: Any) -> Any:
    return _torch().ones_like(x)


def _square(x: Any) -> Any:
    return x * x


def _twice(x: Any) -> Any:
    return 2.0 * x


def _relu_np(x: Any) -> Any:
    return np.maximum(x, 0.0)


def _step_np(x: Any) -> Any:
    return (np.asarray(x) > 0) * 1.0


def _relu_t(x: Any) -> Any:
    return _torch().relu(x)


def _step_t(x: Any) -> Any:
    return (x > 0).to(x.dtype)


def _tanh_np(x: Any) -> Any:
    return np.tanh(x)


def _tanh_d_np(x: Any) -> Any:
    return 1.0 - np.tanh(x) ** 2


def _tanh_t(x: Any) -> Any:
    return _torch().tanh(x)


def _tanh_d_t(x: Any) -> Any:
    return 1.0 - _torch().tanh(x) ** 2


def _erf_np(x: Any) -> Any:
    from scipy.special import erf

    return erf(x)


def _erf_d_np(x: Any) -> Any:
    return (2.0 / math.sqrt(math.pi)) * np.exp(-np.square(x))


def _erf_t(x: Any) -> Any:
    return _torch().erf(x)


def _erf_d_t(x: Any) -> Any:
    return (2.0 / math.sqrt(math.pi)) * _torch().exp(-x * x)


def _gelu_np(x: Any) -> Any:
    from scipy.special import erf

    return 0.5 * x * (1.0 + erf(x / SQRT2))


def _gelu_d_np(x: Any) -> Any:
    from scipy.special import erf

    return 0.5 * (1.0 + erf(x / SQRT2)) + x * np.exp(-0.5 * np.square(x)) / SQRT2PI


def _gelu_t(x: Any) -> Any:
    return _torch().nn.functional.gelu(x)


def _gelu_d_t(x: Any) -> Any:
    torch = _torch()
    return 0.5 * (1.0 + torch.erf(x / SQRT2)) + x * torch.exp(-0.5 * x * x) / SQRT2PI


ACTIVATIONS: dict[str, Activation] = {
    a.name: a
    for a in (
        Activation("identity", _identity, _one, _identity, _ones_like, (0.0, 1.0), "identity", ("id", "linear", "x")),
        Activation("square", _square, _twice, _square, _twice, (0.0, 0.0, 1.0), "square", ("quadratic", "x^2", "x2")),
        Activation("relu", _relu_np, _step_np, _relu_t, _step_t, None, "relu"),
        Activation("tanh", _tanh_np, _tanh_d_np, _tanh_t, _tanh_d_t),
        Activation("gelu", _gelu_np, _gelu_d_np, _gelu_t, _gelu_d_t),
        Activation("erf", _erf_np, _erf_d_np, _erf_t, _erf_d_t, None, "erf"),
    )
}
_BY_NAME: dict[str, Activation] = {alias: a for a in ACTIVATIONS.values() for alias in (a.name, *a.aliases)}


def names() -> list[str]:
    """Canonical names of the registered activations."""
    return list(ACTIVATIONS)


def activation(phi: str | Activation | Callable[[Any], Any], derivative: Callable[[Any], Any] | None = None,
               polynomial: Sequence[float] | None = None) -> Activation:
    """Resolve a name (or alias), pass an :class:`Activation` through, or wrap a callable once.

    ``derivative`` (optional, for callables) is phi' in the same array library as phi; ``polynomial``
    (optional) declares a callable to be the polynomial sum_j c_j x^j, which lets the exact backends run it.
    Raises InfwidthError for an unknown name or a callable that accepts neither numpy arrays nor tensors.
    """
    if isinstance(phi, Activation):
        return phi
    if isinstance(phi, str):
        key = phi.strip().lower()
        if key not in _BY_NAME:
            raise InfwidthError(f"unknown activation {phi!r}; choose one of: {', '.join(ACTIVATIONS)} "
                                "(or pass a callable).")
        return _BY_NAME[key]
    if callable(phi):
        return _wrap(phi, derivative, polynomial)
    raise InfwidthError(f"an activation must be a name or a callable, got {type(phi).__name__}.")


def polynomial_activation(coefficients: Sequence[float], name: str | None = None) -> Activation:
    """phi(x) = sum_j c_j x^j (Horner, arithmetic only: every backend runs it, the exact ones exactly)."""
    c = tuple(float(v) for v in coefficients)
    if not c or not all(math.isfinite(v) for v in c):
        raise InfwidthError(f"polynomial coefficients must be finite numbers, got {coefficients!r}.")
    dc = tuple(j * c[j] for j in range(1, len(c))) or (0.0,)
    label = name or "poly(" + ", ".join(f"{v:g}" for v in c) + ")"
    f, df = _Horner(c, label), _Horner(dc, label + "'")
    return Activation(label, f, df, f, df, c, None)


class _Horner:
    """sum_j c_j x^j by Horner's rule with arithmetic operators only."""

    def __init__(self, c: tuple[float, ...], label: str) -> None:
        self.c, self.label = c, label

    def __call__(self, x: Any) -> Any:
        acc: Any = self.c[-1]
        for cj in reversed(self.c[:-1]):
            acc = acc * x + cj
        return acc


def _wrap(fn: Callable[[Any], Any], derivative: Callable[[Any], Any] | None,
          polynomial: Sequence[float] | None) -> Activation:
    name = getattr(fn, "__name__", type(fn).__name__)
    name = "custom" if name == "<lambda>" else name
    on_torch, on_numpy = _accepts(fn)
    if not (on_torch or on_numpy):
        raise InfwidthError(f"activation {name!r} accepts neither numpy arrays nor torch tensors; write it with "
                            "arithmetic operators, numpy or torch functions.")
    if on_torch:
        t_fn: Elementwise = fn
        t_d: Elementwise = derivative if derivative is not None else _AutogradDerivative(fn)
        np_fn: Elementwise = fn if on_numpy else _ViaTorch(fn)
        np_d: Elementwise = _ViaTorch(t_d)
    else:
        np_fn, np_d = fn, derivative if derivative is not None else _CentralDifference(fn)
        t_fn, t_d = _NumpyFunction(np_fn, np_d), _ViaNumpy(np_d)
    poly = None if polynomial is None else tuple(float(v) for v in polynomial)
    return Activation(name, np_fn, np_d, t_fn, t_d, poly, None)


def _accepts(fn: Callable[[Any], Any]) -> tuple[bool, bool]:
    """(works on torch tensors keeping the autograd graph, works on numpy arrays and returns one)."""
    import warnings

    probe = np.linspace(-2.0, 2.0, 7)
    on_numpy = on_torch = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn(probe)
            on_numpy = isinstance(out, np.ndarray) and out.shape == probe.shape
        except Exception:  # any failure means "not a numpy function"
            on_numpy = False
        try:  # numpy ufuncs accept tensors but drop the graph: require requires_grad on the output
            torch = _torch()
            out_t = fn(torch.from_numpy(probe.copy()).requires_grad_(True))
            on_torch = isinstance(out_t, torch.Tensor) and tuple(out_t.shape) == probe.shape and out_t.requires_grad
        except Exception:
            on_torch = False
    return on_torch, on_numpy


class _AutogradDerivative:
    """phi' of an elementwise torch function by autograd (exact up to rounding)."""

    def __init__(self, fn: Elementwise) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        torch = _torch()
        with torch.enable_grad():
            z = x.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(self.fn(z).sum(), z)
        return g.detach()


class _ViaTorch:
    """A torch elementwise function applied to numpy arrays (float64 round trip)."""

    def __init__(self, fn: Elementwise) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        torch = _torch()
        a = np.asarray(x, dtype=np.float64)
        return self.fn(torch.from_numpy(np.ascontiguousarray(a))).detach().numpy()


class _ViaNumpy:
    """A numpy elementwise function applied to (detached) torch tensors."""

    def __init__(self, fn: Elementwise) -> None:
        self.fn = fn

    def __call__(self, x: Any) -> Any:
        torch = _torch()
        out = np.asarray(self.fn(x.detach().cpu().double().numpy()), dtype=np.float64)
        return torch.from_numpy(out).to(dtype=x.dtype, device=x.device)


class _CentralDifference:
    """phi' by the 5-point central difference, step 1e-3 (truncation ~h^4 phi^(5), rounding ~1e-13)."""

    def __init__(self, fn: Elementwise, h: float = 1e-3) -> None:
        self.fn, self.h = fn, h

    def __call__(self, x: Any) -> Any:
        f, h = self.fn, self.h
        return (f(x - 2 * h) - 8 * f(x - h) + 8 * f(x + h) - f(x + 2 * h)) / (12 * h)


class _NumpyFunction:
    """A numpy phi as a differentiable torch function (backward uses phi')."""

    def __init__(self, fn: Elementwise, d: Elementwise) -> None:
        self.fn, self.d = fn, d

    def __call__(self, x: Any) -> Any:
        torch = _torch()
        fn, d = _ViaNumpy(self.fn), _ViaNumpy(self.d)
        base: Any = torch.autograd.Function

        class _F(base):
            @staticmethod
            def forward(ctx: Any, z: Any) -> Any:
                ctx.save_for_backward(z)
                return fn(z)

            @staticmethod
            def backward(ctx: Any, *grads: Any) -> Any:
                (z,) = ctx.saved_tensors
                return grads[0] * d(z)

        return _F.apply(x)
