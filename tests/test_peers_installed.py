"""When the suite runs with INFWIDTH_REQUIRE_PEERS=1 (scripts/test.sh, CI), every peer library used for
cross-checks must import: a cross-check must never be skipped silently because an install step failed."""

import importlib
import os

import pytest

PEERS = ["gensim", "mup", "adam_atan2_pytorch"]


@pytest.mark.skipif(os.environ.get("INFWIDTH_REQUIRE_PEERS") != "1", reason="peers not required in this run")
@pytest.mark.parametrize("name", PEERS + ["neural_tangents"])
def test_peer_imports(name):
    if name == "neural_tangents":
        from infwidth.peers import neural_tangents_stax

        assert hasattr(neural_tangents_stax(), "Dense")
    else:
        importlib.import_module(name)
