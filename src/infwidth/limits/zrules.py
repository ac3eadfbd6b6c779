"""The infinite-width interpreter of a Tensor Program (TP4 Definition 7.3): the Z rules, backend-agnostic.

A *backend* supplies the random-variable algebra (exact Gaussian polynomials, or Monte Carlo particles)
through a :class:`Storage` of vector slots; this module applies the rules ZInit, ZNonlin+, ZMoment and
ZMatMul = ZHat + ZDot, following the schedule of :mod:`infwidth.limits.plan` (slots released after their
last reader, evaluation branches kept out of the families, inner products read from Gram rows).

**ZHat** (Definition 7.3): for each matrix ``W`` and each of ``W``, ``W^T`` separately (a *family*), the
variables ``Zhat^{W y_i}`` are jointly Gaussian with ``Cov = sigma_W^2 E[Z^{y_i} Z^{y_j}]``, independent of
every other family and of the initial vectors. With the Gram-Schmidt factorization ``Y = Q R`` of the
members' arguments (``E[q_k q_l] = delta_kl``, ``R`` upper triangular over the *basis* members -- those that
added a direction), ``Zhat_i = sigma sum_k R_ki g_k`` over independent standard Gaussians ``g_k``: a new
member ``x`` has coordinates ``c = Q^T x = R^{-T} (Y_b^T x)`` and residual ``|x|^2 - |c|^2``, and gets a new
``g`` only if that residual is positive (degenerate covariances, e.g. linear networks, stay exact). This is
the Cholesky factorization of the family's covariance, ``L = sigma R^T``; only ``P = R^{-T}`` (lower
triangular, ``members^2 / 2`` scalars per replica), the arguments ``Y`` and the ``g`` are stored.

**ZDot**, Eq. (31): ``Zdot^{W x} = sigma^2 sum_i Z^{y_i} E[dZ^x / dZhat^{W^T y_i}]``. By Gaussian integration
by parts (Stein's lemma; the ``W^T`` family is independent of everything else ``Z^x`` depends on),
``a_k = E[g_k Z^x] = E[dZ^x/dg_k] = sigma (R theta)_k``, so ``Zdot = sigma^2 Y theta = sigma Q a =
sigma Y_b (R^{-1} a)``: one pass over the ``g`` and one over the arguments, no linear solve. This equals the
pseudo-inverse formula ``theta = L (L^T L)^+ a`` for any solution of the (possibly degenerate) Stein
system (TP4 Remarks F.1-F.2): both give the same vector ``Y theta``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from infwidth.limits.families import RESIDUAL_TOL, Family, new_direction, tri
from infwidth.limits.plan import Plan, make_plan
from infwidth.limits.program import InitScalar, InitVectors, MatMul, Moment, Nonlin, Program

# LimitResult.zdot is recorded by default for programs with at most this many MatMuls.
ZDOT_RECORD_MAX = 256
PROGRESS_EVERY = 4096


class Backend(Protocol):
    """The random-variable algebra of the exact backends (wrapped in a :class:`ListStorage`).

    Scalars are numpy arrays of shape ``(batch,)``: ``batch = 1`` for exact backends, the number
    of independent particle replicas for Monte Carlo (their spread gives standard errors).
    """

    name: str
    batch: int

    def fresh(self, k: int) -> list[Any]:
        """``k`` new standard Gaussians, independent of everything so far."""
        ...

    def expect(self, rv: Any) -> np.ndarray:
        """``E[rv]`` as an array of shape ``(batch,)``."""
        ...

    def as_rv(self, value: Any) -> Any:
        """Turn a Nonlin result (possibly a plain number) into a random variable."""
        ...

    def check_vector(self, rv: Any, where: str) -> Any:
        """Validate a new vector variable (e.g. the linear backend rejects nonlinear ones)."""
        ...

    def scalar_arg(self, s: np.ndarray) -> Any:
        """The form in which a scalar ``(batch,)`` is passed to nonlinearities."""
        ...

    def scalar_result(self, value: Any) -> np.ndarray:
        """A scalar-only Moment's value as shape ``(batch,)``."""
        ...

    def combine(self, coefs: np.ndarray, rvs: list[Any]) -> Any:
        """``sum_k coefs[:, k] * rvs[k]`` for ``coefs`` of shape ``(batch, k)``."""
        ...


class Storage(Protocol):
    """Vector slots and the operations the interpreter performs on them (``batch`` replicas each)."""

    name: str
    batch: int

    def view(self, slot: int) -> Any:
        """The random variable in ``slot``, as nonlinearities receive it."""
        ...

    def put(self, slot: int, value: Any, where: str) -> None:
        """Store a nonlinearity's result (a random variable or a number)."""
        ...

    def release(self, slot: int) -> None:
        """The slot's variable will not be read again."""
        ...

    def gaussian(self, slot: int) -> None:
        """A new standard Gaussian, independent of everything so far, into ``slot``."""
        ...

    def fill(self, slot: int, value: np.ndarray) -> None:
        """The constant ``value`` (batch,) into ``slot``."""
        ...

    def dots(self, slots: Sequence[int], x: int) -> np.ndarray:
        """``E[Z_k Z_x]`` for the slots ``k``, shape ``(batch, len(slots))``, float64."""
        ...

    def combine(self, coefs: np.ndarray, slots: Sequence[int], out: int, add: bool = False,
                const: np.ndarray | None = None) -> None:
        """``out (+)= sum_k coefs[:, k] Z_k (+ const)``."""
        ...

    def expect(self, value: Any) -> np.ndarray:
        """``E[value]`` of a Moment integrand, shape ``(batch,)``, float64."""
        ...

    def dots_many(self, slots: Sequence[int], xs: Sequence[int]) -> np.ndarray:
        """``E[Z_k Z_x]`` for every x in ``xs``: shape ``(len(xs), batch, len(slots))``."""
        ...

    def combine_many(self, coefs: np.ndarray, slots: Sequence[int], outs: Sequence[int], add: bool = False) -> None:
        """``out_g (+)= sum_k coefs[g, :, k] Z_k`` for every out_g in ``outs``."""
        ...

    def scalar_arg(self, s: np.ndarray) -> Any:
        """The form in which a scalar ``(batch,)`` is passed to nonlinearities."""
        ...

    def scalar_result(self, value: Any) -> np.ndarray:
        """A scalar-only Moment's value as shape ``(batch,)``."""
        ...


class ListStorage:
    """A :class:`Storage` over an exact :class:`Backend`: a list of its random variables."""

    def __init__(self, backend: Backend, n_slots: int) -> None:
        self.b = backend
        self.name = backend.name
        self.batch = backend.batch
        self.z: list[Any] = [None] * n_slots

    def view(self, slot: int) -> Any:
        return self.z[slot]

    def put(self, slot: int, value: Any, where: str) -> None:
        self.z[slot] = self.b.check_vector(self.b.as_rv(value), where)

    def release(self, slot: int) -> None:
        self.z[slot] = None

    def gaussian(self, slot: int) -> None:
        self.z[slot] = self.b.fresh(1)[0]

    def fill(self, slot: int, value: np.ndarray) -> None:
        self.z[slot] = self.b.as_rv(float(value[0]))

    def dots(self, slots: Sequence[int], x: int) -> np.ndarray:
        zx = self.z[x]
        cols = [self.b.expect(self.z[s] * zx) for s in slots]
        return np.stack(cols, axis=-1) if cols else np.zeros((self.batch, 0))

    def combine(self, coefs: np.ndarray, slots: Sequence[int], out: int, add: bool = False,
                const: np.ndarray | None = None) -> None:
        val = self.b.combine(coefs, [self.z[s] for s in slots])
        if add:
            val = self.z[out] + val
        if const is not None:
            val = val + float(const[0])
        self.z[out] = val

    def expect(self, value: Any) -> np.ndarray:
        return self.b.expect(self.b.as_rv(value))

    def dots_many(self, slots: Sequence[int], xs: Sequence[int]) -> np.ndarray:
        return np.stack([self.dots(slots, x) for x in xs]) if xs else np.zeros((0, self.batch, len(slots)))

    def combine_many(self, coefs: np.ndarray, slots: Sequence[int], outs: Sequence[int], add: bool = False) -> None:
        for g, out in enumerate(outs):
            self.combine(coefs[g], slots, out, add=add)

    def scalar_arg(self, s: np.ndarray) -> Any:
        return self.b.scalar_arg(s)

    def scalar_result(self, value: Any) -> np.ndarray:
        return self.b.scalar_result(value)


class ScalarTable(Mapping[str, float]):
    """Scalar name -> value, over arrays (a program may have millions of scalars; built on first lookup)."""

    def __init__(self, names: list[tuple[str, int]], data: np.ndarray) -> None:
        self._names = names
        self._data = data
        self._index: dict[str, int] | None = None

    def _idx(self) -> dict[str, int]:
        if self._index is None:
            self._index = dict(self._names)
        return self._index

    def __getitem__(self, key: str) -> float:
        return float(self._data[self._idx()[key]])

    def __iter__(self) -> Iterator[str]:
        return iter(self._idx())

    def __len__(self) -> int:
        return len(self._idx())


@dataclass
class LimitResult:
    """Limits of a program's scalars.

    ``values[name]`` / ``stderr[name]`` for every scalar (stderr 0 for exact backends);
    ``outputs`` the named outputs; ``zdot[vector name]`` the ZDot coefficients
    ``[(y name, coefficient)]`` of each MatMul that has one (Eq. (31), over the family's basis members;
    recorded for programs with at most ``ZDOT_RECORD_MAX`` MatMuls unless asked); ``cost`` the plan's
    counts (:class:`~infwidth.limits.plan.CostModel`) and the storage's bytes.
    """

    values: Mapping[str, float]
    stderr: Mapping[str, float]
    outputs: dict[str, float]
    output_stderr: dict[str, float]
    zdot: dict[str, list[tuple[str, float]]]
    backend: str
    seconds: float
    Z: dict[str, Any] = field(default_factory=dict, repr=False)
    cost: dict[str, Any] = field(default_factory=dict)


def _sqrt_factor(cov: np.ndarray) -> np.ndarray:
    """A (k, r) factor A with A A^T = cov, r = numerical rank (degenerate-safe, via eigh)."""
    w, U = np.linalg.eigh(cov)
    keep = w > RESIDUAL_TOL * max(1.0, float(np.abs(w).max(initial=0.0)))
    return U[:, keep] * np.sqrt(w[keep])


class Run:
    """One execution of a planned program on a storage (state shared by the rule methods)."""

    def __init__(self, program: Program, plan: Plan, store: Storage, record_zdot: bool) -> None:
        self.p, self.plan, self.st = program, plan, store
        self.B = store.batch
        self.S = np.zeros((program.n_scalars + 1, self.B))
        self.S[-1] = 1.0
        self.fams: dict[tuple[int, bool], Family] = {}
        self.gram: dict[int, np.ndarray] = {}
        self.drop: dict[int, list[int]] = {}
        for p, q in plan.cache_last.items():
            self.drop.setdefault(q, []).append(p)
        self.record = record_zdot
        self.zdot: dict[str, list[tuple[str, float]]] = {}

    def slot(self, v: Any) -> int:
        return int(self.plan.slot[v.index])

    def sarg(self, s: Any) -> Any:
        return self.st.scalar_arg(self.S[s.index])

    def run(self, progress: Callable[[int], None] | None = None) -> None:
        from infwidth.limits.lockstep import run_lockstep

        plan, st, instrs = self.plan, self.st, self.p.instructions
        done, tick = 0, 0
        for i, step in enumerate(plan.steps):
            if progress is not None and done >= tick:
                progress(done)
                tick = done + PROGRESS_EVERY
            if len(step) == 1:
                self.one(step[0], instrs[step[0]])
            else:
                run_lockstep(self, step)
            done += len(step)
            for v in plan.free_after.get(i, ()):
                st.release(int(plan.slot[v]))
            for p in self.drop.get(i, ()):
                self.gram.pop(p, None)

    def one(self, pos: int, ins: Any) -> None:
        """Apply the rule of one instruction."""
        if isinstance(ins, InitVectors):  # ZInit
            self.init_vectors(pos, ins)
        elif isinstance(ins, InitScalar):
            self.S[ins.out.index] = ins.value
        elif isinstance(ins, Nonlin):  # ZNonlin+
            self.nonlin(pos, ins)
        elif isinstance(ins, Moment):  # ZMoment
            self.moment(pos, ins)
        elif isinstance(ins, MatMul):  # ZMatMul = ZHat + ZDot
            self.matmul(pos, ins)
        else:  # pragma: no cover
            raise TypeError(f"unknown instruction {ins!r}")

    def init_vectors(self, pos: int, ins: InitVectors) -> None:
        A = _sqrt_factor(ins.cov)
        outs = [self.slot(v) for v in ins.outs]
        for o in outs:
            self.st.fill(o, np.zeros(self.B))
        g = self.plan.scratch[pos]
        for j in range(A.shape[1]):
            self.st.gaussian(g)
            for i, o in enumerate(outs):
                if A[i, j] != 0.0:
                    self.st.combine(np.full((self.B, 1), A[i, j]), [g], o, add=True)

    def lincomb_coefs(self, pos: int) -> tuple[np.ndarray, np.ndarray | None]:
        lc = self.plan.lincombs[pos]
        coefs = (lc.vec_consts[:, None] * self.S[lc.vec_sidx].prod(axis=1)).T
        const = None
        if lc.const_consts.size:
            const = (lc.const_consts[:, None] * self.S[lc.const_sidx].prod(axis=1)).sum(axis=0)
        return np.ascontiguousarray(coefs), const

    def nonlin(self, pos: int, ins: Nonlin) -> None:
        out = self.slot(ins.out)
        if pos in self.plan.lincombs:
            coefs, const = self.lincomb_coefs(pos)
            vecs = [self.slot(ins.vecs[i]) for i in self.plan.lincombs[pos].vec_terms]
            self.st.combine(coefs, vecs, out, const=const)
            return
        val = ins.fn(*[self.st.view(self.slot(v)) for v in ins.vecs], *[self.sarg(s) for s in ins.scalars])
        self.st.put(out, val, ins.out.name)

    def moment(self, pos: int, ins: Moment) -> None:
        plan = self.plan
        if pos in plan.grouped:
            return
        if pos in plan.cached:
            p, j = plan.cached[pos]
            self.S[ins.out.index] = self.gram[p][:, j]
        elif pos in plan.groups:
            shared, others = plan.groups[pos]
            vals = self.st.dots([int(plan.slot[o]) for o in others], int(plan.slot[shared]))
            for i in range(len(others)):
                self.S[self.p.instructions[pos + i].out.index] = vals[:, i]  # type: ignore[union-attr]
        elif pos in plan.lincombs:
            coefs, const = self.lincomb_coefs(pos)
            self.S[ins.out.index] = coefs.sum(axis=1) + (0.0 if const is None else const)
        elif ins.vecs:
            self.S[ins.out.index] = self.st.expect(
                ins.fn(*[self.st.view(self.slot(v)) for v in ins.vecs], *[self.sarg(s) for s in ins.scalars]))
        else:
            self.S[ins.out.index] = self.st.scalar_result(ins.fn(*[self.sarg(s) for s in ins.scalars]))

    def matmul(self, pos: int, ins: MatMul) -> None:
        W, st, out = ins.matrix, self.st, self.slot(ins.out)
        if W.sigma2 == 0.0:
            st.fill(out, np.zeros(self.B))
            return
        sigma = float(np.sqrt(W.sigma2))
        x = self.slot(ins.arg)
        key = (W.index, ins.transpose)
        fam = self.fams.get(key)
        if fam is None:
            fam = self.fams[key] = Family(self.B, self.plan.family_caps.get(key, 0))
        u = st.dots(fam.ys + [x], x)                # Gram row: <y_i, x> for every member, then |x|^2
        if pos in self.plan.cache_last:
            self.gram[pos] = u
        c = fam.coords(u)
        xx = u[:, -1]
        nrm2 = xx - (c * c).sum(axis=1)
        new = new_direction(nrm2, xx)
        slots = list(fam.G)
        if pos in self.plan.branch:                 # joint law with the family, not added to it
            if new:
                st.gaussian(self.plan.scratch[pos])
                c = np.concatenate([c, np.sqrt(np.maximum(nrm2, 0.0))[:, None]], axis=1)
                slots.append(self.plan.scratch[pos])
        else:
            fam.ys.append(x)
            fam.names.append(ins.arg.name)
            if new:
                keep = nrm2 > RESIDUAL_TOL * np.maximum(np.abs(xx), 1e-300)
                nrm = np.where(keep, np.sqrt(np.maximum(nrm2, 0.0)), 0.0)
                fam.grow(c, nrm)
                g = self.plan.family_slots[pos]
                st.gaussian(g)
                fam.basis.append(len(fam.ys) - 1)
                fam.G.append(g)
                slots.append(g)
                c = np.concatenate([c, nrm[:, None]], axis=1)
        st.combine(np.ascontiguousarray(sigma * c), slots, out)   # ZHat
        opp = self.fams.get((W.index, not ins.transpose))
        if opp is not None and opp.basis:            # ZDot, Eq. (31): sigma Y_b R^{-1} E[g x]
            a = st.dots(opp.G, x)
            theta = sigma * tri(opp.P, len(opp.basis), np.ascontiguousarray(a), True)
            st.combine(theta, [opp.ys[i] for i in opp.basis], out, add=True)
            if self.record:
                self.zdot[ins.out.name] = [(opp.names[i], float(theta[:, j].mean()))
                                           for j, i in enumerate(opp.basis)]


def _mean_se(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if S.shape[1] <= 1:
        return S[:, 0].copy(), np.zeros(S.shape[0])
    return S.mean(axis=1), S.std(axis=1, ddof=1) / np.sqrt(S.shape[1])


def vector_names(program: Program) -> dict[int, str]:
    """Vector index -> name."""
    out: dict[int, str] = {}
    for ins in program.instructions:
        if isinstance(ins, InitVectors):
            out.update({v.index: v.name for v in ins.outs})
        elif isinstance(ins, (MatMul, Nonlin)):
            out[ins.out.index] = ins.out.name
    return out


def run_limit(program: Program, backend: Any, keep_z: bool = False, zdot: bool | None = None,
              branches: bool = True, plan: Plan | None = None,
              progress: Callable[[int], None] | None = None, lockstep: bool = True) -> LimitResult:
    """Compute Z^h for every vector and the limit of every scalar (Definition 7.3).

    ``backend``: a :class:`Backend` (exact algebra) or an object with ``storage(plan) -> Storage`` (the
    particle backend, which checks memory before allocating). ``keep_z``: return every vector in
    ``LimitResult.Z``. ``zdot``: record ZDot coefficients (default: small programs). ``branches``: let
    evaluation branches stay out of the families (:mod:`~infwidth.limits.plan`). ``progress(i)`` is called
    every ``PROGRESS_EVERY`` instructions with the number done. ``lockstep``: run isomorphic evaluation blocks
    together (:mod:`~infwidth.limits.lockstep`).
    """
    t0 = time.perf_counter()
    plan = plan if plan is not None else make_plan(program, keep_z=keep_z, branches=branches, lockstep=lockstep)
    storage = getattr(backend, "storage", None)
    st: Storage = storage(plan) if storage is not None else ListStorage(backend, plan.n_slots)
    n_mat = sum(1 for i in program.instructions if isinstance(i, MatMul))
    run = Run(program, plan, st, record_zdot=zdot if zdot is not None else n_mat <= ZDOT_RECORD_MAX)
    run.run(progress)
    mean, se = _mean_se(run.S)
    names = [(ins.out.name, ins.out.index) for ins in program.instructions if isinstance(ins, Moment)]
    outs = {nm: float(mean[s.index]) for nm, s in program.outputs.items()}
    outs_se = {nm: float(se[s.index]) for nm, s in program.outputs.items()}
    zmap: dict[str, Any] = {}
    if keep_z:
        zmap = {nm: st.view(int(plan.slot[i])) for i, nm in vector_names(program).items()}
    cost = plan.cost.as_dict()
    cost["bytes"] = getattr(st, "nbytes", None)
    return LimitResult(ScalarTable(names, mean), ScalarTable(names, se), outs, outs_se, run.zdot, st.name,
                       time.perf_counter() - t0, zmap, cost)
