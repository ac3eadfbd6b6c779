"""The kernel-regime limit of abc-parametrized MLPs (TP4 Theorem 3.8, Eq. (9)).

For the network of :class:`infwidth.nn.AbcMLP` -- W^l = alpha_l n^{-a_l} w^l, w^l ~ N(0, sigma_l^2 n^{-2 b_l}),
LR eta n^{-c} -- one SGD step on (xi_t, y_t) moves the output by (first order in eta)

    Delta f(xi) = -eta chi_t sum_l n^{-c} alpha_l^2 n^{-2 a_l} <dF/dW^l(xi), dF/dW^l(xi_t)>.

With A = a_{L+1} + b_{L+1} and the stability equalities (6), the layer-l term (l <= L) scales as
n^{e_l}, e_l = 1 - 2A - c - 2 a_l + I(l >= 2), and the readout term as n^{1 - 2 a_{L+1} - c}.
Stability makes every exponent <= 0; a term survives the limit iff its exponent is 0, i.e.

* hidden layer l contributes iff r_l = r and A + r = 1 (e_l = 1 - A - r_l when W^{L+1} stays
  near its initialization; docs/kernels.md has the derivation),
* the readout contributes iff 2 a_{L+1} + c = 1,
* f_0 is the centred GP with the NNGP covariance iff A = 1/2; otherwise f_0 -> 0.

The surviving constants are those of :func:`~infwidth.kernels.mlp.kernel_recursion` with
w_var[l] = alpha_{l+1}^2 sigma_{l+1}^2 (forward and backward variances; layer 1 sees the raw dot product
x . x'), w_grad[l] = alpha_{l+1}^2 for contributing layers and 0 otherwise. AbcMLP biases start at 0
(no NNGP term); the hidden biases (multiplier alpha_1 n^{-a_1}) scale like the first-layer weights and
contribute alpha_1^2 iff e_1 = 0; the readout bias (multiplier 1) contributes 1 iff c = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from infwidth.arch import Activation, activation
from infwidth.errors import InfwidthError
from infwidth.kernels.activations import Elementwise
from infwidth.kernels.dynamics import kernel_sgd
from infwidth.kernels.mlp import ArrayLike, LayerConstants, as_inputs, kernel_recursion
from infwidth.parametrization import AbcParametrization, classify

HALF = Fraction(1, 2)


def layer_exponents(param: AbcParametrization) -> tuple[Fraction, ...]:
    """Width exponents of the tangent-kernel terms of layers 1..L+1 (module docstring); 0 = contributes."""
    A = param.a[-1] + param.b[-1]
    hidden = [1 - 2 * A - param.c - 2 * param.a[l] + (1 if l >= 1 else 0) for l in range(param.depth)]
    return tuple(hidden + [1 - 2 * param.a[-1] - param.c])


@dataclass(frozen=True)
class AbcKernelSpec:
    """The limit kernels of one abc-parametrized MLP.

    ``layers``: the (1-based) layers whose weights contribute to the Eq. (9) kernel; ``f0_random``: whether
    f_0 converges to the NNGP (A = 1/2) rather than to 0; ``consts``: recursion constants; ``nonlinearity``.
    """

    param: AbcParametrization
    nonlinearity: Activation
    consts: LayerConstants
    layers: tuple[int, ...]
    f0_random: bool
    bias: bool

    @property
    def name(self) -> str:
        """e.g. "ntk(layers 2..3)" for SP with c = 1 at depth 2."""
        ls = self.layers
        if len(ls) == 1:
            return f"ntk(layer {ls[0]})"
        if list(ls) == list(range(ls[0], ls[-1] + 1)):
            return f"ntk(layers {ls[0]}..{ls[-1]})"
        return f"ntk(layers {','.join(map(str, ls))})"


def abc_kernel_spec(
    param: AbcParametrization, phi: str | Elementwise | Activation, d_in: int,
    alphas: Sequence[float] | None = None, sigmas: Sequence[float] | None = None, bias: bool = False,
) -> AbcKernelSpec:
    """The limit kernels of ``AbcMLP(param, n, d_in, phi=phi, bias=bias, alphas=alphas, sigmas=sigmas)``.

    Requires only the stability conditions (6)-(8); whether the limit dynamics *is* Eq. (9) is
    Theorem 3.8's question (checked by :func:`kernel_regime_limit`).
    """
    cl = classify(param)
    if not cl.stable:
        raise InfwidthError(f"{param.describe()} is unstable ({'; '.join(cl.failed_conditions)}); it has no limit.")
    L = param.depth
    al = [1.0] * (L + 1) if alphas is None else [float(v) for v in alphas]
    sg = [1.0 / math.sqrt(d_in)] + [1.0] * L if sigmas is None else [float(v) for v in sigmas]
    if len(al) != L + 1 or len(sg) != L + 1:
        raise InfwidthError(f"alphas and sigmas need L+1 = {L + 1} entries (one per layer).")
    if bias and param.c < 0:
        raise InfwidthError("with c < 0 the readout bias update blows up; use bias=False or a parametrization "
                            "with c >= 0.")
    ex = layer_exponents(param)
    w_var = tuple(a * a * s * s for a, s in zip(al, sg))
    w_grad = tuple(a * a if e == 0 else 0.0 for a, e in zip(al, ex))
    hid_b = al[0] ** 2 if (bias and ex[0] == 0) else 0.0
    b_grad = tuple([hid_b] * L + [1.0 if (bias and param.c == 0) else 0.0])
    consts = LayerConstants(w_var, (0.0,) * (L + 1), w_grad, b_grad)
    layers = tuple(i + 1 for i, e in enumerate(ex) if e == 0)
    return AbcKernelSpec(param, activation(phi), consts, layers, param.a[-1] + param.b[-1] == HALF, bias)


def abc_kernels(spec: AbcKernelSpec, x1: ArrayLike, x2: ArrayLike | None = None) -> tuple[Tensor, Tensor]:
    """(covariance of lim f_0, the Eq. (9) kernel K) between inputs x1 (P, d) and x2 (Q, d) (None: x1).

    The first is the NNGP alpha_{L+1}^2 sigma_{L+1}^2 Phi^L when f_0 is random, else zeros.
    """
    a = as_inputs(x1)
    b = None if x2 is None else as_inputs(x2, device=a.device)
    sig, theta = kernel_recursion(a, b, spec.nonlinearity, spec.consts, need_ntk=True)
    assert theta is not None
    return (sig if spec.f0_random else torch.zeros_like(sig)), theta


@dataclass
class KernelRegimeLimit:
    """Result of :func:`kernel_regime_limit` (numpy float64 arrays).

    f: (T,) [or (T, d_o)] limit of f_t(xi_t) before the t-th update; loss: (T,); f_eval: None or
    (T+1, m) [or (T+1, m, d_o)] on eval_xs after 0..T updates; kernel: e.g. "ntk(layers 2..3)";
    f0_random: True when lim f_0 is a (nonzero) Gaussian process -- the trajectories are then those
    started from f_0 = 0, which equal the mean over initializations for mse only (see ``note``).
    """

    f: np.ndarray
    loss: np.ndarray
    f_eval: np.ndarray | None
    kernel: str
    layers: tuple[int, ...]
    f0_random: bool
    note: str


def kernel_regime_limit(
    param: AbcParametrization, phi: str, xs: np.ndarray, ys: np.ndarray, lr: float,
    loss: str = "mse", eval_xs: np.ndarray | None = None,
    alphas: Sequence[float] | None = None, sigmas: Sequence[float] | None = None,
) -> KernelRegimeLimit:
    """The n -> infinity limit of SGD (batch size 1) on ``AbcMLP(param, n, d, phi=phi)`` in the kernel regime.

    Inputs: xs (T, d) training inputs in order (1-D: d = 1), ys (T,) or (T, d_o) targets (class
    indices for xent), lr eta, loss "mse" | "logistic" | "xent", optional eval_xs (m, d), AbcMLP's
    alphas/sigmas. Output: :class:`KernelRegimeLimit`. Raises InfwidthError unless ``param`` is
    stable, nontrivial and in the kernel regime (Theorem 3.8).
    """
    cl = classify(param)
    if cl.regime != "kernel":
        raise InfwidthError(
            f"{param.describe()} is {cl.regime}, not a nontrivial stable kernel-regime parametrization (r > 0); "
            "use the Tensor Programs limit (infwidth limit mlp) for feature learning, or fix the exponents."
        )
    x = as_inputs(xs)
    spec = abc_kernel_spec(param, phi, x.shape[1], alphas, sigmas)
    _, k_train = abc_kernels(spec, x)
    y = torch.as_tensor(np.asarray(ys), dtype=torch.float64)
    k_eval = None if eval_xs is None else abc_kernels(spec, eval_xs, x)[1]
    res = kernel_sgd(k_train, y, lr, loss, batch_size=1, k_eval=k_eval)
    squeeze = loss != "xent" and np.asarray(ys).ndim == 1
    f = res.f[:, 0] if squeeze else res.f
    f_eval = None if res.f_eval is None else (res.f_eval[..., 0] if squeeze else res.f_eval)
    note = ("lim f_0 = 0 (a_{L+1} + b_{L+1} > 1/2): the limit is deterministic."
            if not spec.f0_random else
            "lim f_0 is a Gaussian process (NNGP); f is the trajectory from f_0 = 0, which equals the mean over "
            "initializations only for mse (linear dynamics); use kernel_sgd with the network's own f_0 otherwise.")
    return KernelRegimeLimit(f.numpy(), res.loss.numpy(), None if f_eval is None else f_eval.numpy(),
                             spec.name, spec.layers, spec.f0_random, note)
