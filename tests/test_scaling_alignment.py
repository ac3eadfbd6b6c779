"""Alignment metric: closed forms (LLN = 1, CLT = 1/2), an exact training case, CSV and plot."""

import math

import pytest
import torch

from _cli import run_cli
from infwidth.io import read_csv
from infwidth.scaling.alignment import FIELDS, AlignmentTracker, alignment_exponent
from infwidth.scaling.models import mlp
from infwidth.viz.scaling import plot_alignment


def test_rank_one_update_along_the_input_is_fully_aligned():
    g = torch.Generator().manual_seed(0)
    n = 300
    z = torch.randn(1, n, generator=g, dtype=torch.float64)
    u = torch.randn(50, 1, generator=g, dtype=torch.float64)
    assert alignment_exponent(u @ z, z) == pytest.approx(1.0, abs=1e-12)  # |u z^T z| = n |u| |z|^2 / ...


@pytest.mark.parametrize("n", [512, 4096])
def test_independent_matrix_and_vector_are_clt(n):
    g = torch.Generator().manual_seed(n)
    a = torch.randn(256, n, generator=g, dtype=torch.float64)
    x = torch.randn(8, n, generator=g, dtype=torch.float64)
    # |A x|_rms = sqrt(n) |A|_rms |x|_rms (1 + O(n^-1/2) fluctuations): exponent 1/2 + O(1/(sqrt(n) log n))
    assert alignment_exponent(a, x) == pytest.approx(0.5, abs=3 / (math.sqrt(n) * math.log(n)) + 0.01)


def test_zero_update_is_nan():
    assert math.isnan(alignment_exponent(torch.zeros(3, 4), torch.ones(2, 4)))


def test_one_sgd_step_on_the_probe_is_fully_aligned(tmp_path):
    """SGD on one example z_0: Delta W = -lr g z_0^T, so Delta W z_0 = -lr g |z_0|^2: alpha = 1 exactly."""
    torch.manual_seed(0)
    m = mlp(128, d_in=16, depth=2).double()
    x = torch.randn(1, 16, dtype=torch.float64)
    tr = AlignmentTracker(m, x)
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    ((m(x) - 1.0) ** 2).sum().backward()
    opt.step()
    rows = tr.log(1)
    assert [r["layer"] for r in rows] == ["0", "2", "4"]
    for r in rows:
        assert r["alpha"] == pytest.approx(1.0, abs=1e-9)
    for step in (2, 3):
        opt.zero_grad()
        ((m(x) - 1.0) ** 2).sum().backward()
        opt.step()
        tr.log(step)
    tr.write_csv(tmp_path / "align.csv")
    back = read_csv(tmp_path / "align.csv")
    assert list(back[0]) == list(FIELDS) and len(back) == 9
    plot_alignment(tr.rows, tmp_path / "align.png")
    assert (tmp_path / "align.png").stat().st_size > 10_000


def test_cli_alignment(tmp_path, capsys):
    import json


    out = tmp_path / "a.csv"
    code, stdout, _ = run_cli(["alignment", "--width", "64", "--steps", "4", "--every", "2", "--out", str(out),
                               "--json"], capsys)
    assert code == 0
    obj = json.loads(stdout)
    assert len(read_csv(out)) == 6 and (tmp_path / "a.png").exists()  # 3 layers x steps {2, 4}
    hidden = next(r for r in obj["final"] if r["layer"] == "2")
    assert 0.4 < hidden["alpha"] < 1.05 and 0.4 < hidden["omega"] < 1.05
