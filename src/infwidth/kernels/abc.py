"""The kernel reading of an MLPSpec and the kernel-regime limit of training (TP4 Theorem 3.8, Eq. (9)).

``kernel(spec, param)`` is the limit kernel pair (covariance of lim f_0, Eq. (9) tangent kernel) of
``AbcMLP(spec, param, n)`` for a kernel-regime parametrization; ``kernel_limit(spec, param, routine)`` trains
with it: kernel gradient descent from the random f_0 (module section "random f_0" below).

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
contribute alpha_1^2 iff e_1 = 0; the readout bias (multiplier 1) contributes 1 iff c = 0. Residual
blocks change neither the sizes nor the exponents (each skip adds a Theta(1) vector), only the recursion
(:func:`~infwidth.kernels.mlp.layerwise_kernels`).

Random f_0: with A = 1/2 the limit trajectory f_t is a function of the Gaussian process f_0 (NNGP
covariance; outputs iid), not one deterministic curve. For mse the dynamics is affine in f_0, so the mean
trajectory is the one started from f_0 = 0 and the covariance is propagated exactly (the same linear
dynamics applied to a square-root factor of the NNGP matrix); for the other losses both come from Monte
Carlo draws of f_0.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from infwidth.arch import MLPSpec, Routine
from infwidth.arch.limit import TrainingLimit
from infwidth.errors import InfwidthError
from infwidth.kernels.dynamics import kernel_gd
from infwidth.kernels.mlp import ArrayLike, LayerConstants, as_inputs, kernel_recursion
from infwidth.parametrization import AbcParametrization, classify

HALF = Fraction(1, 2)
MC_SAMPLES = 512


def layer_exponents(param: AbcParametrization) -> tuple[Fraction, ...]:
    """Width exponents of the tangent-kernel terms of layers 1..L+1 (module docstring); 0 = contributes."""
    A = param.a[-1] + param.b[-1]
    hidden = [1 - 2 * A - param.c - 2 * param.a[l] + (1 if l >= 1 else 0) for l in range(param.depth)]
    return tuple(hidden + [1 - 2 * param.a[-1] - param.c])


@dataclass(frozen=True)
class MLPKernel:
    """The infinite-width kernels of ``AbcMLP(spec, param, n)``.

    ``layers``: the (1-based) layers whose weights contribute to the Eq. (9) kernel; ``f0_random``: whether
    f_0 converges to the NNGP (A = 1/2) rather than to 0; ``consts``: recursion constants. Call it on inputs
    ``(x1 (P, d), x2 (Q, d) or None)`` for (covariance of lim f_0, Eq. (9) kernel K), two (P, Q) tensors.
    """

    spec: MLPSpec
    param: AbcParametrization
    consts: LayerConstants
    layers: tuple[int, ...]
    f0_random: bool

    @property
    def name(self) -> str:
        """e.g. "ntk(layers 2..3)" for SP with c = 1 at depth 2."""
        ls = self.layers
        if len(ls) == 1:
            return f"ntk(layer {ls[0]})"
        if list(ls) == list(range(ls[0], ls[-1] + 1)):
            return f"ntk(layers {ls[0]}..{ls[-1]})"
        return f"ntk(layers {','.join(map(str, ls))})"

    def __call__(self, x1: ArrayLike, x2: ArrayLike | None = None) -> tuple[Tensor, Tensor]:
        a = as_inputs(x1)
        b = None if x2 is None else as_inputs(x2, device=a.device)
        sig, theta = kernel_recursion(a, b, self.spec.activation, self.consts, need_ntk=True,
                                      residual=self.spec.residual)
        assert theta is not None
        return (sig if self.f0_random else torch.zeros_like(sig)), theta


def tangent_kernel(spec: MLPSpec, param: AbcParametrization) -> MLPKernel:
    """The Eq. (9) kernel of ``AbcMLP(spec, param, n)`` at initialization, for any stable parametrization.

    It is the network's limit kernel only in the kernel regime (:func:`kernel`); for feature-learning
    parametrizations it describes the first SGD step only.
    """
    spec.check(param)
    cl = classify(param)
    if not cl.stable:
        raise InfwidthError(f"{param.describe()} is unstable ({'; '.join(cl.failed_conditions)}); it has no limit.")
    if spec.bias and param.c < 0:
        raise InfwidthError("with c < 0 the readout bias update blows up; use bias=False or a parametrization "
                            "with c >= 0.")
    L = param.depth
    al, sg = spec.alphas, spec.sigmas
    ex = layer_exponents(param)
    w_var = tuple(a * a * s * s for a, s in zip(al, sg))
    w_grad = tuple(a * a if e == 0 else 0.0 for a, e in zip(al, ex))
    hid_b = al[0] ** 2 if (spec.bias and ex[0] == 0) else 0.0
    b_grad = tuple([hid_b] * L + [1.0 if (spec.bias and param.c == 0) else 0.0])
    consts = LayerConstants(w_var, (0.0,) * (L + 1), w_grad, b_grad)
    layers = tuple(i + 1 for i, e in enumerate(ex) if e == 0)
    return MLPKernel(spec, param, consts, layers, param.a[-1] + param.b[-1] == HALF)


def kernel(spec: MLPSpec, param: AbcParametrization) -> MLPKernel:
    """The limit kernels of ``AbcMLP(spec, param, n)``; InfwidthError unless ``param`` is in the kernel regime.

    A feature-learning parametrization (muP) has no kernel limit: its limit is a Tensor Program
    (``infwidth.limits.limit_of``); its tangent kernel at initialization is :func:`tangent_kernel`.
    """
    cl = classify(param)
    if cl.stable and cl.feature_learning:
        raise InfwidthError(f"{param.describe()} learns features (r = 0), so it has no kernel limit: its "
                            "infinite-width training is a Tensor Program (infwidth limit mlp); use a kernel-regime "
                            "parametrization such as ntp or sp_stable for NNGP/NTK limits.")
    if cl.stable and not cl.kernel_regime:
        raise InfwidthError(f"{param.describe()} has a trivial limit (f does not move), so it has no "
                            "kernel limit; pick a nontrivial parametrization.")
    return tangent_kernel(spec, param)


def _sqrt_factor(cov: np.ndarray) -> np.ndarray:
    """A (P, r) with A A^T = cov (eigh; eigenvalues below 1e-12 of the largest dropped)."""
    w, U = np.linalg.eigh(0.5 * (cov + cov.T))
    keep = w > 1e-12 * max(float(w.max(initial=0.0)), 1e-300)
    return U[:, keep] * np.sqrt(w[keep])


def kernel_limit(spec: MLPSpec, param: AbcParametrization, routine: Routine, samples: int | None = None,
                 seed: int = 0) -> TrainingLimit:
    """The n -> infinity limit of ``routine`` on ``AbcMLP(spec, param, n)`` in the kernel regime (Theorem 3.8).

    Returns a :class:`~infwidth.arch.TrainingLimit` with the mean, standard deviation (over the GP f_0) and
    numerical standard error of every reported f_t and loss: exact for mse (``samples`` None), else from
    ``samples`` (default 512) draws of f_0 (``seed``). Raises InfwidthError outside the kernel regime.
    """
    t0 = time.perf_counter()
    spec.check(param)
    routine.check(spec)
    cl = classify(param)
    if cl.regime != "kernel":
        raise InfwidthError(f"{param.describe()} is {cl.regime}, not a nontrivial stable kernel-regime "
                            "parametrization (r > 0); use infwidth.limits.limit_of, which picks the right limit.")
    k = kernel(spec, param)
    pts = routine.inputs if routine.eval_inputs is None else np.vstack([routine.inputs, routine.eval_inputs])
    cov_t, K_t = k(pts)
    K, cov = K_t.numpy()[:, : routine.n_examples], cov_t.numpy()
    d, P = spec.d_out, pts.shape[0]
    mean = kernel_gd(K, routine, np.zeros((1, P, d)))
    res = TrainingLimit("kernel", "kernel", mean.f[0], np.zeros_like(mean.f[0]), np.zeros_like(mean.f[0]),
                        mean.loss[0], np.zeros_like(mean.loss[0]), routine.eval_steps(),
                        None if mean.f_eval is None else mean.f_eval[0],
                        None if mean.f_eval is None else np.zeros_like(mean.f_eval[0]),
                        None if mean.f_eval is None else np.zeros_like(mean.f_eval[0]),
                        k.name, k.f0_random, "lim f_0 = 0 (a_{L+1} + b_{L+1} > 1/2): the limit is deterministic.")
    if k.f0_random:
        A = _sqrt_factor(cov)
        if routine.loss == "mse" and samples is None:
            _exact_mse_spread(res, K, routine, A)
        else:
            _monte_carlo(res, K, routine, A, samples or MC_SAMPLES, seed)
    res.seconds = time.perf_counter() - t0
    return res


def _exact_mse_spread(res: TrainingLimit, K: np.ndarray, routine: Routine, A: np.ndarray) -> None:
    """mse: f_t = (trajectory from f_0 = 0) + (linear dynamics applied to f_0); Var from the factor A of the NNGP."""
    lin = kernel_gd(K, routine, A.T[:, :, None], homogeneous=True)
    var = (lin.f**2).sum(0)  # (T, B, 1), the same for every output (iid outputs, decoupled dynamics)
    d = res.f.shape[-1]
    res.f_std = np.broadcast_to(np.sqrt(var), res.f.shape).copy()
    res.loss = res.loss + 0.5 * d * var[..., 0].mean(-1)  # E[(f - y)^2] = (E f - y)^2 + Var f
    if lin.f_eval is not None and res.f_eval is not None:
        res.f_eval_std = np.broadcast_to(np.sqrt((lin.f_eval**2).sum(0)), res.f_eval.shape).copy()
    res.note = ("lim f_0 is a Gaussian process (NNGP covariance): f is the exact mean over f_0 and f_std the exact "
                "standard deviation (mse dynamics are affine in f_0).")


def _monte_carlo(res: TrainingLimit, K: np.ndarray, routine: Routine, A: np.ndarray, samples: int, seed: int) -> None:
    """Mean, spread and standard error over ``samples`` draws f_0 = A g of the GP (iid outputs)."""
    if samples < 2:
        raise InfwidthError(f"samples must be >= 2 to estimate a spread, got {samples}.")
    d = res.f.shape[-1]
    g = np.random.default_rng(seed).standard_normal((samples, A.shape[1], d))
    run = kernel_gd(K, routine, np.einsum("pr,srd->spd", A, g))
    root = math.sqrt(samples)
    res.f, res.f_std = run.f.mean(0), run.f.std(0, ddof=1)
    res.f_stderr = res.f_std / root
    res.loss, res.loss_stderr = run.loss.mean(0), run.loss.std(0, ddof=1) / root
    if run.f_eval is not None:
        res.f_eval, res.f_eval_std = run.f_eval.mean(0), run.f_eval.std(0, ddof=1)
        res.f_eval_stderr = res.f_eval_std / root
        res.samples = run.f_eval
    res.note = (f"lim f_0 is a Gaussian process (NNGP covariance): f is the mean over {samples} draws of f_0 "
                "(f_stderr its Monte Carlo error) and f_std the spread of the trajectories.")
