"""TP4 Table 1, entry by entry, from the computed classification."""

from fractions import Fraction as F

import pytest

from infwidth.parametrization.table1 import table1

H = F(1, 2)

# (label, a, b, c, r, 2a_{L+1}+c, a_{L+1}+b_{L+1}+r, nontrivial, stable, feature learning, kernel)
# written out from the paper for L = 2 and L = 3 (MFP always L = 1).
PAPER = {
    2: [
        ("SP (w/ LR 1/n)", (0, 0, 0), (0, H, H), 1, H, 1, 1, True, True, False, True),
        ("NTP", (0, H, H), (0, 0, 0), 0, H, 1, 1, True, True, False, True),
        ("MFP (L = 1)", (0, 1), (0, 0), -1, 0, 1, 1, True, True, True, False),
        ("muP (ours)", (-H, 0, H), (H, H, H), 0, 0, 1, 1, True, True, True, False),
    ],
    3: [
        ("SP (w/ LR 1/n)", (0, 0, 0, 0), (0, H, H, H), 1, H, 1, 1, True, True, False, True),
        ("NTP", (0, H, H, H), (0, 0, 0, 0), 0, H, 1, 1, True, True, False, True),
        ("MFP (L = 1)", (0, 1), (0, 0), -1, 0, 1, 1, True, True, True, False),
        ("muP (ours)", (-H, 0, 0, H), (H, H, H, H), 0, 0, 1, 1, True, True, True, False),
    ],
}


@pytest.mark.parametrize("depth", [2, 3])
def test_table1_matches_paper_entry_by_entry(depth):
    cols = table1(depth)
    assert [c.label for c in cols] == [row[0] for row in PAPER[depth]]
    for col, (label, a, b, c, r, upd, init, nontriv, stable, fl, kern) in zip(cols, PAPER[depth]):
        p = col.parametrization
        assert p.a == tuple(F(x) for x in a), label
        assert p.b == tuple(F(x) for x in b), label
        assert p.c == c and col.min_stable_c == c, label  # the c row is the minimal stable c
        assert col.r == r, label
        assert col.readout_update == upd and col.readout_init == init, label
        assert (col.nontrivial, col.stable, col.feature_learning, col.kernel_regime) == (
            nontriv, stable, fl, kern), label


def test_table1_strings_use_check_marks():
    rows = table1(2)[3].as_strings()
    assert rows["Feature Learning?"] == "✓" and rows["Kernel Regime?"] == ""
    assert rows["a_l"] == "-1/2, 0, 1/2"
