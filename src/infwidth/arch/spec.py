"""One description of an MLP, read three ways: a PyTorch model, a Tensor Program, a kernel.

:class:`MLPSpec` owns the architecture and its width-independent constants; a parametrization
(:class:`~infwidth.parametrization.AbcParametrization`) owns the width exponents. Every reading takes
both: ``AbcMLP(spec, param, width)``, ``program(spec, param, routine)``, ``kernel(spec, param)``,
``limit_of(spec, param, routine)``.

Network (TP4 Eq. (1)): ``h^1 = W^1 xi (+ b^1)``, ``x^1 = phi(h^1)``; for l = 2..L,
``h^l = W^l x^{l-1} (+ b^l)`` and ``x^l = phi(h^l)``, or with ``residual`` ``x^l = x^{l-1} + phi(h^l)``
(a residual block: the skip needs equal widths, so layer 1 has none); ``f = W^{L+1} x^L (+ b^{L+1})``.
Layer l has ``W^l = alpha_l n^{-a_l} w^l`` with trainable ``w^l ~ N(0, sigma_l^2 n^{-2 b_l})``; the
default constants ``alpha = 1``, ``sigma = (1/sqrt(d_in), 1, ..., 1)`` make SP PyTorch's LeCun fan-in
initialization. Biases start at 0; the hidden ones carry the first layer's multiplier
``alpha_1 n^{-a_1}`` (they are weights on a constant input 1), the readout bias the multiplier 1.
``decoupled_backprop``: the backward pass of every hidden-to-hidden layer uses an independent copy of
its initial weights (TP4 Section 6.2, Eq. (20)).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from infwidth.arch.activations import Activation, activation
from infwidth.errors import InfwidthError


def _constants(values: Sequence[float] | None, default: list[float], what: str, depth: int) -> tuple[float, ...]:
    if values is None or len(values) == 0:
        return tuple(default)
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise InfwidthError(f"{what} must be numbers, got {values!r}.") from None
    if len(out) != depth + 1:
        raise InfwidthError(f"{what} need L+1 = {depth + 1} entries (one per layer l = 1..L+1), got {len(out)}.")
    if not all(math.isfinite(v) for v in out):
        raise InfwidthError(f"{what} must be finite, got {out}.")
    return out


@dataclass(frozen=True, eq=False)
class MLPSpec:
    """An L-hidden-layer MLP, independent of width and parametrization (module docstring).

    Args:
        depth: L >= 1, the number of hidden layers.
        d_in, d_out: input and output dimensions (fixed as the width grows).
        phi: activation name, :class:`~infwidth.arch.Activation` or callable (resolved once, here).
        bias: trainable biases, initialized at 0.
        residual: residual blocks ``x^l = x^{l-1} + phi(h^l)`` for l >= 2 (needs depth >= 2).
        alphas: multipliers alpha_1..alpha_{L+1} (default all 1).
        sigmas: initialization constants sigma_1..sigma_{L+1} (default (1/sqrt(d_in), 1, ..., 1)).
        decoupled_backprop: TP4 Section 6.2's partially decoupled backward pass.

    After construction ``phi`` is an Activation and ``alphas``/``sigmas`` are tuples of L+1 floats.
    """

    depth: int
    d_in: int = 1
    d_out: int = 1
    phi: Activation | str | Callable[[Any], Any] = "relu"
    bias: bool = False
    residual: bool = False
    alphas: tuple[float, ...] = field(default=())
    sigmas: tuple[float, ...] = field(default=())
    decoupled_backprop: bool = False

    def __post_init__(self) -> None:
        for name in ("depth", "d_in", "d_out"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, numbers.Integral)) or v < 1:
                raise InfwidthError(f"{name} must be an integer >= 1, got {v!r}.")
            object.__setattr__(self, name, int(v))  # NumPy integers accepted, stored as int
        if self.residual and self.depth < 2:
            raise InfwidthError("residual blocks start at layer 2, so residual=True needs depth >= 2 hidden layers.")
        L = self.depth
        object.__setattr__(self, "phi", activation(self.phi))
        object.__setattr__(self, "alphas", _constants(self.alphas, [1.0] * (L + 1), "alphas", L))
        object.__setattr__(self, "sigmas", _constants(self.sigmas, [1.0 / math.sqrt(self.d_in)] + [1.0] * L,
                                                      "sigmas", L))
        if any(s < 0 for s in self.sigmas):
            raise InfwidthError(f"sigmas must be >= 0 (they are standard deviations), got {self.sigmas}.")

    @property
    def activation(self) -> Activation:
        """phi as an :class:`Activation` (typed accessor)."""
        assert isinstance(self.phi, Activation)
        return self.phi

    def check(self, param: Any) -> None:
        """Raise InfwidthError unless ``param`` is an abc-parametrization of this depth."""
        from infwidth.parametrization import AbcParametrization

        if not isinstance(param, AbcParametrization):
            raise InfwidthError(f"expected an AbcParametrization (e.g. infwidth.parametrization.mup({self.depth})), "
                                f"got {type(param).__name__}.")
        if param.depth != self.depth:
            raise InfwidthError(f"the spec has depth L = {self.depth} but the parametrization {param.describe()} has "
                                f"depth {param.depth} ({param.depth + 1} layers); build both with the same depth.")

    def replace(self, **changes: Any) -> MLPSpec:
        """A copy with some fields changed (constants are re-validated)."""
        fields = {k: getattr(self, k) for k in ("depth", "d_in", "d_out", "phi", "bias", "residual",
                                                 "decoupled_backprop")}
        fields.update(alphas=self.alphas, sigmas=self.sigmas)
        if "depth" in changes or "d_in" in changes:
            fields.update(alphas=(), sigmas=())  # defaults depend on depth and d_in
        fields.update(changes)
        return MLPSpec(**fields)

    def describe(self) -> str:
        """One line, e.g. ``MLP(L=2, 16 -> 3, tanh, bias, residual)``."""
        flags = [f for f, on in (("bias", self.bias), ("residual", self.residual),
                                 ("decoupled backprop", self.decoupled_backprop)) if on]
        head = f"MLP(L={self.depth}, {self.d_in} -> {self.d_out}, {self.activation.name}"
        return head + "".join(", " + f for f in flags) + ")"
