"""Peer libraries for tests and benchmarks: importing them where their own packaging gets in the way."""

from __future__ import annotations

import sys
import types
from typing import Any


def neural_tangents_stax() -> Any:
    """Import ``neural_tangents.stax`` (float64 JAX) without TensorFlow.

    neural-tangents 0.6.5 imports its ``experimental`` package (TensorFlow interop through tf2jax,
    about 2 GB installed) at import time; ``stax`` does not need it. Installing neural-tangents with
    ``--no-deps`` plus jax/jaxlib 0.4.30 and frozendict, and registering an empty
    ``neural_tangents.experimental`` module first, gives a working ``stax``. Raises ImportError when
    neural-tangents or jax is missing.
    """
    if "neural_tangents" not in sys.modules:
        sys.modules.setdefault("neural_tangents.experimental", types.ModuleType("neural_tangents.experimental"))
    import jax

    jax.config.update("jax_enable_x64", True)
    from neural_tangents import stax

    return stax
