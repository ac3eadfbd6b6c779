"""The any-model coordinate check on six models nobody here wrote, each at its own default init (tests/zoo.py):
muP + Adam PASSes across 4 widths and SP with one global Adam learning rate is FLAGGED."""

from __future__ import annotations

import pytest

import zoo
from infwidth.scaling.coordcheck import coord_check_model

pytest.importorskip("transformers", reason="the Hugging Face zoo models need `pip install transformers`")

#: 4 widths (3 doublings) separate muP's slope 0 from SP's ~1 by many CIs; the ResNet's second stage has
#: 2 x width channels, so its widths start lower to keep the test fast.
WIDTHS = {"resnet": (8, 16, 32, 64)}
DEFAULT_WIDTHS = (32, 64, 128, 256)


@pytest.mark.parametrize("name", sorted(zoo.FACTORIES))
def test_zoo_model_mup_passes_and_sp_global_is_flagged(name: str) -> None:
    """Each zoo model at its own init: muP + Adam PASS (hidden outputs and logits width-independent after
    2 steps, logits at init ~ n^{-1/2}); SP + one global Adam LR FLAGGED (changes grow with width)."""
    widths = WIDTHS.get(name, DEFAULT_WIDTHS)
    r = coord_check_model(zoo.FACTORIES[name], widths, parametrization="mup", seeds=2, steps=2, spec=name)
    assert r.verdict == "PASS", r.summary()
    assert {"hidden", "logits"} <= set(r.kinds.values())
    s = coord_check_model(zoo.FACTORIES[name], widths, parametrization="sp-global", seeds=2, steps=2, spec=name)
    assert s.verdict == "FLAGGED", s.summary()
    h, g = s.worst("hidden"), s.worst("logits")
    assert h is not None and g is not None and max(h.ci_low, g.ci_low) > 0.5, s.summary()
