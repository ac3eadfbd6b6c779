"""Builders: SGD on an MLP written as a Tensor Program (TP4 Algorithm 1, step 1).

Network (same conventions as ``infwidth.nn.AbcMLP``): ``h^1 = W^1 xi``, ``x^l = phi(h^l)``,
``h^l = W^l x^{l-1}`` (2 <= l <= L), ``f = W^{L+1} x^L``; ``W^l = alpha_l n^{-a_l} w^l`` with
``w^l ~ N(0, sigma_l^2 n^{-2 b_l})``, defaults ``alpha = 1``, ``sigma = (1/sqrt(d), 1, ..., 1)``;
SGD on ``w`` with learning rate ``eta n^{-c}``; loss ``1/2 |f - y|^2`` ("mse") or
``log(1 + exp(-y f))`` ("logistic", y = +-1), averaged over the batch.

In muP (a = (-1/2, 0, ..., 0, 1/2), b = 1/2, c = 0) the program's vectors are the n-scaled
quantities of TP4 Section 6: columns of ``W^1`` (Z ~ N(0, alpha_1^2 sigma_1^2)), rows of
``n W^{L+1}``, ``h^l, x^l`` and the scaled gradients ``dx^l = n dL/dx^l``, ``dh^l = n dL/dh^l``
(we weight the backward pass by the loss derivative chi, so ``dh`` here is chi times the paper's).
Updates are kept implicitly (Eqs. (22), (24)):

* ``W^1_t xi = W^1_0 xi - eta alpha_1^2 sum_s (xi_s . xi) dh^1_s``
* ``W^l_t x = W^l_0 x - eta alpha_l^2 sum_s dh^l_s (x^{l-1}_s . x / n)``  (a Moment per term)
* ``n W^{L+1}_t = n W^{L+1}_0 - eta alpha_{L+1}^2 sum_s chi_s x^L_s``
* backward ``dx^{l-1} = W^l_0^T dh^l - eta alpha_l^2 sum_s x^{l-1}_s (dh^l_s . dh^l / n)``;
  with decoupled backprop (Section 6.2, Eq. (20)) ``W^l_0^T`` is replaced by an independent copy.

Other abc-parametrizations in the feature-learning regime: a layer whose update exponent
``2 a_l + c`` exceeds muP's is not maximally updated and stays at initialization in the limit
(Section 6.4); a layer whose initialization exponent ``a_l + b_l`` exceeds muP's starts at 0 in the
limit. Kernel-regime parametrizations raise :class:`KernelRegimeError` (their limit is kernel
gradient descent, see ``infwidth.kernels``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from infwidth.arch import Activation, activation
from infwidth.errors import InfwidthError
from infwidth.limits.program import LinComb, Program, Scalar, Vec
from infwidth.parametrization import AbcParametrization, classify, mup


class KernelRegimeError(InfwidthError):
    """The parametrization is in the kernel regime: its limit is kernel gradient descent (Theorem 3.8)."""


@dataclass(frozen=True)
class LayerRoles:
    """Per layer l = 1..L+1: does its initialization survive, is it (maximally) updated in the limit."""

    init_active: tuple[bool, ...]
    update_active: tuple[bool, ...]


def layer_roles(param: AbcParametrization) -> LayerRoles:
    """Classify the parametrization and decide which layers move in the feature-learning limit.

    Raises KernelRegimeError in the kernel regime, InfwidthError if unstable, trivial or not
    expressible with the muP scalings used by the builders.
    """
    L = param.depth
    cl = classify(param)
    if not cl.stable:
        raise InfwidthError(f"parametrization {param.describe()} is unstable (TP4 Theorem 3.3), so it has no limit.")
    if cl.kernel_regime:
        raise KernelRegimeError(f"parametrization {param.describe()} is in the kernel regime: its limit is kernel "
                                "gradient descent with the NTK (TP4 Theorem 3.8), not a feature-learning Tensor "
                                "Program.")
    if not cl.feature_learning:
        raise InfwidthError(f"parametrization {param.describe()} has a trivial limit (the function does not move); "
                            "pick a nontrivial one, e.g. mup.")
    ref = mup(L)
    init_ref = [ra + rb for ra, rb in zip(ref.a, ref.b)]
    upd_ref = [2 * ra + ref.c for ra in ref.a]
    init_active, update_active = [], []
    for l in range(L + 1):
        ab: Fraction = param.a[l] + param.b[l]
        ac: Fraction = 2 * param.a[l] + param.c
        if ab < init_ref[l] or ac < upd_ref[l]:
            raise InfwidthError(f"layer {l + 1} of {param.describe()} is scaled larger than in muP; the builders only "
                                "handle feature-learning parametrizations whose layers are at most muP-sized.")
        init_active.append(ab == init_ref[l])
        update_active.append(ac == upd_ref[l])
    return LayerRoles(tuple(init_active), tuple(update_active))


def _mul(a: Any, b: Any) -> Any:
    return a * b


_mul.label = "mul"  # type: ignore[attr-defined]


@dataclass
class MLPProgram:
    """A built SGD program and the names of its outputs.

    ``f_names[t][b][k]`` the logit on training input (t, b) before update t; ``loss_names[t]`` the
    batch loss at step t; ``eval_names[t][e][k]`` the logit on evaluation input e after t updates
    (t = 0..T).
    """

    program: Program
    f_names: list[list[list[str]]]
    loss_names: list[str]
    eval_names: list[list[list[str]]] = field(default_factory=list)

    def collect(self, values: dict[str, float]) -> dict[str, np.ndarray]:
        """Arrays ``f`` (T, B, d_o), ``loss`` (T,), ``f_eval`` (T+1, E, d_o) from a name->value map."""
        out = {"f": np.array([[[values[k] for k in b] for b in t] for t in self.f_names]),
               "loss": np.array([values[k] for k in self.loss_names])}
        if self.eval_names and self.eval_names[0]:
            out["f_eval"] = np.array([[[values[k] for k in e] for e in t] for t in self.eval_names])
        return out


def _as_batches(xs: Any, d: int, name: str) -> np.ndarray:
    a = np.asarray(xs, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None, None] if d == 1 else a[None, None, :]
    elif a.ndim == 2:
        a = a[:, None, :] if a.shape[1] == d else a[..., None]
    if a.ndim != 3 or a.shape[2] != d:
        raise InfwidthError(f"{name} must have shape (T, d) or (T, batch, d) with d = {d}, got {np.shape(xs)}.")
    return a


def mlp_sgd_program(depth: int, phi: str | Activation | Callable[[Any], Any], xs: Any, ys: Any, lr: float = 1.0,
                    loss: str = "mse",
                    d_in: int = 1, d_out: int = 1, decoupled: bool = False, eval_xs: Any = None,
                    param: AbcParametrization | None = None, alphas: Sequence[float] | None = None,
                    sigmas: Sequence[float] | None = None) -> MLPProgram:
    """Write T steps of SGD on an L-hidden-layer MLP as a Tensor Program.

    ``xs``: (T, d_in) or (T, batch, d_in) training inputs; ``ys``: (T, d_out) or (T, batch, d_out)
    targets; ``eval_xs``: (E, d_in) held-out inputs evaluated after every step. Returns the
    program and the names of its output scalars (see :class:`MLPProgram`).
    """
    L = int(depth)
    if L < 1:
        raise InfwidthError(f"depth must be >= 1 hidden layer, got {depth}.")
    act = activation(phi)
    X = _as_batches(xs, d_in, "xs")
    Y = _as_batches(ys, d_out, "ys")
    if X.shape[:2] != Y.shape[:2]:
        raise InfwidthError(f"xs and ys must have the same number of steps and batch size, got {X.shape[:2]} "
                            f"and {Y.shape[:2]}.")
    if loss not in ("mse", "logistic"):
        raise InfwidthError(f"unknown loss {loss!r}; choose mse or logistic.")
    if loss == "logistic" and d_out != 1:
        raise InfwidthError("the logistic loss needs output dimension 1.")
    E = np.zeros((0, d_in)) if eval_xs is None else np.asarray(eval_xs, dtype=np.float64).reshape(-1, d_in)
    roles = layer_roles(param if param is not None else mup(L))
    al = np.ones(L + 1) if alphas is None else np.asarray(alphas, dtype=np.float64)
    sg = np.array([1 / np.sqrt(d_in)] + [1.0] * L) if sigmas is None else np.asarray(sigmas, dtype=np.float64)
    if al.shape != (L + 1,) or sg.shape != (L + 1,):
        raise InfwidthError(f"alphas and sigmas need {L + 1} entries (one per layer).")
    T, Bsz = X.shape[:2]
    prog = Program(f"sgd_mlp(L={L}, phi={act.name}, {'decoupled' if decoupled else 'normal'}, T={T}, batch={Bsz})")
    U = prog.init_vectors([f"U{j}" for j in range(d_in)], np.eye(d_in) * (al[0] * sg[0]) ** 2)
    V = prog.init_vectors([f"nV{k}" for k in range(d_out)], np.eye(d_out) * (al[L] * sg[L]) ** 2)
    Wm = {l: prog.matrix(f"W{l}", float((al[l - 1] * sg[l - 1]) ** 2)) for l in range(2, L + 1)}
    Wb = {l: prog.matrix(f"Wtilde{l}", Wm[l].sigma2) for l in Wm} if decoupled else Wm
    phi_fn = act.numpy
    dphi = act.numpy_derivative
    # history per weight: layer 1 -> (dh1_s, xi_s); layer l -> (dh^l_s, x^{l-1}_s); output -> (chi_s, x^L_s)
    h1_hist: list[tuple[Vec, np.ndarray]] = []
    mid_hist: dict[int, list[tuple[Vec, Vec]]] = {l: [] for l in Wm}
    out_hist: list[tuple[list[Scalar], Vec]] = []

    def forward(xi: np.ndarray, tag: str) -> tuple[list[Vec], list[Vec], list[Scalar]]:
        vecs: list[Vec] = []
        terms: list[tuple[int | None, list[int], float]] = []
        if roles.init_active[0]:
            for j in range(d_in):
                if xi[j] != 0.0:
                    terms.append((len(vecs), [], float(xi[j])))
                    vecs.append(U[j])
        for dh, xs_ in h1_hist:
            terms.append((len(vecs), [], -lr * al[0] ** 2 * float(xs_ @ xi)))
            vecs.append(dh)
        hs = [prog.nonlin(LinComb(len(vecs), terms, "h1"), vecs, name=f"h1_{tag}")]
        xs_l = [prog.nonlin(phi_fn, [hs[0]], name=f"x1_{tag}")]
        for l in range(2, L + 1):
            vecs, terms, scal = [], [], []
            if roles.init_active[l - 1]:
                terms.append((0, [], 1.0))
                vecs.append(prog.matmul(Wm[l], xs_l[-1], name=f"W{l}x{l - 1}_{tag}"))
            for dh, xprev in mid_hist[l]:
                scal.append(prog.moment(_mul, [xprev, xs_l[-1]], name=f"<{xprev.name},{xs_l[-1].name}>"))
                terms.append((len(vecs), [len(scal) - 1], -lr * al[l - 1] ** 2))
                vecs.append(dh)
            hs.append(prog.nonlin(LinComb(len(vecs), terms, f"h{l}"), vecs, scal, name=f"h{l}_{tag}"))
            xs_l.append(prog.nonlin(phi_fn, [hs[-1]], name=f"x{l}_{tag}"))
        xL = xs_l[-1]
        m_hist = [prog.moment(_mul, [xs_, xL], name=f"<{xs_.name},{xL.name}>") for _, xs_ in out_hist]
        fs = []
        for k in range(d_out):
            scal, terms2 = [], []
            if roles.init_active[L]:
                scal.append(prog.moment(_mul, [V[k], xL], name=f"<nV{k},{xL.name}>"))
                terms2.append((None, [0], 1.0))
            for (chis, _), m in zip(out_hist, m_hist):
                scal += [chis[k], m]
                terms2.append((None, [len(scal) - 2, len(scal) - 1], -lr * al[L] ** 2))
            fs.append(prog.moment(LinComb(0, terms2, "f"), [], scal, name=f"f{k}_{tag}"))
        return hs, xs_l, fs

    f_names: list[list[list[str]]] = []
    loss_names: list[str] = []
    eval_names: list[list[list[str]]] = []

    def evaluate(t: int) -> None:
        eval_names.append([[f.name for f in forward(E[e], f"t{t}e{e}")[2]] for e in range(E.shape[0])])

    for t in range(T):
        evaluate(t)
        step_records = []
        f_names.append([])
        chis_b, losses = [], []
        for b in range(Bsz):
            hs, xs_l, fs = forward(X[t, b], f"t{t}b{b}")
            f_names[-1].append([f.name for f in fs])
            y = Y[t, b]
            if loss == "mse":
                chis = [prog.moment(_chi_mse(float(y[k]), Bsz), [], [fs[k]], name=f"chi{k}_t{t}b{b}")
                        for k in range(d_out)]
                losses.append(prog.moment(_loss_mse(y, Bsz), [], fs, name=f"lossb_t{t}b{b}"))
            else:
                chis = [prog.moment(_chi_logistic(float(y[0]), Bsz), [], [fs[0]], name=f"chi0_t{t}b{b}")]
                losses.append(prog.moment(_loss_logistic(float(y[0]), Bsz), [], fs, name=f"lossb_t{t}b{b}"))
            chis_b.append(chis)
            # backward: dx^L = sum_k chi_k n W^{L+1}_{k,t}
            vecs: list[Vec] = []
            terms: list[tuple[int | None, list[int], float]] = []
            scal: list[Scalar] = []
            for k in range(d_out):
                scal.append(chis[k])
                ck = len(scal) - 1
                if roles.init_active[L]:
                    terms.append((len(vecs), [ck], 1.0))
                    vecs.append(V[k])
                for chis_s, xL_s in out_hist:
                    scal.append(chis_s[k])
                    terms.append((len(vecs), [ck, len(scal) - 1], -lr * al[L] ** 2))
                    vecs.append(xL_s)
            dx = prog.nonlin(LinComb(len(vecs), terms, f"dx{L}"), vecs, scal, name=f"dx{L}_t{t}b{b}")
            dhs: dict[int, Vec] = {}
            for l in range(L, 0, -1):
                dhs[l] = prog.nonlin(_backprop_gate(dphi), [dx, hs[l - 1]], name=f"dh{l}_t{t}b{b}")
                if l == 1:
                    break
                vecs, terms, scal = [], [], []
                if roles.init_active[l - 1]:
                    terms.append((0, [], 1.0))
                    vecs.append(prog.matmul(Wb[l], dhs[l], transpose=not decoupled, name=f"W{l}Tdh{l}_t{t}b{b}"))
                for dh_s, xprev_s in mid_hist[l]:
                    scal.append(prog.moment(_mul, [dh_s, dhs[l]], name=f"<{dh_s.name},{dhs[l].name}>"))
                    terms.append((len(vecs), [len(scal) - 1], -lr * al[l - 1] ** 2))
                    vecs.append(xprev_s)
                dx = prog.nonlin(LinComb(len(vecs), terms, f"dx{l - 1}"), vecs, scal, name=f"dx{l - 1}_t{t}b{b}")
            step_records.append((X[t, b], hs, xs_l, dhs, chis))
        loss_names.append(prog.moment(LinComb(0, [(None, [i], 1.0) for i in range(Bsz)], "sum"), [], losses,
                                      name=f"loss_t{t}").name)
        for xi, _hs, xs_l, dhs, chis in step_records:  # SGD updates (Eq. (22)), frozen layers skipped
            if roles.update_active[0]:
                h1_hist.append((dhs[1], xi))
            for l in range(2, L + 1):
                if roles.update_active[l - 1]:
                    mid_hist[l].append((dhs[l], xs_l[l - 2]))
            if roles.update_active[L]:
                out_hist.append((chis, xs_l[-1]))
    evaluate(T)
    for t, fb in enumerate(f_names):
        for b, fk in enumerate(fb):
            for k, nm in enumerate(fk):
                prog.output(f"f[{t},{b},{k}]", _find(prog, nm))
    return MLPProgram(prog, f_names, loss_names, eval_names)


def _find(prog: Program, name: str) -> Scalar:
    from infwidth.limits.program import Moment

    for ins in prog.instructions:
        if isinstance(ins, Moment) and ins.out.name == name:
            return ins.out
    raise KeyError(name)  # pragma: no cover


class _backprop_gate:
    """``dh = dx * phi'(h)``."""

    def __init__(self, dphi: Callable[[Any], Any]) -> None:
        self.dphi = dphi
        self.label = "dx*phi'(h)"

    def __call__(self, dx: Any, h: Any) -> Any:
        return dx * self.dphi(h)


def _chi_mse(y: float, bsz: int) -> Callable[[Any], Any]:
    def chi(f: Any) -> Any:
        return (f - y) / bsz

    chi.label = f"(f-({y:g}))/{bsz}"  # type: ignore[attr-defined]
    return chi


def _loss_mse(y: np.ndarray, bsz: int) -> Callable[..., Any]:
    def loss(*fs: Any) -> Any:
        return sum(0.5 * (f - float(yk)) ** 2 for f, yk in zip(fs, y)) / bsz

    loss.label = "mse"  # type: ignore[attr-defined]
    return loss


def _chi_logistic(y: float, bsz: int) -> Callable[[Any], Any]:
    def chi(f: Any) -> Any:
        return -y / (1.0 + np.exp(y * f)) / bsz

    chi.label = f"logistic'(f, {y:g})/{bsz}"  # type: ignore[attr-defined]
    return chi


def _loss_logistic(y: float, bsz: int) -> Callable[..., Any]:
    def loss(f: Any) -> Any:
        return np.logaddexp(0.0, -y * f) / bsz

    loss.label = "logistic"  # type: ignore[attr-defined]
    return loss
