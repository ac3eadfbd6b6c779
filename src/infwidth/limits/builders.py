"""Builders: SGD on an :class:`~infwidth.arch.MLPSpec` written as a Tensor Program (TP4 Algorithm 1, step 1).

``tensor_program(spec, param, routine)`` writes the training routine (minibatch SGD, mse / logistic / softmax
cross-entropy) on the network of :mod:`infwidth.arch.spec` (biases, residual blocks, decoupled backprop,
any d_in and d_out) as a program whose finite-width run *is* ``AbcMLP(spec, param, n)`` trained by the
same routine, and whose limit is the network's infinite-width limit (Master Theorem 7.4).

In muP (a = (-1/2, 0, ..., 0, 1/2), b = 1/2, c = 0) the program's vectors are the n-scaled quantities of
TP4 Section 6: ``G_k = W^1_0 q_k`` for an orthonormal basis q_k of the inputs' span (Z ~ N(0, alpha_1^2
sigma_1^2)), rows of ``n W^{L+1}``, ``h^l, x^l`` and the scaled gradients ``dx^l = n dL/dx^l``,
``dh^l = n dL/dh^l`` (weighted by chi = dLoss/df, so ``dh`` is chi times the paper's). Updates are kept
implicitly (Eqs. (22), (24)); ``s`` runs over the examples of earlier steps:

* ``W^1_t xi = W^1_0 xi - eta alpha_1^2 sum_s (xi_s . xi) dh^1_s``; the hidden biases add
  ``b^l_t = -eta alpha_1^2 sum_s dh^l_s`` (weights on a constant input 1);
* ``W^l_t x = W^l_0 x - eta alpha_l^2 sum_s dh^l_s (x^{l-1}_s . x / n)``  (a Moment per term);
* ``n W^{L+1}_t = n W^{L+1}_0 - eta alpha_{L+1}^2 sum_s chi_s x^L_s``; ``b^{L+1}_t = -eta sum_s chi_s``;
* backward ``dx^{l-1} = [dx^l] + W^l_0^T dh^l - eta alpha_l^2 sum_s x^{l-1}_s (dh^l_s . dh^l / n)``
  (the bracket for residual blocks); decoupled backprop (Section 6.2, Eq. (20)) replaces ``W^l_0^T`` by an
  independent copy.

Other feature-learning abc-parametrizations: a layer whose update exponent ``2 a_l + c`` exceeds muP's
is not maximally updated and stays at initialization in the limit (Section 6.4); a layer whose
initialization exponent ``a_l + b_l`` exceeds muP's starts at 0 in the limit. Hidden biases move iff
layer 1's weights do; the readout bias (multiplier 1) moves iff c = 0. Kernel-regime parametrizations
raise :class:`KernelRegimeError` (their limit is kernel gradient descent, :mod:`infwidth.kernels`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from infwidth.arch import Activation, MLPSpec, Routine
from infwidth.errors import InfwidthError
from infwidth.limits.program import LinComb, Matrix, Program, Scalar, Vec
from infwidth.parametrization import AbcParametrization, classify, mup


class KernelRegimeError(InfwidthError):
    """The parametrization is in the kernel regime: its limit is kernel gradient descent (Theorem 3.8)."""


@dataclass(frozen=True)
class LayerRoles:
    """Per layer l = 1..L+1: does its initialization survive, is it (maximally) updated in the limit;
    and does the readout bias move (c = 0)."""

    init_active: tuple[bool, ...]
    update_active: tuple[bool, ...]
    readout_bias_active: bool = True


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
    init_active, update_active = [], []
    for l in range(L + 1):
        ab: Fraction = param.a[l] + param.b[l]
        ac: Fraction = 2 * param.a[l] + param.c
        ab_ref, ac_ref = ref.a[l] + ref.b[l], 2 * ref.a[l] + ref.c
        if ab < ab_ref or ac < ac_ref:
            raise InfwidthError(f"layer {l + 1} of {param.describe()} is scaled larger than in muP; the builders only "
                                "handle feature-learning parametrizations whose layers are at most muP-sized.")
        init_active.append(ab == ab_ref)
        update_active.append(ac == ac_ref)
    return LayerRoles(tuple(init_active), tuple(update_active), param.c == 0)


# -- named terms of the SGD history (what each update adds to the weights) ---------------------------
@dataclass(frozen=True)
class InputUpdate:
    """One example's term of ``W^1_t - W^1_0`` (and of the hidden bias b^1_t): ``-eta alpha_1^2 dh^1_s xi_s^T``."""

    dh: Vec
    xi: np.ndarray


@dataclass(frozen=True)
class HiddenUpdate:
    """One example's term of ``W^l_t - W^l_0`` (2 <= l <= L): ``-eta alpha_l^2 dh^l_s x^{l-1}_s^T / n``."""

    dh: Vec
    x_prev: Vec


@dataclass(frozen=True)
class ReadoutUpdate:
    """One example's term of ``n W^{L+1}_t - n W^{L+1}_0``: ``-eta alpha_{L+1}^2 chi_s x^L_s^T``."""

    chi: tuple[Scalar, ...]
    x_last: Vec


@dataclass
class History:
    """Every update so far, per weight: the implicit form of the trained weights (Eq. (22)).

    ``hidden_bias[l]``: the dh^l_s of the terms ``-eta alpha_1^2 dh^l_s`` of b^l_t (l >= 2; layer 1's bias is
    folded into ``first``); ``readout_bias``: the chi_s of the terms ``-eta chi_s`` of b^{L+1}_t.
    """

    first: list[InputUpdate] = field(default_factory=list)
    hidden: dict[int, list[HiddenUpdate]] = field(default_factory=dict)
    hidden_bias: dict[int, list[Vec]] = field(default_factory=dict)
    readout: list[ReadoutUpdate] = field(default_factory=list)
    readout_bias: list[tuple[Scalar, ...]] = field(default_factory=list)


@dataclass(frozen=True)
class Forward:
    """One forward pass: preactivations h^1..h^L, activations x^1..x^L, outputs f_1..f_{d_out}."""

    h: list[Vec]
    x: list[Vec]
    f: list[Scalar]


@dataclass(frozen=True)
class InputBasis:
    """``W^1_0 xi = sum_k (q_k . xi) G_k``, ``G_k = W^1_0 q_k`` iid N(0, alpha_1^2 sigma_1^2) coordinates.

    ``q`` (r, d_in) is an orthonormal basis of the span of every input the routine uses (the identity when
    they span R^d), so r = rank <= min(#inputs, d_in) first-layer vectors carry the whole input layer.
    """

    q: np.ndarray
    vectors: tuple[Vec, ...]


class _Sum:
    """``sum_i const_i * prod(scalars_i) * vec_i`` (+ scalar-only terms), collected into one LinComb."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.vecs: list[Vec] = []
        self.scalars: list[Scalar] = []
        self.terms: list[tuple[int | None, list[int], float]] = []

    def add(self, const: float, vec: Vec | None = None, scalars: Sequence[Scalar] = ()) -> None:
        pos = None
        if vec is not None:
            self.vecs.append(vec)
            pos = len(self.vecs) - 1
        first = len(self.scalars)
        self.scalars.extend(scalars)
        self.terms.append((pos, list(range(first, len(self.scalars))), float(const)))

    def vector(self, prog: Program, name: str) -> Vec:
        return prog.nonlin(LinComb(len(self.vecs), self.terms, self.label), self.vecs, self.scalars, name=name)

    def scalar(self, prog: Program, name: str) -> Scalar:
        return prog.moment(LinComb(0, self.terms, self.label), [], self.scalars, name=name)


def _mul(a: Any, b: Any) -> Any:
    return a * b


_mul.label = "mul"  # type: ignore[attr-defined]


class _BackpropGate:
    """``dh = dx * phi'(h)``."""

    def __init__(self, phi: Activation) -> None:
        self.dphi = phi.numpy_derivative
        self.label = "dx*phi'(h)"

    def __call__(self, dx: Any, h: Any) -> Any:
        return dx * self.dphi(h)


class _ResidualBlock:
    """``x^l = x^{l-1} + phi(h^l)``."""

    def __init__(self, phi: Activation) -> None:
        self.phi = phi.numpy
        self.label = f"x+{phi.name}(h)"

    def __call__(self, x: Any, h: Any) -> Any:
        return x + self.phi(h)


class _LossTerm:
    """One example's share of the batch loss, or chi_k = dLoss/df_k, as a function of its logits f_1..f_d."""

    def __init__(self, loss: str, y: Any, batch: int, k: int | None = None) -> None:
        self.loss, self.y, self.batch, self.k = loss, y, batch, k
        self.label = f"{loss}/{batch}" if k is None else f"d{loss}/df{k}/{batch}"

    def __call__(self, *f: Any) -> Any:
        loss, y, B, k = self.loss, self.y, self.batch, self.k
        if loss == "mse":
            if k is None:
                return sum(0.5 * (fj - float(yj)) ** 2 for fj, yj in zip(f, y)) / B
            return (f[k] - float(y[k])) / B
        if loss == "logistic":
            yy = float(y[0])
            return np.logaddexp(0.0, -yy * f[0]) / B if k is None else -yy / (1.0 + np.exp(yy * f[0])) / B
        m = f[0]
        for fj in f[1:]:
            m = np.maximum(m, fj)
        z = sum(np.exp(fj - m) for fj in f)
        if k is None:  # softmax cross-entropy: logsumexp(f) - f_y
            return (m + np.log(z) - f[int(y)]) / B
        return (np.exp(f[k] - m) / z - (1.0 if k == int(y) else 0.0)) / B


@dataclass
class MLPProgram:
    """A built SGD program and the names of its outputs.

    ``f_names[t][b][k]``: logit k on example b of step t, before update t; ``loss_names[t]``: the batch loss
    at step t; ``eval_names[j][e][k]``: logit k on eval input e after ``eval_steps[j]`` updates.
    """

    program: Program
    f_names: list[list[list[str]]]
    loss_names: list[str]
    eval_names: list[list[list[str]]] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    spec: MLPSpec | None = None
    routine: Routine | None = None
    basis: InputBasis | None = None

    def collect(self, values: dict[str, float]) -> dict[str, np.ndarray]:
        """Arrays ``f`` (T, B, d_out), ``loss`` (T,), ``f_eval`` (len(eval_steps), E, d_out) from a name->value map."""
        out = {"f": np.array([[[values[k] for k in b] for b in t] for t in self.f_names]),
               "loss": np.array([values[k] for k in self.loss_names])}
        if self.eval_names and self.eval_names[0]:
            out["f_eval"] = np.array([[[values[k] for k in e] for e in t] for t in self.eval_names])
        return out

    def init_from(self, net: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """(initial vectors, matrices) for ``run_finite`` that reproduce the untrained ``AbcMLP`` ``net`` exactly.

        Only the muP class (every layer active, Eq. (5)-equivalent to muP) has a finite-width program equal to
        the network; then ``run_finite(program, n, init=..., matrices=...)`` trains the same weights.
        """
        assert self.spec is not None and self.basis is not None
        L = self.spec.depth
        W1 = net.effective_weight(1).double().cpu().numpy()
        init = {v.name: W1 @ q for q, v in zip(self.basis.q, self.basis.vectors)}
        WL = net.effective_weight(L + 1).double().cpu().numpy()
        init.update({f"nV{k}": net.width * WL[k] for k in range(self.spec.d_out)})
        mats = {f"W{l}": net.effective_weight(l).double().cpu().numpy() for l in range(2, L + 1)}
        if self.spec.decoupled_backprop:  # AbcMLP backpropagates through W~^T; the program applies Wtilde
            mats.update({f"Wtilde{l}": net.decoupled_copy(l).double().cpu().numpy().T for l in range(2, L + 1)})
        return init, mats


def _input_basis(prog: Program, inputs: np.ndarray, var: float) -> tuple[np.ndarray, list[Vec]]:
    """Orthonormal rows q spanning the inputs (the identity when they span R^d) and their vectors G = W^1_0 q."""
    d = inputs.shape[1]
    _, s, vt = np.linalg.svd(inputs, full_matrices=False)
    rank = int(np.sum(s > 1e-12 * max(inputs.shape) * (s[0] if s.size else 0.0)))
    if rank == d:
        q, names = np.eye(d), [f"U{j}" for j in range(d)]
    else:
        q, names = vt[:rank], [f"W1q{k}" for k in range(rank)]
    return q, prog.init_vectors(names, np.eye(len(names)) * var) if names else []


class _Builder:
    """Writes the program step by step (one method per part of SGD)."""

    def __init__(self, spec: MLPSpec, roles: LayerRoles, routine: Routine) -> None:
        L = spec.depth
        self.spec, self.roles, self.routine, self.L = spec, roles, routine, L
        self.al = np.asarray(spec.alphas)
        sg = np.asarray(spec.sigmas)
        self.lr = float(routine.lr)
        self.prog = Program(f"sgd_mlp({spec.describe()}, {routine.loss}, T={routine.n_steps}, "
                            f"batch={routine.batch_size})")
        every = routine.inputs if routine.eval_inputs is None else np.vstack([routine.inputs, routine.eval_inputs])
        q, vecs = _input_basis(self.prog, every, float((self.al[0] * sg[0]) ** 2)) if roles.init_active[0] \
            else (np.zeros((0, spec.d_in)), [])
        self.basis = InputBasis(q, tuple(vecs))
        self.V = self.prog.init_vectors([f"nV{k}" for k in range(spec.d_out)],
                                        np.eye(spec.d_out) * (self.al[L] * sg[L]) ** 2)
        self.W: dict[int, Matrix] = {l: self.prog.matrix(f"W{l}", float((self.al[l - 1] * sg[l - 1]) ** 2))
                                     for l in range(2, L + 1)}
        self.W_back = {l: self.prog.matrix(f"Wtilde{l}", m.sigma2) for l, m in self.W.items()} \
            if spec.decoupled_backprop else self.W
        self.hist = History(hidden={l: [] for l in self.W}, hidden_bias={l: [] for l in self.W})

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, xi: np.ndarray, tag: str) -> Forward:
        """h^l, x^l and f on input xi with the weights of the current history."""
        spec, prog, hist, al, lr = self.spec, self.prog, self.hist, self.al, self.lr
        s = _Sum("h1")
        for c, G in zip(self.basis.q @ xi, self.basis.vectors):
            if c != 0.0:
                s.add(float(c), G)
        for u in hist.first:
            s.add(-lr * al[0] ** 2 * (float(u.xi @ xi) + (1.0 if spec.bias else 0.0)), u.dh)
        hs = [s.vector(prog, f"h1_{tag}")]
        xs = [prog.nonlin(spec.activation, [hs[0]], name=f"x1_{tag}")]
        for l in range(2, self.L + 1):
            s = _Sum(f"h{l}")
            if self.roles.init_active[l - 1]:
                s.add(1.0, prog.matmul(self.W[l], xs[-1], name=f"W{l}x{l - 1}_{tag}"))
            for hu in hist.hidden[l]:
                s.add(-lr * al[l - 1] ** 2, hu.dh,
                      [prog.moment(_mul, [hu.x_prev, xs[-1]], name=f"<{hu.x_prev.name},{xs[-1].name}>")])
            for dh in hist.hidden_bias[l]:
                s.add(-lr * al[0] ** 2, dh)
            hs.append(s.vector(prog, f"h{l}_{tag}"))
            block: Any = _ResidualBlock(spec.activation) if spec.residual else spec.activation
            args = [xs[-1], hs[-1]] if spec.residual else [hs[-1]]
            xs.append(prog.nonlin(block, args, name=f"x{l}_{tag}"))
        return Forward(hs, xs, self._readout(xs[-1], tag))

    def _readout(self, xL: Vec, tag: str) -> list[Scalar]:
        """f_k = <nV_k,t, x^L> (+ b^{L+1}_k,t)."""
        prog, hist = self.prog, self.hist
        overlaps = [prog.moment(_mul, [u.x_last, xL], name=f"<{u.x_last.name},{xL.name}>") for u in hist.readout]
        fs = []
        for k in range(self.spec.d_out):
            s = _Sum("f")
            if self.roles.init_active[self.L]:
                s.add(1.0, None, [prog.moment(_mul, [self.V[k], xL], name=f"<nV{k},{xL.name}>")])
            for u, m in zip(hist.readout, overlaps):
                s.add(-self.lr * self.al[self.L] ** 2, None, [u.chi[k], m])
            for chi in hist.readout_bias:
                s.add(-self.lr, None, [chi[k]])
            fs.append(s.scalar(prog, f"f{k}_{tag}"))
        return fs

    # -- loss and backward --------------------------------------------------------------------------
    def loss_terms(self, fw: Forward, example: int, tag: str) -> tuple[list[Scalar], Scalar]:
        """(chi_k = dLoss/df_k for k < d_out, this example's share of the batch loss)."""
        r, B = self.routine, int(self.routine.batch_size)
        y = r.targets[example]
        chis = [self.prog.moment(_LossTerm(r.loss, y, B, k), [], fw.f, name=f"chi{k}_{tag}")
                for k in range(self.spec.d_out)]
        return chis, self.prog.moment(_LossTerm(r.loss, y, B), [], fw.f, name=f"lossb_{tag}")

    def backward(self, fw: Forward, chis: list[Scalar], tag: str) -> dict[int, Vec]:
        """dh^l = n dLoss/dh^l for l = L..1 (chi-weighted), through the current weights."""
        prog, hist, al, lr, L = self.prog, self.hist, self.al, self.lr, self.L
        s = _Sum(f"dx{L}")  # dx^L = sum_k chi_k n W^{L+1}_{k,t}
        for k, chi in enumerate(chis):
            if self.roles.init_active[L]:
                s.add(1.0, self.V[k], [chi])
            for u in hist.readout:
                s.add(-lr * al[L] ** 2, u.x_last, [chi, u.chi[k]])
        dx = s.vector(prog, f"dx{L}_{tag}")
        dhs: dict[int, Vec] = {}
        for l in range(L, 0, -1):
            dhs[l] = prog.nonlin(_BackpropGate(self.spec.activation), [dx, fw.h[l - 1]], name=f"dh{l}_{tag}")
            if l == 1:
                break
            s = _Sum(f"dx{l - 1}")
            if self.spec.residual:
                s.add(1.0, dx)
            if self.roles.init_active[l - 1]:
                s.add(1.0, prog.matmul(self.W_back[l], dhs[l], transpose=not self.spec.decoupled_backprop,
                                       name=f"W{l}Tdh{l}_{tag}"))
            for hu in hist.hidden[l]:
                s.add(-lr * al[l - 1] ** 2, hu.x_prev,
                      [prog.moment(_mul, [hu.dh, dhs[l]], name=f"<{hu.dh.name},{dhs[l].name}>")])
            dx = s.vector(prog, f"dx{l - 1}_{tag}")
        return dhs

    def record(self, xi: np.ndarray, fw: Forward, dhs: dict[int, Vec], chis: list[Scalar]) -> None:
        """Append one example's SGD update (Eq. (22)) to the history; frozen layers are skipped."""
        roles, hist, L = self.roles, self.hist, self.L
        if roles.update_active[0]:
            hist.first.append(InputUpdate(dhs[1], xi))
        for l in range(2, L + 1):
            if roles.update_active[l - 1]:
                hist.hidden[l].append(HiddenUpdate(dhs[l], fw.x[l - 2]))
            if self.spec.bias and roles.update_active[0]:
                hist.hidden_bias[l].append(dhs[l])
        if roles.update_active[L]:
            hist.readout.append(ReadoutUpdate(tuple(chis), fw.x[-1]))
        if self.spec.bias and roles.readout_bias_active:
            hist.readout_bias.append(tuple(chis))

    def step(self, t: int, batch: np.ndarray) -> tuple[list[list[str]], str]:
        """One SGD step on the examples ``batch``: (logit names per example, batch-loss name)."""
        X = self.routine.inputs
        done, f_names, losses = [], [], []
        for b, i in enumerate(batch):
            tag = f"t{t}b{b}"
            fw = self.forward(X[i], tag)
            chis, loss_b = self.loss_terms(fw, int(i), tag)
            done.append((X[i], fw, self.backward(fw, chis, tag), chis))
            f_names.append([f.name for f in fw.f])
            losses.append(loss_b)
        total = _Sum("sum")
        for loss_b in losses:
            total.add(1.0, None, [loss_b])
        loss_name = total.scalar(self.prog, f"loss_t{t}").name
        for xi, fw, dhs, chis in done:  # the updates use the gradients at the weights before the step
            self.record(xi, fw, dhs, chis)
        return f_names, loss_name

    def evaluate(self, t: int) -> list[list[str]]:
        """Logit names on every eval input with the current weights."""
        E = self.routine.eval_inputs
        assert E is not None
        return [[f.name for f in self.forward(E[e], f"t{t}e{e}").f] for e in range(E.shape[0])]


def tensor_program(spec: MLPSpec, param: AbcParametrization, routine: Routine) -> MLPProgram:
    """The Tensor Program of ``routine`` (minibatch SGD) on ``AbcMLP(spec, param, n)``.

    Raises InfwidthError if the spec, parametrization and routine do not fit together, KernelRegimeError
    in the kernel regime (use :func:`infwidth.kernels.kernel` / ``infwidth.limits.limit_of``).
    """
    spec.check(param)
    routine.check(spec)
    roles = layer_roles(param)
    if spec.bias and param.c < 0:
        raise InfwidthError("with c < 0 the readout bias update blows up; use bias=False or a parametrization "
                            "with c >= 0.")
    bld = _Builder(spec, roles, routine)
    eval_steps = routine.eval_steps()
    f_names: list[list[list[str]]] = []
    loss_names: list[str] = []
    eval_names: list[list[list[str]]] = []
    for t, batch in enumerate(routine.batches()):
        if t in eval_steps:
            eval_names.append(bld.evaluate(t))
        names, loss_name = bld.step(t, batch)
        f_names.append(names)
        loss_names.append(loss_name)
    if routine.n_steps in eval_steps:
        eval_names.append(bld.evaluate(routine.n_steps))
    scalars = {s.name: s for s in _moments(bld.prog)}
    for t, fb in enumerate(f_names):
        for b, fk in enumerate(fb):
            for k, nm in enumerate(fk):
                bld.prog.output(f"f[{t},{b},{k}]", scalars[nm])
    return MLPProgram(bld.prog, f_names, loss_names, eval_names, eval_steps, spec, routine, bld.basis)


def _moments(prog: Program) -> list[Scalar]:
    from infwidth.limits.program import Moment

    return [ins.out for ins in prog.instructions if isinstance(ins, Moment)]


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
                    loss: str = "mse", d_in: int = 1, d_out: int = 1, decoupled: bool = False, eval_xs: Any = None,
                    param: AbcParametrization | None = None, alphas: Sequence[float] | None = None,
                    sigmas: Sequence[float] | None = None) -> MLPProgram:
    """The sequence form of :func:`tensor_program`: T steps on the given examples, in order.

    ``xs``: (T, d_in) or (T, batch, d_in) training inputs; ``ys``: (T, d_out) or (T, batch, d_out)
    targets (class indices for xent); ``eval_xs``: (E, d_in) inputs evaluated after every step;
    ``param`` defaults to mup(depth) and must have that depth.
    """
    spec = MLPSpec(int(depth), d_in=d_in, d_out=d_out, phi=phi, alphas=tuple(alphas or ()),
                   sigmas=tuple(sigmas or ()), decoupled_backprop=decoupled)
    X = _as_batches(xs, d_in, "xs")
    Y = _as_batches(ys, 1 if loss == "xent" else d_out, "ys")
    if X.shape[:2] != Y.shape[:2]:
        raise InfwidthError(f"xs and ys must have the same number of steps and batch size, got {X.shape[:2]} "
                            f"and {Y.shape[:2]}.")
    T, B = X.shape[:2]
    routine = Routine(X.reshape(T * B, d_in), Y.reshape(T * B, -1)[:, 0] if loss == "xent" else Y.reshape(T * B, -1),
                      loss=loss, lr=lr, batch_size=B, steps=T,
                      eval_inputs=None if eval_xs is None else np.asarray(eval_xs, dtype=np.float64).reshape(-1, d_in))
    return tensor_program(spec, param if param is not None else mup(spec.depth), routine)
