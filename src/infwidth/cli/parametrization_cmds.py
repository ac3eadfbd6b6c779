"""CLI: ``classify``, ``table1`` and ``phase-diagram`` (exact abc algebra)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import click

from infwidth.cli import cli
from infwidth.cli import options as o
from infwidth.cli._common import force_option, info, json_option, print_json, print_table
from infwidth.cli.estimates import MAX_DEPTH_ALGEBRA
from infwidth.errors import InfwidthError
from infwidth.parametrization import AbcParametrization, classify, parse_list, preset
from infwidth.parametrization.classify import Classification
from infwidth.parametrization.rational import fmt, fmt_all


def _preset_names() -> list[str]:
    from infwidth.parametrization.presets import PRESETS

    return list(PRESETS)


def _canonical(name: str) -> str:
    from infwidth.parametrization.presets import canonical

    return canonical(name)


# A preset of the one registry, by name or alias (sp-stable, SP_STABLE, ntk, mf and μP are accepted too).
PRESET = o.Name(_preset_names, "parametrization", normalize=_canonical)
Exponents = Sequence[Fraction] | str | None
DEPTH = o.Int(min=1, max=MAX_DEPTH_ALGEBRA, example="2")
EXPONENTS = o.RationalList(max_len=MAX_DEPTH_ALGEBRA + 1)


def _exps(value: Sequence[Fraction] | str, what: str) -> tuple[Fraction, ...]:
    return parse_list(value, what) if isinstance(value, str) else tuple(value)


def resolve_parametrization(
    preset_name: str | None, depth: int | None, a: Exponents, b: Exponents, c: Exponents
) -> AbcParametrization:
    """Build the parametrization named by CLI options (a preset, or explicit a/b/c).

    ``c`` may be one value or one per layer (per-layer learning rates, folded into
    (a, b) by the Eq. (5) symmetry).
    """
    if preset_name is not None:
        if a is not None or b is not None:
            raise InfwidthError("give either --parametrization or --a/--b, not both.")
        if depth is None:
            raise InfwidthError("--parametrization needs --depth L (number of hidden layers, L >= 1).")
        p = preset(preset_name, depth)
        if c is not None:
            cs = _exps(c, "--c")
            p = (
                p.with_c(cs[0])
                if len(cs) == 1
                else AbcParametrization.from_per_layer_lr(p.a, p.b, cs, name=p.name)
            )
        return p
    if a is None or b is None or c is None:
        raise InfwidthError("give --parametrization NAME --depth L, or all of --a, --b and --c.")
    fa, fb, cs = _exps(a, "--a"), _exps(b, "--b"), _exps(c, "--c")
    if depth is not None and len(fa) != depth + 1:
        raise InfwidthError(f"--depth {depth} needs {depth + 1} entries in --a, got {len(fa)}.")
    if len(cs) == 1:
        return AbcParametrization(fa, fb, cs[0])
    return AbcParametrization.from_per_layer_lr(fa, fb, cs)


def parametrization_options(f: click.decorators.FC, names: click.ParamType = PRESET,
                            names_help: str = "Named parametrization: sp, sp_stable, ntp, mfp or mup."
                            ) -> click.decorators.FC:
    """The shared options naming a parametrization (``names``: the type of --parametrization)."""
    f = click.option("--c", "c", type=EXPONENTS,
                     help='LR exponent c (LR = eta n^-c), or one per layer: "0,0,1".')(f)
    f = click.option("--b", "b", type=EXPONENTS, help='Init exponents b_1..b_{L+1}, e.g. "1/2,1/2,1/2".')(f)
    f = click.option("--a", "a", type=EXPONENTS, help='Multiplier exponents a_1..a_{L+1}, e.g. "-1/2,0,1/2".')(f)
    f = click.option("--depth", type=DEPTH, help=f"Number of hidden layers L (1 <= L <= {MAX_DEPTH_ALGEBRA}).")(f)
    f = click.option("--parametrization", "preset_name", type=names, help=names_help)(f)
    return f


def _yes(v: bool | None) -> str:
    return "n/a" if v is None else ("yes" if v else "no")


def print_classification(k: Classification) -> None:
    """Readable table of a classification."""
    p = k.parametrization
    L = p.depth
    shown = list(range(L + 1)) if L < 40 else [*range(10), -1, *range(L - 9, L + 1)]  # deep nets: both ends
    rows = [["...", "", "", "", ""] if l < 0 else
            [f"layer {l + 1}", fmt(p.a[l]), fmt(p.b[l]), fmt(k.r_l[l]) if l < L else "-", _yes(k.updated_maximally[l])]
            for l in shown]
    title = f"{p.name or 'abc-parametrization'}  (L = {L}, c = {fmt(p.c)})"
    print_table(title, ["layer", "a_l", "b_l", "r_l", "updated maximally"], rows)
    summary = [
        ["r (Def. 3.2)", fmt(k.r)],
        ["stable (Thm 3.3)", _yes(k.stable)],
        *[["  failed", s] for s in k.failed_conditions],
        ["nontrivial (Thm 3.4)", _yes(k.nontrivial)],
        ["feature learning (Thm 3.6)", _yes(k.feature_learning)],
        ["kernel regime (Thm 3.8)", _yes(k.kernel_regime)],
        ["W^{L+1} initialized maximally", _yes(k.initialized_maximally)],
        ["minimal stable c", "none: Eq. (6) fails" if k.min_stable_c is None else fmt(k.min_stable_c)],
        ["regime", k.regime],
    ]
    print_table("classification", ["property", "value"], summary)


@cli.command("classify")
@parametrization_options
@json_option
def classify_cmd(
    preset_name: str | None, depth: int | None, a: Exponents, b: Exponents, c: Exponents, as_json: bool
) -> None:
    """Classify an abc-parametrization: stability, nontriviality, feature learning or kernel.

    \b
    Examples:
      infwidth classify --parametrization mup --depth 3
      infwidth classify --a "-1/2,0,0,1/2" --b "1/2,1/2,1/2,1/2" --c 0 --json
      infwidth classify --parametrization sp --depth 2 --c 1
    """
    k = classify(resolve_parametrization(preset_name, depth, a, b, c))
    if as_json:
        print_json(k.to_json())
    else:
        print_classification(k)


@cli.command("table1")
@click.option("--depth", type=DEPTH, default=2, show_default=True,
              help="Depth L for SP, NTP and muP (the paper's SP column assumes L >= 2); MFP is L = 1.")
@json_option
def table1_cmd(depth: int, as_json: bool) -> None:
    """Reproduce Table 1 of TP4 (SP with LR 1/n, NTP, MFP, muP), computed exactly."""
    from infwidth.parametrization.table1 import table1

    cols = table1(depth)
    rows_by_col = [col.as_strings() for col in cols]
    if as_json:
        print_json({"depth": depth, "columns": [{"label": col.label, **r} for col, r in zip(cols, rows_by_col)]})
        return
    names = list(rows_by_col[0])
    print_table(f"TP4 Table 1 (L = {depth}; MFP at L = 1)", ["", *[c.label for c in cols]],
                [[n, *[r[n] for r in rows_by_col]] for n in names])


def _check_axis(name: str) -> None:
    from infwidth.parametrization.phase import parse_axis

    parse_axis(name, 10**9)  # the name's form; its layer is checked against --depth by phase_slice


AXIS = o.Spec(_check_axis, "axis", "a_out")


@cli.command("phase-diagram")
@click.option("--depth", type=DEPTH, default=2, show_default=True, help="Depth L of the SP/NTP/muP panels.")
@click.option("--x", "x_axis", type=AXIS, default="a_out", show_default=True,
              help="Horizontal axis: a1.., b1.., a_out, b_out, c.")
@click.option("--y", "y_axis", type=AXIS, default="c", show_default=True, help="Vertical axis.")
@click.option("--range", "span", type=o.CommaList(o.RATIONAL, min_len=2, max_len=2, example="-5/4,2"),
              default="-5/4,2", show_default=True, help="Axis range lo,hi (both axes).")
@click.option("--step", type=o.Rational(positive=True), default="1/32", show_default=True, help="Exact grid step.")
@click.option("--parametrization", "bases", type=PRESET, multiple=True,
              help="Base preset(s) of the panels (default: sp_stable, ntp, mup at --depth and mfp at L = 1).")
@click.option("--out", type=o.OutputFile(".png"), default=Path("phase_diagram.png"), show_default=True,
              help="PNG to write.")
@force_option
@json_option
def phase_diagram_cmd(depth: int, x_axis: str, y_axis: str, span: tuple[Fraction, Fraction], step: Fraction,
                      bases: tuple[str, ...], out: Path, force: bool, as_json: bool) -> None:
    """Draw exact 2-D slices of parametrization space, coloured by regime.

    Each panel fixes every exponent of a base preset except the two axes, and
    classifies an exact rational grid. Kernel and feature-learning parametrizations
    lie on faces (lines) of the stable polyhedron, so they appear as lines.
    """
    from infwidth.cli import estimates
    from infwidth.parametrization.phase import phase_slice
    from infwidth.resources import check

    lo_hi, st = span, step
    if lo_hi[0] >= lo_hi[1]:
        raise InfwidthError(f"--range {fmt(lo_hi[0])},{fmt(lo_hi[1])} is empty; give lo < hi, e.g. -5/4,2.")
    names = bases or ("sp_stable", "ntp", "mup", "mfp")
    check(estimates.phase_diagram(float((lo_hi[1] - lo_hi[0]) / st) + 1, len(names), depth), force,
          "use a coarser --step or a narrower --range")
    slices = []
    for name in names:
        base = preset(name, 1 if name == "mfp" else depth)
        slices.append(phase_slice(base, x_axis, y_axis, (lo_hi[0], lo_hi[1]), (lo_hi[0], lo_hi[1]), st))
    from infwidth.viz.phase_diagram import plot_phase_slices  # matplotlib: only once the grid is classified

    plot_phase_slices(slices, out)
    panels = [
        {"base": s.base.name, "depth": s.base.depth, "a": fmt_all(s.base.a), "b": fmt_all(s.base.b),
         "c": fmt(s.base.c), "x": s.x_axis, "y": s.y_axis, "points": s.counts()}
        for s in slices
    ]
    if as_json:
        print_json({"out": str(out), "panels": panels})
    else:
        info(f"wrote {out}")
        for panel in panels:
            info(f"  {panel['base']} (L = {panel['depth']}): {panel['points']}")


