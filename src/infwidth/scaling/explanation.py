"""Explain every scaling decision: one row per parameter name (tied aliases included) and per attention module.

``explain(model, base, **plan_kwargs)`` plans the table (pure) and reads the model's current
tensors for the init factor ``apply`` would multiply each one by. ``format_rows(rows)`` renders the
rows as a fixed-width text table (what ``infwidth explain`` prints).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from infwidth.scaling.roles import Base, tensors
from infwidth.scaling.table import ScalingTable, plan


@dataclass(frozen=True)
class ExplainRow:
    """One decision. kind: "parameter" or "attention"; for a tied alias ``tied_to`` names its tensor.

    init_factor: what ``apply`` multiplies the stored tensor by (1 for zero or constant tensors);
    multiplier: the forward multiplier on this parameter's use (for attention: the logit factor,
    NaN when known only at run time); lr_factor, eps_factor, wd_factor: the optimizer group's
    factors relative to the base values; a, b, c: the exponents in the chosen gauge.
    """

    parameter: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    role: str
    width_mult: float
    init_factor: float
    multiplier: float
    lr_factor: float
    eps_factor: float
    wd_factor: float = 1.0
    a: str = "0"
    b: str = "0"
    c: str = "0"
    kind: str = "parameter"
    tied_to: str = ""
    reason: str = ""


def _init_factor(t: torch.Tensor, target: float | None) -> float:
    flat = t.detach().reshape(-1)
    if target is None or flat.numel() == 0 or bool((flat == flat[0]).all()):
        return 1.0
    return target / math.sqrt(float(flat.double().pow(2).mean()))


def explain_table(model: nn.Module, table: ScalingTable) -> list[ExplainRow]:
    """Rows for a table already planned for ``model``."""
    rows: list[ExplainRow] = []
    readout_of = {ms.parameter: ms for ms in table.modules.values() if ms.kind == "readout"}
    for name, t in tensors(model).items():
        s = table.params[name]
        init = _init_factor(t.param, s.init_rms)
        for hname, _, _ in t.holders:
            ms = readout_of.get(hname)
            alias = hname != name
            own = 1.0 if alias or s.via == "input" else s.multiplier  # "input": the wrapper carries it
            mult = own * (ms.multiplier if ms is not None and ms.multiplier is not None else 1.0)
            reason = s.reason if not alias else f"tied to {name}: its init and learning rate" + (
                f"; {ms.reason}" if ms is not None else "")
            if ms is not None and not alias:
                reason += f"; {ms.reason}"
            rows.append(ExplainRow(hname, s.shape, s.base_shape, "readout" if alias and ms else s.role,
                                   s.width_mult, init, float(mult), s.lr_mult, s.eps_mult, s.wd_mult,
                                   s.a, s.b, s.c, "parameter", name if alias else "", reason))
    for ms in table.modules.values():
        if ms.kind.startswith("attention"):
            factor = math.nan if ms.multiplier is None else ms.multiplier
            rows.append(ExplainRow(ms.module, (), (), ms.kind, 1.0, 1.0, factor if ms.active else 1.0, 1.0, 1.0,
                                   kind="attention", reason=ms.reason))
    return rows


def explain(model: nn.Module, base: Base, **plan_kwargs: Any) -> list[ExplainRow]:
    """Plan the scaling of ``model`` against ``base`` (``plan``'s keywords) and explain every decision."""
    return explain_table(model, plan(model, base, **plan_kwargs))


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    if isinstance(v, tuple):
        return "x".join(map(str, v)) if v else "-"
    return str(v)


COLUMNS = ("parameter", "shape", "base_shape", "role", "width_mult", "init_factor", "multiplier", "lr_factor",
           "eps_factor", "wd_factor", "reason")


def format_rows(rows: Sequence[ExplainRow], columns: Sequence[str] = COLUMNS) -> str:
    """The rows as a fixed-width text table (one line per row, a header, columns separated by two spaces)."""
    cells = [[c for c in columns]] + [[_cell(getattr(r, c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)
