"""Figures (matplotlib, Agg backend): one module per kind of plot."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int | None = None, top: float | None = None) -> Path:
    """Write ``fig`` to ``path`` atomically (creating its folder), close it, and return the path.

    ``top``: when given, first ``tight_layout`` below a suptitle occupying the figure above ``top``.
    """
    import matplotlib.pyplot as plt

    if top is not None:
        fig.tight_layout(rect=(0, 0, 1, top))
    from infwidth.io import atomic_open

    out = Path(path)
    with atomic_open(out, "wb") as f:  # an interrupted run never leaves a half-written figure
        fig.savefig(f, format=(out.suffix.lstrip(".") or "png").lower(), dpi=dpi if dpi is not None else "figure")
    plt.close(fig)
    return out
