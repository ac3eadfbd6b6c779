"""TP4 Table 1, computed (not copied) from the classification."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from infwidth.parametrization.abc import AbcParametrization
from infwidth.parametrization.classify import classify
from infwidth.parametrization.presets import mfp, mup, ntp, sp_stable
from infwidth.parametrization.rational import fmt


@dataclass(frozen=True)
class Table1Column:
    """One column of Table 1: a parametrization and its computed rows."""

    label: str
    parametrization: AbcParametrization
    min_stable_c: Fraction | None
    r: Fraction
    readout_update: Fraction  # 2 a_{L+1} + c
    readout_init: Fraction  # a_{L+1} + b_{L+1} + r
    nontrivial: bool | None
    stable: bool
    feature_learning: bool | None
    kernel_regime: bool | None

    def as_strings(self) -> dict[str, str]:
        """Rows of the table as display strings (check marks for the booleans)."""
        p = self.parametrization

        def per_layer(xs: tuple[Fraction, ...]) -> str:
            return ", ".join(fmt(x) for x in xs)

        def mark(v: bool | None) -> str:
            return "✓" if v else ("" if v is not None else "n/a")

        return {
            "a_l": per_layer(p.a),
            "b_l": per_layer(p.b),
            "c": fmt(p.c),
            "minimal stable c": "none" if self.min_stable_c is None else fmt(self.min_stable_c),
            "r": fmt(self.r),
            "2a_{L+1} + c": fmt(self.readout_update),
            "a_{L+1} + b_{L+1} + r": fmt(self.readout_init),
            "Nontrivial?": mark(self.nontrivial),
            "Stable?": mark(self.stable),
            "Feature Learning?": mark(self.feature_learning),
            "Kernel Regime?": mark(self.kernel_regime),
        }


def table1(depth: int = 2) -> list[Table1Column]:
    """Table 1 of TP4: SP (LR 1/n), NTP, MFP (L = 1) and muP at the given depth.

    The SP column of the paper assumes L >= 2 (at L = 1, SP with c = 1 has r = 3/2),
    so the default depth is 2. MFP is always at depth 1.
    """
    columns = []
    for label, p in [
        ("SP (w/ LR 1/n)", sp_stable(depth)),
        ("NTP", ntp(depth)),
        ("MFP (L = 1)", mfp(1)),
        ("muP (ours)", mup(depth)),
    ]:
        k = classify(p)
        columns.append(
            Table1Column(
                label=label,
                parametrization=p,
                min_stable_c=k.min_stable_c,
                r=k.r,
                readout_update=2 * p.a[-1] + p.c,
                readout_init=p.a[-1] + p.b[-1] + k.r,
                nontrivial=k.nontrivial,
                stable=k.stable,
                feature_learning=k.feature_learning,
                kernel_regime=k.kernel_regime,
            )
        )
    return columns
