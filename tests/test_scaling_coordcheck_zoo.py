"""The any-model coordinate check on six models nobody here wrote, each at its own default init (tests/zoo.py):
muP + Adam PASSes across 4 widths and SP with one global Adam learning rate is FLAGGED."""

from __future__ import annotations

import pytest

import zoo
from infwidth.scaling.coordcheck import coord_check_model

pytest.importorskip("transformers", reason="the Hugging Face zoo models need `pip install transformers`")

#: 4 widths (3 doublings) separate muP's slope 0 from SP's ~1 by many CIs. The language models start at 64:
#: their logits' change is Delta W z (n^0) + W_0 Delta z (n^{-1/2}), and with their own 0.02-std readout the
#: second term still pulls the slope to -0.25..-0.32 on 32..256 (-0.18..-0.22 on 64..512). The ResNet's
#: second stage has 2 x width channels, so its widths start lower to keep the test fast.
WIDTHS = {"hf_gpt2": (64, 128, 256, 512), "hf_llama": (64, 128, 256, 512), "nanogpt": (64, 128, 256, 512),
          "resnet": (8, 16, 32, 64)}
DEFAULT_WIDTHS = (32, 64, 128, 256)


pytestmark = pytest.mark.usefixtures("one_thread")  # small models: one torch thread


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
