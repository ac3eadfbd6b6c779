"""Width scaling for any PyTorch model (Everett et al.; TP4 Definition 5.1, Eq. (5)).

* ``exponents``: per-layer learning-rate / Adam-eps exponents derived for SGD, Adam and Adafactor
  under full or no alignment (exact Fractions, no torch).
* ``roles``: the role of every tensor (tied, any rank) from a base model of the same code.
* ``table``: ``plan`` -> the side table (gauges, init targets from the base's own tensors).
* ``module``: ``apply``, ``scale_model``, ``param_groups`` for any optimizer.
* ``hooks`` / ``attention``: picklable forward wrappers (readout multiplier, muP attention scale).
* ``explanation``: ``explain``, one row per decision. ``hf``: Hugging Face models from their config.
* ``adam_atan2``: the epsilon-free Adam-atan2 optimizer. ``alignment``: the alignment metric.

The torch-dependent names (``plan``, ``apply``, ``scale_model``, ``param_groups``, ``explain``,
``ExplainRow``, ``ScalingTable``) are imported lazily, so ``infwidth.scaling.exponents`` stays
torch-free.
"""

from __future__ import annotations

from typing import Any

from infwidth.scaling.exponents import (
    ALIGNMENTS,
    OPTIMIZERS,
    PARAMETRIZATIONS,
    ROLES,
    Alignment,
    ExponentTable,
    LayerExponents,
    derive,
    derive_layers,
)

_LAZY = {
    "plan": "infwidth.scaling.table", "ScalingTable": "infwidth.scaling.table",
    "ParamScaling": "infwidth.scaling.table", "ModuleScaling": "infwidth.scaling.table",
    "GAUGES": "infwidth.scaling.table",
    "apply": "infwidth.scaling.module", "scale_model": "infwidth.scaling.module",
    "param_groups": "infwidth.scaling.module", "multipliers": "infwidth.scaling.module",
    "is_scaled": "infwidth.scaling.module",
    "explain": "infwidth.scaling.explanation", "ExplainRow": "infwidth.scaling.explanation",
    "format_rows": "infwidth.scaling.explanation",
}

__all__ = [
    "ALIGNMENTS",
    "Alignment",
    "ExponentTable",
    "LayerExponents",
    "OPTIMIZERS",
    "PARAMETRIZATIONS",
    "ROLES",
    "derive",
    "derive_layers",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'infwidth.scaling' has no attribute {name!r}")
