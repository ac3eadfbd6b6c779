"""Figures (matplotlib, Agg backend): one module per kind of plot."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_figure(fig: Any, path: str | Path, dpi: int | None = None) -> Path:
    """Write ``fig`` to ``path`` (creating its folder), close it, and return the path."""
    import matplotlib.pyplot as plt

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi if dpi is not None else "figure")
    plt.close(fig)
    return out
