"""A Tensor Program IR (NETSOR-T+, TP4 Definition 7.1).

A :class:`Program` is a straight-line list of instructions over

* initial matrices ``W`` (Setup 7.2: iid N(0, sigma_W^2 / n) entries),
* initial vectors (groups with a given joint Gaussian law per coordinate),
* initial scalars (their own limits, e.g. inputs and targets),

and three rules: **MatMul** (``W x`` or ``W^T x``), **Nonlin** (coordinatewise
``phi(x^1..x^k; theta_1..theta_l)``) and **Moment** (``(1/n) sum_alpha phi(...)``, a scalar;
with no vector argument it is a deterministic function of earlier scalars).

Nonlinearities are plain Python callables ``fn(x^1, ..., x^k, theta_1, ..., theta_l)`` written
with arithmetic operators (``+ - * **``) and, for non-polynomial ones, numpy functions. The
same callable is evaluated on numpy arrays by the finite-width and particle executors and on
symbolic Gaussian polynomials by the exact executors (which therefore *detect* linearity or
polynomiality by running the program, and refuse otherwise).

>>> from infwidth.limits.program import Program
>>> p = Program("toy")
>>> W = p.matrix("W")
>>> (u,) = p.init_vectors(["u"])
>>> h = p.matmul(W, u, name="h")
>>> x = p.nonlin(lambda h: h * h, [h], name="x")
>>> m = p.moment(lambda x, u: x * u, [x, u], name="m")
>>> p.output("m", m)
>>> print(p)  # doctest: +NORMALIZE_WHITESPACE
Program toy: 1 matrices, 1 initial vectors, 0 initial scalars, 3 instructions
  matrix W (sigma^2 = 1)
  vector u ~ N(0, 1)
  h = W u
  x = <lambda>(h)
  m = Moment[<lambda>](x, u)
  output m = m
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError


@dataclass(frozen=True)
class Matrix:
    """An initial n x n matrix with iid N(0, sigma2 / n) entries (Setup 7.2)."""

    index: int
    name: str
    sigma2: float


@dataclass(frozen=True)
class Vec:
    """A vector of the program (R^n at finite width; a random variable Z^h in the limit)."""

    index: int
    name: str


@dataclass(frozen=True)
class Scalar:
    """A scalar of the program (a number at finite width; its deterministic limit theta-ring)."""

    index: int
    name: str


@dataclass(frozen=True)
class InitVectors:
    """A group of initial vectors whose coordinates are iid N(0, cov) (Setup 7.2, item 2)."""

    outs: tuple[Vec, ...]
    cov: np.ndarray


@dataclass(frozen=True)
class InitScalar:
    """An initial scalar, fixed with n (it is its own limit)."""

    out: Scalar
    value: float


@dataclass(frozen=True)
class MatMul:
    """``out = W arg`` (or ``W^T arg`` when ``transpose``)."""

    out: Vec
    matrix: Matrix
    arg: Vec
    transpose: bool


@dataclass(frozen=True)
class Nonlin:
    """``out = fn(vecs...; scalars...)`` coordinatewise (Definition 7.1 Nonlin)."""

    out: Vec
    fn: Callable[..., Any]
    vecs: tuple[Vec, ...]
    scalars: tuple[Scalar, ...]


@dataclass(frozen=True)
class Moment:
    """``out = (1/n) sum_alpha fn(vecs_alpha...; scalars...)`` (Definition 7.1 Moment)."""

    out: Scalar
    fn: Callable[..., Any]
    vecs: tuple[Vec, ...]
    scalars: tuple[Scalar, ...]


Instruction = InitVectors | InitScalar | MatMul | Nonlin | Moment


def product(x: Any, y: Any) -> Any:
    """``x * y``: the integrand of an inner-product Moment ``(1/n) sum_alpha x_alpha y_alpha``.

    Executors recognize it (:func:`is_product`): the particle engine computes runs of inner products in one
    pass and reads those between a MatMul argument and its family's earlier arguments from the Gram row it
    builds anyway (:mod:`infwidth.limits.plan`).
    """
    return x * y


product.label = "mul"  # type: ignore[attr-defined]
product.is_product = True  # type: ignore[attr-defined]


def is_product(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is :func:`product` (or marked ``is_product = True``)."""
    return fn is product or getattr(fn, "is_product", False) is True


def fn_label(fn: Callable[..., Any]) -> str:
    """A short printable name for a nonlinearity (its ``label`` attribute, else ``__name__``)."""
    label = getattr(fn, "label", None)
    if isinstance(label, str):
        return label
    return getattr(fn, "__name__", type(fn).__name__)


@dataclass
class Program:
    """A Tensor Program: build it with the methods below, run it with an executor.

    ``outputs`` maps names to scalars whose values executors report.
    """

    name: str = "program"
    matrices: list[Matrix] = field(default_factory=list)
    instructions: list[Instruction] = field(default_factory=list)
    outputs: dict[str, Scalar] = field(default_factory=dict)
    n_vectors: int = 0
    n_scalars: int = 0

    # -- construction -------------------------------------------------------------------------
    def matrix(self, name: str, sigma2: float = 1.0) -> Matrix:
        """Declare an initial matrix with iid N(0, sigma2/n) entries."""
        if sigma2 < 0:
            raise InfwidthError(f"matrix {name}: sigma^2 must be >= 0, got {sigma2}.")
        m = Matrix(len(self.matrices), name, float(sigma2))
        self.matrices.append(m)
        return m

    def _vec(self, name: str) -> Vec:
        v = Vec(self.n_vectors, name)
        self.n_vectors += 1
        return v

    def _scalar(self, name: str) -> Scalar:
        s = Scalar(self.n_scalars, name)
        self.n_scalars += 1
        return s

    def init_vectors(self, names: Sequence[str], cov: Any = None) -> list[Vec]:
        """Declare initial vectors with coordinates iid N(0, cov) (default identity).

        Different calls give independent groups.
        """
        k = len(names)
        c = np.eye(k) if cov is None else np.atleast_2d(np.asarray(cov, dtype=np.float64))
        if c.shape != (k, k) or not np.allclose(c, c.T):
            raise InfwidthError(f"initial covariance must be a symmetric {k}x{k} matrix, got shape {c.shape}.")
        if k and np.linalg.eigvalsh(c).min() < -1e-12 * max(1.0, float(np.abs(c).max())):
            raise InfwidthError("initial covariance must be positive semidefinite.")
        outs = tuple(self._vec(nm) for nm in names)
        self.instructions.append(InitVectors(outs, c))
        return list(outs)

    def scalar(self, value: float, name: str) -> Scalar:
        """Declare an initial scalar (fixed with n)."""
        s = self._scalar(name)
        self.instructions.append(InitScalar(s, float(value)))
        return s

    def matmul(self, W: Matrix, x: Vec, transpose: bool = False, name: str | None = None) -> Vec:
        """MatMul: ``W x`` or ``W^T x``."""
        out = self._vec(name or f"{W.name}{'T' if transpose else ''}({x.name})")
        self.instructions.append(MatMul(out, W, x, transpose))
        return out

    def nonlin(self, fn: Callable[..., Any], vecs: Sequence[Vec], scalars: Sequence[Scalar] = (),
               name: str | None = None) -> Vec:
        """Nonlin: coordinatewise ``fn(*vecs, *scalars)``."""
        out = self._vec(name or f"v{self.n_vectors}")
        self.instructions.append(Nonlin(out, fn, tuple(vecs), tuple(scalars)))
        return out

    def moment(self, fn: Callable[..., Any], vecs: Sequence[Vec], scalars: Sequence[Scalar] = (),
               name: str | None = None) -> Scalar:
        """Moment: the coordinate average of ``fn(*vecs, *scalars)``; with no vecs, ``fn(*scalars)``."""
        out = self._scalar(name or f"s{self.n_scalars}")
        self.instructions.append(Moment(out, fn, tuple(vecs), tuple(scalars)))
        return out

    def inner(self, x: Vec, y: Vec, name: str | None = None) -> Scalar:
        """Moment: the inner product ``(1/n) sum_alpha x_alpha y_alpha`` (a :func:`product` Moment)."""
        return self.moment(product, [x, y], name=name)

    def output(self, name: str, s: Scalar) -> None:
        """Mark a scalar as a named output."""
        self.outputs[name] = s

    # -- inspection ---------------------------------------------------------------------------
    def uses_transpose_pairs(self) -> list[Matrix]:
        """Matrices used both as ``W`` and ``W^T`` (the ones that can have a nonzero ZDot)."""
        seen: dict[int, set[bool]] = {}
        for ins in self.instructions:
            if isinstance(ins, MatMul):
                seen.setdefault(ins.matrix.index, set()).add(ins.transpose)
        return [m for m in self.matrices if len(seen.get(m.index, set())) == 2]

    def counts(self) -> dict[str, int]:
        """Numbers of instructions of each kind."""
        out: dict[str, int] = {}
        for ins in self.instructions:
            out[type(ins).__name__] = out.get(type(ins).__name__, 0) + 1
        return out

    def __str__(self) -> str:
        n_init_v = sum(len(i.outs) for i in self.instructions if isinstance(i, InitVectors))
        n_init_s = sum(1 for i in self.instructions if isinstance(i, InitScalar))
        n_rules = sum(1 for i in self.instructions if isinstance(i, (MatMul, Nonlin, Moment)))
        lines = [f"Program {self.name}: {len(self.matrices)} matrices, {n_init_v} initial vectors, "
                 f"{n_init_s} initial scalars, {n_rules} instructions"]
        for m in self.matrices:
            lines.append(f"  matrix {m.name} (sigma^2 = {m.sigma2:g})")
        for ins in self.instructions:
            lines.append("  " + _describe(ins))
        for nm, s in self.outputs.items():
            lines.append(f"  output {nm} = {s.name}")
        return "\n".join(lines)


def _describe(ins: Instruction) -> str:
    if isinstance(ins, InitVectors):
        if ins.cov.shape == (1, 1):
            return f"vector {ins.outs[0].name} ~ N(0, {ins.cov[0, 0]:g})"
        return f"vectors ({', '.join(v.name for v in ins.outs)}) ~ N(0, {ins.cov.tolist()})"
    if isinstance(ins, InitScalar):
        return f"scalar {ins.out.name} = {ins.value:g}"
    if isinstance(ins, MatMul):
        return f"{ins.out.name} = {ins.matrix.name}{'^T' if ins.transpose else ''} {ins.arg.name}"
    args = ", ".join([v.name for v in ins.vecs] + [s.name for s in ins.scalars])
    if isinstance(ins, Nonlin):
        return f"{ins.out.name} = {fn_label(ins.fn)}({args})"
    return f"{ins.out.name} = Moment[{fn_label(ins.fn)}]({args})"


class LinComb:
    """The nonlinearity ``sum_i const_i * prod(scalars of term i) * vec_i`` (+ a scalar-only part).

    ``terms`` is a list of ``(vec_position or None, scalar_positions, const)``; positions index the
    vector and scalar argument lists of the instruction. A term with ``vec_position None``
    contributes a constant (used for scalar-only Moments such as ``f = sum_s c_s m_s``).
    """

    def __init__(self, n_vecs: int, terms: Sequence[tuple[int | None, Sequence[int], float]],
                 label: str = "lincomb") -> None:
        self.n_vecs = n_vecs
        self.terms = [(v, tuple(ss), float(c)) for v, ss, c in terms]
        self.label = label

    def __call__(self, *args: Any) -> Any:
        vecs, scal = args[: self.n_vecs], args[self.n_vecs:]
        total: Any = 0.0
        for v, ss, c in self.terms:
            coef: Any = c
            for j in ss:
                coef = coef * scal[j]
            total = total + (coef * vecs[v] if v is not None else coef)
        return total
