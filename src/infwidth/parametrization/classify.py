"""Classification of abc-parametrizations (TP4 Section 3.2 and Section 5.3).

Implements, in exact arithmetic:
  * r (Definition 3.2) and r_l (Proposition 5.3);
  * stability (Theorem 3.3: inequalities (6), (7), (8)), naming each failed one;
  * nontriviality (Theorem 3.4), feature learning (Theorem 3.6), kernel regime
    (Theorem 3.8);
  * maximal updates (Propositions 5.3, 5.5) and maximal initialization of W^{L+1};
  * the smallest stable learning-rate exponent c for given (a, b) (Table 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from infwidth.errors import InfwidthError
from infwidth.parametrization.abc import AbcParametrization
from infwidth.parametrization.rational import fmt, fmt_all

HALF = Fraction(1, 2)


def _readout_min(p: AbcParametrization) -> Fraction:
    """min(a_{L+1} + b_{L+1}, 2 a_{L+1} + c): the size exponent of W^{L+1}_t."""
    return min(p.a[-1] + p.b[-1], 2 * p.a[-1] + p.c)


def r_per_layer(p: AbcParametrization) -> tuple[Fraction, ...]:
    """r_l for l = 1..L (Proposition 5.3):
    r_l = min(a_{L+1} + b_{L+1}, 2 a_{L+1} + c) + c - 1 + 2 a_l + I(l = 1)."""
    base = _readout_min(p) + p.c - 1
    return tuple(base + 2 * p.a[l] + (1 if l == 0 else 0) for l in range(p.depth))


def r_value(p: AbcParametrization) -> Fraction:
    """r (Definition 3.2) = min_l r_l: Delta x^L_t = Theta(n^{-r})."""
    return min(r_per_layer(p))


@dataclass(frozen=True)
class Condition:
    """One inequality or equality of Theorem 3.3.

    ``lhs`` is compared with ``rhs`` by ``relation`` ("=" or ">="); ``label`` names
    the equation number, e.g. "(7) r >= 0".
    """

    label: str
    lhs: Fraction
    relation: str
    rhs: Fraction

    @property
    def holds(self) -> bool:
        return self.lhs == self.rhs if self.relation == "=" else self.lhs >= self.rhs

    def explain(self) -> str:
        """e.g. ``(7) r >= 0 fails: r = -1/2, short by 1/2``."""
        diff = self.lhs - self.rhs
        if self.relation == "=":
            how = f"off by {'+' if diff > 0 else ''}{fmt(diff)}"
        else:
            how = f"short by {fmt(-diff)}"
        return f"{self.label} fails: value {fmt(self.lhs)}, {how}"


def stability_conditions(p: AbcParametrization) -> list[Condition]:
    """Every condition of Theorem 3.3, in the order (6), (7), (8)."""
    L = p.depth
    s = [x + y for x, y in zip(p.a, p.b)]
    conds = [Condition("(6) a_1 + b_1 = 0", s[0], "=", Fraction(0))]
    conds += [Condition(f"(6) a_{l + 1} + b_{l + 1} = 1/2", s[l], "=", HALF) for l in range(1, L)]
    conds.append(Condition(f"(6) a_{L + 1} + b_{L + 1} >= 1/2", s[L], ">=", HALF))
    r = r_value(p)
    conds.append(Condition("(7) r >= 0", r, ">=", Fraction(0)))
    conds.append(Condition(f"(8) 2 a_{L + 1} + c >= 1", 2 * p.a[L] + p.c, ">=", Fraction(1)))
    conds.append(Condition(f"(8) a_{L + 1} + b_{L + 1} + r >= 1", s[L] + r, ">=", Fraction(1)))
    return conds


def min_stable_c(p: AbcParametrization) -> Fraction | None:
    """The smallest c making (a, b) stable, or None when Eq. (6) fails (no c helps).

    Every quantity in (7) and (8) is nondecreasing in c, so the stable c form a ray
    [c_min, inf). With A = a_{L+1} + b_{L+1}, B = 2 a_{L+1}, K = min_l[2 a_l + I(l=1)] - 1:
    r(c) = min(A + c, B + 2c) + K, and r(c) >= T iff c >= T - K - A and c >= (T - K - B)/2.
    (7) and (8) need r >= max(0, 1 - A) and c >= 1 - B.
    """
    if not all(cond.holds for cond in stability_conditions(p) if cond.label.startswith("(6)")):
        return None
    A = p.a[-1] + p.b[-1]
    B = 2 * p.a[-1]
    K = min(2 * p.a[l] + (1 if l == 0 else 0) for l in range(p.depth)) - 1
    T = max(Fraction(0), 1 - A)
    return max(1 - B, T - K - A, (T - K - B) / 2)


@dataclass(frozen=True)
class Classification:
    """Everything the theory says about one parametrization (see module docstring).

    ``nontrivial`` is None when unstable; ``feature_learning`` and ``kernel_regime``
    are None when unstable or trivial (the theorems do not apply there).
    """

    parametrization: AbcParametrization
    r: Fraction
    r_l: tuple[Fraction, ...]
    conditions: tuple[Condition, ...]
    stable: bool
    nontrivial: bool | None
    feature_learning: bool | None
    kernel_regime: bool | None
    updated_maximally: tuple[bool, ...]
    initialized_maximally: bool
    min_stable_c: Fraction | None

    @property
    def failed_conditions(self) -> list[str]:
        return [c.explain() for c in self.conditions if not c.holds]

    @property
    def regime(self) -> str:
        """One of "unstable", "trivial", "kernel", "feature learning"."""
        if not self.stable:
            return "unstable"
        if not self.nontrivial:
            return "trivial"
        return "feature learning" if self.feature_learning else "kernel"

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``infwidth classify --json`` (keys fixed by the CLI contract)."""
        p = self.parametrization
        return {
            "depth": p.depth,
            "a": fmt_all(p.a),
            "b": fmt_all(p.b),
            "c": fmt(p.c),
            "r": fmt(self.r),
            "r_l": fmt_all(self.r_l),
            "stable": self.stable,
            "failed_conditions": self.failed_conditions,
            "nontrivial": self.nontrivial,
            "feature_learning": self.feature_learning,
            "kernel_regime": self.kernel_regime,
            "updated_maximally": list(self.updated_maximally),
            "initialized_maximally": self.initialized_maximally,
            "min_stable_c": None if self.min_stable_c is None else fmt(self.min_stable_c),
        }


def classify(p: AbcParametrization) -> Classification:
    """Classify ``p`` by Theorems 3.3, 3.4, 3.6, 3.8 and Propositions 5.3, 5.5.

    ``p``: an :class:`AbcParametrization` (anything else is an ``InfwidthError`` naming how to build one).
    """
    if not isinstance(p, AbcParametrization):
        raise InfwidthError(f"classify needs an AbcParametrization, got {type(p).__name__}; build one with "
                            "preset('mup', depth) or AbcParametrization(a, b, c).")
    r_l = r_per_layer(p)
    r = min(r_l)
    conds = tuple(stability_conditions(p))
    stable = all(c.holds for c in conds)
    readout_update = 2 * p.a[-1] + p.c  # Prop. 5.5 (1)
    readout_init = p.a[-1] + p.b[-1] + r  # Prop. 5.5 (2)
    nontrivial = (readout_init == 1 or readout_update == 1) if stable else None  # Thm 3.4
    applies = stable and bool(nontrivial)
    return Classification(
        parametrization=p,
        r=r,
        r_l=r_l,
        conditions=conds,
        stable=stable,
        nontrivial=nontrivial,
        feature_learning=(r == 0) if applies else None,  # Thm 3.6
        kernel_regime=(r > 0) if applies else None,  # Thm 3.8
        updated_maximally=tuple(x == 0 for x in r_l) + (readout_update == 1,),
        initialized_maximally=readout_init == 1,
        min_stable_c=min_stable_c(p),
    )


def is_mup_class(p: AbcParametrization) -> bool:
    """True iff p is muP up to the Eq. (5) symmetry (Theorem 5.6's unique parametrization)."""
    from infwidth.parametrization.presets import mup

    return p.equivalent(mup(p.depth))
