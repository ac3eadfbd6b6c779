"""Width scaling for any PyTorch model (Everett et al.; TP4 Definition 5.1, Eq. (5)).

* ``exponents``: per-layer learning-rate / Adam-eps exponents derived for SGD, Adam and Adafactor
  under full or no alignment (exact Fractions, no torch).
* ``roles``: parameter roles inferred from which dimensions scale against a base model.
* ``module``: side table, init rescaling, multipliers, ``param_groups`` for any optimizer.
* ``adam_atan2``: the epsilon-free Adam-atan2 optimizer.
* ``alignment``: the alignment metric logged during training.
"""

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
]
