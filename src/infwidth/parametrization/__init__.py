"""Exact abc-parametrization algebra (TP4 Sections 3-5). Importable without PyTorch.

>>> from infwidth.parametrization import mup, classify
>>> classify(mup(3)).regime
'feature learning'
"""

from infwidth.parametrization.abc import AbcParametrization
from infwidth.parametrization.classify import (
    Classification,
    Condition,
    classify,
    is_mup_class,
    min_stable_c,
    r_per_layer,
    r_value,
    stability_conditions,
)
from infwidth.parametrization.presets import PRESETS, REGISTRY, Preset, mfp, mup, ntp, preset, sp, sp_stable
from infwidth.parametrization.rational import parse_list, to_fraction

__all__ = [
    "AbcParametrization",
    "Classification",
    "Condition",
    "PRESETS",
    "Preset",
    "REGISTRY",
    "classify",
    "is_mup_class",
    "mfp",
    "min_stable_c",
    "mup",
    "ntp",
    "parse_list",
    "preset",
    "r_per_layer",
    "r_value",
    "sp",
    "sp_stable",
    "stability_conditions",
    "to_fraction",
]
