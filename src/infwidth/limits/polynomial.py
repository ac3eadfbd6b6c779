"""Exact polynomial backend: every Z is a polynomial in independent standard Gaussians.

TP4 Section 8's "notable exception": with polynomial nonlinearities all expectations are
Gaussian moments, computed exactly here (E g^p = (p-1)!! for even p, 0 for odd p, independent
factors multiply). The integrand's degree grows like 2^t with training time, so the cost is
super-exponential; the backend counts monomial products and refuses with an
:class:`~infwidth.errors.InfwidthError` once the cost estimate exceeds ``budget`` instead of
hanging.

The same polynomial algebra with a degree cap of 1 on vectors is the exact *linear* backend
(:mod:`infwidth.limits.linear`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from infwidth.errors import InfwidthError
from infwidth.limits.program import Program
from infwidth.limits.zrules import LimitResult, run_limit

Key = tuple[tuple[int, int], ...]  # sorted ((variable, power), ...)

_DOUBLE_FACT: list[float] = [1.0]


def gaussian_moment(p: int) -> float:
    """E[g^p] for a standard Gaussian g: (p-1)!! for even p, 0 for odd p."""
    if p % 2:
        return 0.0
    while len(_DOUBLE_FACT) <= p // 2:
        k = len(_DOUBLE_FACT)
        _DOUBLE_FACT.append(_DOUBLE_FACT[-1] * (2 * k - 1))
    return _DOUBLE_FACT[p // 2]


class PolyContext:
    """Shared settings and cost counter of all polynomials of one run."""

    def __init__(self, budget: float, backend_name: str, hint: str) -> None:
        self.budget = float(budget)
        self.ops = 0.0
        self.backend_name = backend_name
        self.hint = hint

    def charge(self, ops: float) -> None:
        self.ops += ops
        if self.ops > self.budget:
            raise InfwidthError(
                f"the {self.backend_name} backend's cost estimate exceeds its budget "
                f"({self.ops:.3g} > {self.budget:.3g} monomial products; the degree grows like 2^t, TP4 Section 8); "
                f"{self.hint}"
            )


def _mul_key(a: Key, b: Key) -> Key:
    if not a:
        return b
    if not b:
        return a
    d = dict(a)
    for v, p in b:
        d[v] = d.get(v, 0) + p
    return tuple(sorted(d.items()))


class Poly:
    """A real polynomial in independent standard Gaussians g_0, g_1, ... (sparse)."""

    __slots__ = ("ctx", "terms")

    def __init__(self, terms: dict[Key, float], ctx: PolyContext) -> None:
        self.terms = terms
        self.ctx = ctx

    # -- arithmetic -----------------------------------------------------------------------
    def _coerce(self, other: Any) -> Poly | None:
        if isinstance(other, Poly):
            return other
        if isinstance(other, (int, float, np.floating, np.integer)):
            return Poly({(): float(other)} if other else {}, self.ctx)
        if isinstance(other, np.ndarray) and other.size == 1:
            return self._coerce(float(other.reshape(-1)[0]))
        return None

    def __add__(self, other: Any) -> Poly:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        out = dict(self.terms)
        for k, c in o.terms.items():
            out[k] = out.get(k, 0.0) + c
        return Poly(out, self.ctx)

    __radd__ = __add__

    def __neg__(self) -> Poly:
        return Poly({k: -c for k, c in self.terms.items()}, self.ctx)

    def __sub__(self, other: Any) -> Poly:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        return self + (-o)

    def __rsub__(self, other: Any) -> Poly:
        return (-self) + other

    def __mul__(self, other: Any) -> Poly:
        o = self._coerce(other)
        if o is None:
            return NotImplemented
        if len(o.terms) <= 1 and () in o.terms:  # scalar
            c = o.terms[()]
            return Poly({k: v * c for k, v in self.terms.items()}, self.ctx)
        if len(self.terms) <= 1 and () in self.terms:
            c = self.terms[()]
            return Poly({k: v * c for k, v in o.terms.items()}, self.ctx)
        self.ctx.charge(len(self.terms) * len(o.terms))
        out: dict[Key, float] = {}
        for ka, ca in self.terms.items():
            for kb, cb in o.terms.items():
                k = _mul_key(ka, kb)
                out[k] = out.get(k, 0.0) + ca * cb
        return Poly(out, self.ctx)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> Poly:
        if isinstance(other, (int, float, np.floating)):
            return self * (1.0 / float(other))
        raise InfwidthError(f"the {self.ctx.backend_name} backend can only divide by constants; {self.ctx.hint}")

    def __pow__(self, p: int) -> Poly:
        if not isinstance(p, (int, np.integer)) or p < 0:
            raise InfwidthError(f"the {self.ctx.backend_name} backend supports only integer powers >= 0; "
                                f"{self.ctx.hint}")
        out = Poly({(): 1.0}, self.ctx)
        for _ in range(int(p)):
            out = out * self
        return out

    def _not_polynomial(self, *_: Any, **__: Any) -> Any:
        raise InfwidthError(f"a nonlinearity of this program is not polynomial (it uses a comparison or a numpy "
                            f"function), so the {self.ctx.backend_name} backend cannot run it; {self.ctx.hint}")

    __gt__ = __lt__ = __ge__ = __le__ = __abs__ = _not_polynomial

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        # numpy scalars on the left of an operator end up here; other ufuncs are not polynomial.
        ops = {np.add: lambda a, b: a + b, np.multiply: lambda a, b: a * b, np.subtract: lambda a, b: a - b}
        if method == "__call__" and ufunc in ops and len(inputs) == 2:
            a, b = (float(x) if isinstance(x, np.generic) else x for x in inputs)
            if isinstance(a, Poly) or isinstance(b, Poly):
                return ops[ufunc](a if isinstance(a, Poly) else self._coerce(a), b)
        return self._not_polynomial()

    # -- inspection -----------------------------------------------------------------------
    def degree(self) -> int:
        """Total degree (0 for constants and the zero polynomial)."""
        return max((sum(p for _, p in k) for k, c in self.terms.items() if c != 0.0), default=0)

    def expect(self) -> float:
        """E[P(g)] exactly (Isserlis / Wick for independent standard Gaussians)."""
        total = 0.0
        for k, c in self.terms.items():
            m = c
            for _, p in k:
                m *= gaussian_moment(p)
                if m == 0.0:
                    break
            total += m
        return total

    def coefficients(self) -> dict[Key, float]:
        """The nonzero terms."""
        return {k: c for k, c in self.terms.items() if c != 0.0}

    def __repr__(self) -> str:
        return f"Poly({len(self.terms)} terms, degree {self.degree()})"


class PolyBackend:
    """The exact Gaussian-polynomial algebra of :mod:`infwidth.limits.zrules` (batch 1).

    ``max_vector_degree`` caps the degree of program vectors (1 for the linear backend).
    """

    batch = 1

    def __init__(self, name: str = "polynomial", budget: float = 2e7, max_vector_degree: int | None = None,
                 hint: str = "use fewer steps or --backend particles.") -> None:
        self.name = name
        self.ctx = PolyContext(budget, name, hint)
        self.n_vars = 0
        self.max_vector_degree = max_vector_degree

    def fresh(self, k: int) -> list[Any]:
        out = [Poly({((self.n_vars + i, 1),): 1.0}, self.ctx) for i in range(k)]
        self.n_vars += k
        return out

    def expect(self, rv: Any) -> np.ndarray:
        return np.array([rv.expect() if isinstance(rv, Poly) else float(rv)])

    def as_rv(self, value: Any) -> Any:
        if isinstance(value, Poly):
            return value
        p = Poly({}, self.ctx)._coerce(value)
        if p is None:
            raise InfwidthError(f"the {self.name} backend got a non-numeric value {type(value).__name__} "
                                f"from a nonlinearity; {self.ctx.hint}")
        return p

    def check_vector(self, rv: Any, where: str) -> Any:
        if self.max_vector_degree is not None and rv.degree() > self.max_vector_degree:
            raise InfwidthError(f"vector {where} is not linear in the Gaussians (degree {rv.degree()}), so the "
                                f"{self.name} backend cannot run this program; {self.ctx.hint}")
        return rv

    def scalar_arg(self, s: np.ndarray) -> Any:
        return np.float64(s[0])  # numpy floats overflow to inf instead of raising

    def scalar_result(self, value: Any) -> np.ndarray:
        return np.array([float(np.asarray(value).reshape(-1)[0])])

    def combine(self, coefs: np.ndarray, rvs: list[Any]) -> Any:
        out: dict[Key, float] = {}
        for c, rv in zip(coefs[0], rvs):
            if c == 0.0:
                continue
            for k, v in rv.terms.items():
                out[k] = out.get(k, 0.0) + float(c) * v
        return Poly(out, self.ctx)


def run_polynomial(program: Program, budget: float = 2e7, keep_z: bool = False) -> LimitResult:
    """Exact limits of a program whose nonlinearities are polynomials (Definition 7.3).

    Raises InfwidthError (without hanging) when the cost estimate exceeds ``budget`` monomial
    products, or when a nonlinearity is not polynomial.
    """
    return run_limit(program, PolyBackend("polynomial", budget=budget), keep_z=keep_z)
