"""Finite-width MLPs in any abc-parametrization (TP4 Eq. (1), items (a)-(c) and footnote 4).

``AbcMLP(spec, param, width)`` is the PyTorch reading of an :class:`~infwidth.arch.MLPSpec` (its module
docstring has the network: biases, residual blocks, per-layer constants, decoupled backprop). Layer
l = 1..L+1 has effective weights ``W^l = alpha_l n^{-a_l} w^l`` with trainable
``w^l ~ N(0, sigma_l^2 n^{-2 b_l})`` and is trained by SGD with learning rate ``eta n^{-c}`` on ``w^l``
(no momentum, no weight decay). ``n`` is the width of every hidden layer.

    h^1 = W^1 xi,  x^1 = phi(h^1),  h^l = W^l x^{l-1},  x^l = phi(h^l) [+ x^{l-1}],  f = W^{L+1} x^L.

With the default constants ``alphas = 1`` and ``sigmas = (1/sqrt(d_in), 1, ..., 1)`` the
standard parametrization is exactly PyTorch's LeCun fan-in initialization.

Biases (``spec.bias``) are treated like first-layer weights with a constant input 1: the hidden biases of
layers 1..L carry the multiplier ``alpha_1 n^{-a_1}``; the readout bias carries multiplier 1. All biases
start at 0 and are trained with the same learning rate ``eta n^{-c}``.

``spec.decoupled_backprop`` implements the partially decoupled backpropagation of Section 6.2,
Eq. (20), for every hidden-to-hidden layer l = 2..L: the backward pass uses
``W~^l + Delta W^l_t`` (transposed as in Eq. (20)) instead of ``W^l_t``, where ``W~^l`` is an
independent copy of ``W^l_0`` sampled at construction and ``Delta W^l_t = W^l_t - W^l_0``.
The forward pass and the weight gradients (outer products, Eq. (21)) are unchanged.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from infwidth.arch import MLPSpec
from infwidth.errors import InfwidthError
from infwidth.nn.losses import loss_and_grad_scale, loss_value
from infwidth.parametrization import AbcParametrization


class _DecoupledLinear(torch.autograd.Function):
    """h = mult * x w^T whose input-gradient uses ``back`` (an (out, in) matrix) instead of mult * w.

    Section 6.2, Eq. (20): grad_x = grad_h @ (W~^T + Delta W_t) in row-vector form.
    The weight gradient is the usual outer product mult * grad_h^T x (Eq. (21)).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, mult: float, back: Tensor) -> Tensor:
        ctx.save_for_backward(x, back)
        ctx.mult = mult
        return mult * (x @ w.T)

    @staticmethod
    def backward(ctx: Any, *grads: Tensor) -> tuple[Tensor, Tensor, None, None]:
        (grad_h,) = grads
        x, back = ctx.saved_tensors
        return grad_h @ back, ctx.mult * (grad_h.T @ x), None, None


class AbcMLP(nn.Module):
    """The width-n network of ``spec`` in the abc-parametrization ``param`` (module docstring).

    Args:
        spec: the architecture (:class:`~infwidth.arch.MLPSpec`); its depth must equal ``param.depth``.
        param: the abc-parametrization.
        width: n, the width of every hidden layer.
        dtype, device: of every tensor.
        seed: seeds the initialization (a private generator; global RNG untouched when given).

    The older form ``AbcMLP(param, width, d_in, d_out=1, phi=..., bias=..., alphas=..., sigmas=...,
    decoupled_backprop=...)`` builds the spec from those arguments.
    """

    def __init__(
        self,
        spec: MLPSpec | AbcParametrization,
        param: AbcParametrization | int | None = None,
        width: int | None = None,
        *legacy_dims: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
        seed: int | None = None,
        **legacy: Any,
    ) -> None:
        super().__init__()
        if not isinstance(spec, (MLPSpec, AbcParametrization)):
            raise InfwidthError(f"AbcMLP needs an MLPSpec and an AbcParametrization (e.g. AbcMLP(MLPSpec(2, d_in=3), "
                                f"preset('mup', 2), 64)), got {type(spec).__name__}.")
        if isinstance(spec, AbcParametrization):  # AbcMLP(param, width, d_in, d_out, phi=..., ...)
            pos = [v for v in (param, width, *legacy_dims) if v is not None]
            width, param = (pos[0] if pos else None), spec  # type: ignore[assignment]
            spec = _legacy_spec(param, pos[1:], legacy)  # MLPSpec checks d_in and d_out
        elif legacy_dims or legacy:
            raise InfwidthError(f"AbcMLP(spec, param, width) takes the architecture from the spec; unexpected "
                                f"arguments {list(legacy) or list(legacy_dims)}.")
        if not isinstance(param, AbcParametrization) or width is None:
            raise InfwidthError("call AbcMLP(spec, param, width) with an MLPSpec, an AbcParametrization and a width.")
        spec.check(param)
        if isinstance(width, bool) or not isinstance(width, (int, numbers.Integral)) or int(width) < 1:
            raise InfwidthError(f"width, d_in and d_out must be integers >= 1, got width {width!r}.")
        L = param.depth
        self.spec, self.param, self.width = spec, param, int(width)
        self.d_in, self.d_out, self.depth = spec.d_in, spec.d_out, L
        self.activation = spec.activation
        self.phi_name, self.phi = self.activation.name, self.activation.torch
        self.alphas, self.sigmas = list(spec.alphas), list(spec.sigmas)
        self.decoupled_backprop, self.residual = spec.decoupled_backprop, spec.residual
        n = float(width)
        # Exact scales from the exponents: multiplier alpha_l n^{-a_l}, init std sigma_l n^{-b_l}.
        self._mult = [al * n ** (-float(a)) for al, a in zip(self.alphas, param.a)]
        self._init_std = [s * n ** (-float(b)) for s, b in zip(self.sigmas, param.b)]
        self.lr_scale = n ** (-float(param.c))
        gen = torch.Generator(device="cpu")
        gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))
        shapes = [(width, spec.d_in)] + [(width, width)] * (L - 1) + [(spec.d_out, width)]
        self.weights = nn.ParameterList(
            [nn.Parameter(self._sample(shape, std, gen, dtype, device)) for shape, std in zip(shapes, self._init_std)]
        )
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.zeros(shape[0], dtype=dtype, device=device)) for shape in shapes] if spec.bias else []
        )
        self._bias_mult = [self._mult[0]] * L + [1.0]
        # Section 6.2: a fixed copy W~ (as w~, same law as w_0) and w_0 for every hidden-to-hidden layer.
        self._w0: dict[int, Tensor] = {}
        self._wtilde: dict[int, Tensor] = {}
        if self.decoupled_backprop:
            for i in range(1, L):
                self._w0[i] = self.weights[i].detach().clone()
                self._wtilde[i] = self._sample(shapes[i], self._init_std[i], gen, dtype, device)

    def _apply(self, fn: Any, recurse: bool = True) -> AbcMLP:
        """Also move/cast the decoupled-backprop copies W_0 and W~ with ``.to()``, ``.cuda()``, ``.double()``."""
        super()._apply(fn, recurse)
        for store in (self._w0, self._wtilde):
            for k in store:
                store[k] = fn(store[k])
        return self

    @staticmethod
    def _sample(shape: tuple[int, int], std: float, gen: torch.Generator, dtype: torch.dtype,
                device: torch.device | str | None) -> Tensor:
        """Gaussian N(0, std^2) sampled on the CPU generator (reproducible across devices)."""
        w = torch.randn(shape, generator=gen, dtype=torch.float64) * std
        return w.to(dtype=dtype, device=device)

    def multiplier(self, l: int) -> float:
        """alpha_l n^{-a_l} of layer l (1-based, l = 1..L+1)."""
        if not 1 <= l <= self.depth + 1:
            raise InfwidthError(f"layer index l must be in 1..{self.depth + 1}, got {l}.")
        return self._mult[l - 1]

    def effective_weight(self, l: int) -> Tensor:
        """W^l = alpha_l n^{-a_l} w^l (1-based l), detached."""
        return self.multiplier(l) * self.weights[l - 1].detach()

    def decoupled_copy(self, l: int) -> Tensor:
        """W~^l = alpha_l n^{-a_l} w~^l, the backward pass's independent copy of layer l (2 <= l <= L), detached."""
        if not self.decoupled_backprop or l - 1 not in self._wtilde:
            raise InfwidthError(f"layer {l} has no decoupled copy (decoupled backprop is on for layers 2..L only).")
        return self._mult[l - 1] * self._wtilde[l - 1].detach()

    def _layer(self, i: int, x: Tensor) -> Tensor:
        """Preactivation of layer i+1 (0-based i) from its input x."""
        w, m = self.weights[i], self._mult[i]
        if self.decoupled_backprop and i in self._wtilde:
            back = m * (w.detach() - self._w0[i] + self._wtilde[i])
            out: Tensor = _DecoupledLinear.apply(x, w, m, back)
        else:
            out = torch.nn.functional.linear(x, w)
            if m != 1.0:
                out = out.mul_(m)  # in place: linear's backward does not need its output
        if len(self.biases):
            out = out + self._bias_mult[i] * self.biases[i]
        return out

    def features(self, x: Tensor) -> dict[str, list[Tensor]]:
        """Preactivations ``h`` = [h^1..h^L] and activations ``x`` = [x^1..x^L], each (batch, width),
        plus ``f`` = [f] (batch, d_out)."""
        hs: list[Tensor] = []
        xs: list[Tensor] = []
        z = x
        for i in range(self.depth):
            h = self._layer(i, z)
            z = z + self.phi(h) if (self.residual and i > 0) else self.phi(h)
            hs.append(h)
            xs.append(z)
        return {"h": hs, "x": xs, "f": [self._layer(self.depth, z)]}

    def forward(self, x: Tensor) -> Tensor:
        """f(x): (batch, d_in) -> (batch, d_out)."""
        z = x
        for i in range(self.depth):
            h = self.phi(self._layer(i, z))
            z = z + h if (self.residual and i > 0) else h
        return self._layer(self.depth, z)

    def trainable(self) -> list[nn.Parameter]:
        """w^1..w^{L+1} followed by the biases (if any)."""
        return list(self.weights) + list(self.biases)

    def layer_lrs(self, eta: float | Sequence[float]) -> list[float]:
        """The learning rate of each trainable tensor: eta_l n^{-c} (biases use eta of their layer)."""
        L1 = self.depth + 1
        etas = [float(eta)] * L1 if isinstance(eta, (int, float)) else [float(e) for e in eta]
        if len(etas) != L1:
            raise InfwidthError(f"eta needs 1 or L+1 = {L1} values (one per layer), got {len(etas)}.")
        lrs = [e * self.lr_scale for e in etas]
        return lrs + (lrs if len(self.biases) else [])

    def sgd_step(self, x: Tensor, y: Tensor, eta: float | Sequence[float], loss: str = "mse") -> float:
        """One SGD step w^l <- w^l - eta_l n^{-c} dLoss/dw^l on the batch (x, y); returns the loss before it.

        Loss: "mse" = 1/2 sum_outputs (f - y)^2, "logistic" = log(1 + exp(-y f)) with y in {-1, +1},
        "xent" = softmax cross-entropy with y the class indices; each averaged over the batch.
        """
        params = self.trainable()
        lrs = self.layer_lrs(eta)
        f = self.forward(x)
        value = loss_value(f, y, loss)
        grads = torch.autograd.grad(value, params)
        with torch.no_grad():
            for p, g, lr in zip(params, grads, lrs):
                p.add_(g, alpha=-lr)
        return float(value.detach())

    def sgd_step_manual(self, x: Tensor, y: Tensor, eta: float | Sequence[float], loss: str = "mse") -> float:
        """The same step as :meth:`sgd_step` with gradients from ``chi = dLoss/df`` by hand-written backprop.

        Used to cross-check autograd (and the decoupled backward pass) without autograd; biases unsupported.
        """
        if len(self.biases):
            raise InfwidthError("sgd_step_manual does not support biases; use sgd_step.")
        lrs = self.layer_lrs(eta)
        with torch.no_grad():
            feats = self.features(x)
            f = feats["f"][0]
            value, chi = loss_and_grad_scale(f, y, loss)
            ins = [x] + feats["x"]
            dh = chi  # d loss / d (preactivation of layer l+1), batch-summed below
            dx: Tensor | None = None  # d loss / d x^l
            grads: list[Tensor] = [torch.empty(0)] * (self.depth + 1)
            for i in range(self.depth, -1, -1):
                m = self._mult[i]
                grads[i] = m * dh.T @ ins[i]  # d loss / d w^{i+1} = mult * dh^T x (Eq. (21))
                if i == 0:
                    break
                if self.decoupled_backprop and i in self._wtilde:
                    back = m * (self.weights[i] - self._w0[i] + self._wtilde[i])
                else:
                    back = m * self.weights[i]
                through = dh @ back
                dx = through + dx if (self.residual and i < self.depth and dx is not None) else through
                h = feats["h"][i - 1].clone().requires_grad_(True)
                with torch.enable_grad():
                    (dphi,) = torch.autograd.grad(self.phi(h).sum(), h)
                dh = dx * dphi
            for p, g, lr in zip(self.weights, grads, lrs):
                p.add_(g, alpha=-lr)
        return value


def _legacy_spec(param: AbcParametrization, dims: list[Any], kw: dict[str, Any]) -> MLPSpec:
    """The MLPSpec of the older call ``AbcMLP(param, width, d_in, d_out=1, phi=..., bias=..., ...)``."""
    known = {"d_in", "d_out", "phi", "bias", "alphas", "sigmas", "decoupled_backprop"}
    args: dict[str, Any] = dict(zip(("d_in", "d_out"), dims))
    if len(dims) > 2 or set(kw) - known or "d_in" not in {**args, **kw}:
        raise InfwidthError(f"AbcMLP(param, width, d_in, d_out, ...): unexpected {sorted(set(kw) - known)} "
                            "arguments, too many dimensions, or missing d_in.")
    args.update(kw)
    for key in ("alphas", "sigmas"):
        args[key] = tuple(args.get(key) or ())
    return MLPSpec(param.depth, **args)
