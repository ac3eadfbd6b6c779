"""Derived per-layer exponents: known cells, the symmetries, TP4 cross-check, CLI."""

import json
from fractions import Fraction as F

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _cli import run_cli as run
from infwidth.errors import InfwidthError
from infwidth.parametrization import AbcParametrization, classify
from infwidth.scaling.exponents import SYMMETRY_K, derive, derive_layers, network, role_ab, shift

H = F(1, 2)

# The cells listed in issue 8 (Everett et al.), (embedding, hidden, readout).
KNOWN = [
    ("adam", "full", "sp", (0, 1, 1)),
    ("adam", "full", "ntk", (0, H, H)),
    ("adam", "full", "mup", (H, 1, H)),
    ("adam", "none", "sp", (0, H, H)),
    ("adam", "none", "ntk", (0, 0, 0)),
    ("adam", "none", "mup", (H, H, 0)),
    ("sgd", "full", "sp", (-H, H, 1)),
    ("sgd", "full", "mup", (0, 0, 0)),
]


@pytest.mark.parametrize("opt,align,param,expected", KNOWN)
def test_known_learning_rate_exponents(opt, align, param, expected):
    assert derive(param, opt, align).lr() == tuple(F(x) for x in expected)


@pytest.mark.parametrize("opt", ["sgd", "adam", "adafactor"])
@pytest.mark.parametrize("align", ["full", "none"])
@pytest.mark.parametrize("param", ["sp", "ntk", "mup", "mf"])
def test_result_does_not_depend_on_depth(opt, align, param):
    assert derive(param, opt, align, depth=2).lr() == derive(param, opt, align, depth=5).lr()
    assert derive(param, opt, align, depth=2).eps() == derive(param, opt, align, depth=5).eps()


def test_mean_field_is_mup_class():
    """MF = muP shifted by theta = 1/2 on hidden and readout: Adam c shifts by -1/2, SGD by -1."""
    for opt, k in SYMMETRY_K.items():
        for align in ("full", "none"):
            mup, mf = derive("mup", opt, align).lr(), derive("mf", opt, align).lr()
            assert mf == (mup[0], mup[1] - k * H, mup[2] - k * H)


thetas = st.fractions(min_value=-2, max_value=2, max_denominator=4)


@settings(max_examples=60, deadline=None)
@given(param=st.sampled_from(["sp", "ntk", "mup", "mf"]), opt=st.sampled_from(["sgd", "adam", "adafactor"]),
       align=st.sampled_from(["full", "none"]), th=st.lists(thetas, min_size=4, max_size=4))
def test_per_layer_symmetry(param, opt, align, th):
    """(a, b) -> (a + theta, b - theta) per layer moves c by -k theta (k = 2, 1, 0) and the Adam
    eps exponent by +theta: the derivation is not written in these terms, so this can fail."""
    net = network(param, 3)
    base = derive_layers(net.a, net.b, opt, align)
    moved = derive_layers([a + t for a, t in zip(net.a, th)], [b - t for b, t in zip(net.b, th)], opt, align)
    for b0, m, t in zip(base, moved, th):
        assert m.c == shift(b0.a, b0.b, b0.c, t, opt)[2]
        assert m.eps == b0.eps + t


@pytest.mark.parametrize("param", ["sp", "ntk", "mup", "mf"])
def test_sgd_full_alignment_agrees_with_tp4_maximal_updates(param):
    """TP4 Prop. 5.3 (independent code): the derived per-layer SGD learning rates, folded into
    (a, b) by Eq. (5), update every hidden layer maximally (r_l = 0)."""
    net = network(param, 3)
    cs = [x.c for x in derive(param, "sgd", "full", depth=3).layers]
    k = classify(AbcParametrization.from_per_layer_lr(net.a, net.b, cs))
    assert all(r == 0 for r in k.r_l)
    if param in ("mup", "mf"):  # readout initialized at 1/n: TP4's feature-learning regime
        assert k.stable and k.regime == "feature learning"


def test_adam_eps_matches_gradient_scale_mup():
    """muP + Adam: dL/dw ~ n^{-1/2} (embedding), n^{-1} (hidden), n^{-1/2} (readout)."""
    t = derive("mup", "adam", "full")
    assert t.eps() == (H, F(1), H)
    assert [x.grad for x in t.layers[:2]] == [-H, F(-1)]


def test_unstable_init_is_an_error():
    ab = role_ab("sp")
    with pytest.raises(InfwidthError, match="unstable at initialization"):
        derive_layers([0, 0, 0], [ab["embedding"][1], 0, H], "adam")




def test_cli_exponents_json(capsys):
    code, out, _ = run(["exponents", "--optimizer", "adam", "--alignment", "none", "--json"], capsys)
    obj = json.loads(out)
    assert code == 0
    mup = next(t for t in obj["tables"] if t["parametrization"] == "mup")
    assert [mup["roles"][r]["c"] for r in ("embedding", "hidden", "readout")] == ["1/2", "1/2", "0"]


def test_cli_exponents_bad_optimizer(capsys):
    code, _, err = run(["exponents", "--optimizer", "lion"], capsys)
    assert code == 2 and "lion" in err
