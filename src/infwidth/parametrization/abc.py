"""abc-parametrizations of an L-hidden-layer MLP (TP4, Eq. (1) and items (a)-(c)).

Layer l = 1..L+1 has weights W^l = n^{-a_l} w^l with w^l_{ab} ~ N(0, n^{-2 b_l}),
trained by SGD with learning rate eta * n^{-c}. Everything here is exact rational
arithmetic; nothing depends on PyTorch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from infwidth.errors import InfwidthError
from infwidth.parametrization.rational import RationalLike, fmt, fmt_all, to_fraction, to_fractions


@dataclass(frozen=True)
class AbcParametrization:
    """An immutable abc-parametrization of an L-hidden-layer MLP.

    Attributes:
        a: per-layer multiplier exponents (a_1, ..., a_{L+1}): W^l = n^{-a_l} w^l.
        b: per-layer initialization exponents: w^l ~ N(0, n^{-2 b_l}).
        c: the learning-rate exponent: LR = eta * n^{-c}.
        name: an optional label (e.g. the preset name); ignored by equality.
    """

    a: tuple[Fraction, ...]
    b: tuple[Fraction, ...]
    c: Fraction
    name: str = ""

    def __init__(
        self,
        a: Sequence[RationalLike],
        b: Sequence[RationalLike],
        c: RationalLike,
        name: str = "",
    ) -> None:
        fa = to_fractions(a, "a")
        fb = to_fractions(b, "b")
        if len(fa) != len(fb):
            raise InfwidthError(
                f"a has {len(fa)} entries but b has {len(fb)}; both need L+1 entries "
                "(one per layer l = 1..L+1)."
            )
        if len(fa) < 2:
            raise InfwidthError(
                f"a and b need at least 2 entries (depth L >= 1 hidden layer), got {len(fa)}."
            )
        object.__setattr__(self, "a", fa)
        object.__setattr__(self, "b", fb)
        object.__setattr__(self, "c", to_fraction(c, "c"))
        object.__setattr__(self, "name", name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AbcParametrization):
            return NotImplemented
        return (self.a, self.b, self.c) == (other.a, other.b, other.c)

    def __hash__(self) -> int:
        return hash((self.a, self.b, self.c))

    @property
    def depth(self) -> int:
        """L, the number of hidden layers."""
        return len(self.a) - 1

    @classmethod
    def from_per_layer_lr(
        cls,
        a: Sequence[RationalLike],
        b: Sequence[RationalLike],
        c_layers: Sequence[RationalLike],
        c: RationalLike | None = None,
        name: str = "",
    ) -> AbcParametrization:
        """Fold per-layer learning-rate exponents c_l into (a_l, b_l) with one global c.

        Footnote 3 / Eq. (5) applied layer by layer: training layer l with LR n^{-c_l}
        is the same as shifting a_l <- a_l + theta_l, b_l <- b_l - theta_l with
        theta_l = (c_l - c) / 2 and using the global LR n^{-c}. ``c`` defaults to
        c_{L+1}, so equal c_l give back (a, b, c) unchanged.
        """
        fa, fb, fc = to_fractions(a, "a"), to_fractions(b, "b"), to_fractions(c_layers, "c")
        if len(fc) != len(fa):
            raise InfwidthError(
                f"per-layer c has {len(fc)} entries but a has {len(fa)}; give one c or one per layer."
            )
        ref = fc[-1] if c is None else to_fraction(c, "c")
        shifts = [(cl - ref) / 2 for cl in fc]
        return cls(
            [al + t for al, t in zip(fa, shifts)],
            [bl - t for bl, t in zip(fb, shifts)],
            ref,
            name,
        )

    def shift(self, theta: RationalLike) -> AbcParametrization:
        """The Eq. (5) symmetry: a_l + theta, b_l - theta, c - 2 theta (same f_t for all t)."""
        t = to_fraction(theta, "theta")
        return AbcParametrization(
            [x + t for x in self.a], [x - t for x in self.b], self.c - 2 * t, self.name
        )

    def invariants(self) -> tuple[tuple[Fraction, ...], tuple[Fraction, ...]]:
        """Eq. (5)-invariant coordinates: (a_l + b_l)_l (init scale of W^l) and
        (2 a_l + c)_l (update scale of W^l). Two parametrizations with equal invariants
        train identically at every width."""
        return (
            tuple(x + y for x, y in zip(self.a, self.b)),
            tuple(2 * x + self.c for x in self.a),
        )

    def canonical(self) -> AbcParametrization:
        """The representative of the Eq. (5) class with c = 0."""
        return self.shift(self.c / 2)

    def equivalent(self, other: AbcParametrization) -> bool:
        """True iff ``other`` is related to this one by the Eq. (5) symmetry."""
        return self.invariants() == other.invariants()

    def with_c(self, c: RationalLike) -> AbcParametrization:
        """The same (a, b) with another learning-rate exponent c."""
        return AbcParametrization(self.a, self.b, c, self.name)

    def describe(self) -> str:
        """A one-line human-readable form."""
        label = f"{self.name}: " if self.name else ""
        return f"{label}a=({', '.join(fmt_all(self.a))}) b=({', '.join(fmt_all(self.b))}) c={fmt(self.c)}"
