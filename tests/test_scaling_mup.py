"""Cross-check against microsoft/mup (set_base_shapes + MuAdam).

Documented equivalence (docs/scaling.md): mup puts the readout's 1/m multiplier in MuReadout and
keeps vector-like parameters' multiplier at 1, while our muP uses a = (-1/2, 0, 1/2); the two
are related by the per-layer Adam symmetry (a, b, c) -> (a + theta, b - theta, c - theta), so the
*effective* weights m^{-a} w and the *effective* Adam step m^{-a} lr agree parameter by parameter,
and so does training (with eps -> 0, which the symmetry does not move in mup).
"""

import pytest
import torch

from infwidth.scaling.models import TinyTransformer, lm_loss, mlp
from infwidth.scaling.module import multipliers, param_groups, scale_model
from infwidth.scaling.roles import canonical_name

mup = pytest.importorskip("mup")


def _mup_multipliers(model):
    out = {}
    for mname, mod in model.named_modules():
        for pname, _ in mod.named_parameters(recurse=False):
            is_w = isinstance(mod, mup.MuReadout) and pname == "weight"
            out[f"{mname}.{pname}" if mname else pname] = mod.output_mult / mod.width_mult() if is_w else 1.0
    return out


def _effective(model, mults, groups):
    """name -> (effective tensor m^{-a} w, effective Adam step size m^{-a} lr)."""
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    return {canonical_name(n): (p.detach() * mults[canonical_name(n)], lr_of[id(p)] * mults[canonical_name(n)])
            for n, p in model.named_parameters()}


def _pair(build, base_build, seed=0):
    torch.manual_seed(seed)
    ours = build(torch.nn.Linear).double()
    table = scale_model(ours, base_build(torch.nn.Linear), "mup", "adam")
    torch.manual_seed(seed)
    theirs = build(mup.MuReadout).double()
    mup.set_base_shapes(theirs, base_build(mup.MuReadout))
    return ours, table, theirs


def _compare(ours, table, theirs, loss_fn, steps=4):
    lr = 1e-2
    g_ours = param_groups(ours, table, lr=lr, eps=1e-30)
    opt_theirs = mup.MuAdam(theirs.parameters(), lr=lr, eps=1e-30)
    eff_o = _effective(ours, multipliers(ours), g_ours)
    eff_t = _effective(theirs, _mup_multipliers(theirs), opt_theirs.param_groups)
    assert eff_o.keys() == eff_t.keys()
    for name in eff_o:
        assert torch.allclose(eff_o[name][0], eff_t[name][0], rtol=1e-12), name  # same init scale
        assert eff_o[name][1] == pytest.approx(eff_t[name][1], rel=1e-12), name  # same effective LR
    opt_ours = torch.optim.Adam(g_ours)
    for _ in range(steps):
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            opt.zero_grad()
            loss_fn(model).backward()
            opt.step()
    return float(loss_fn(ours).detach()), float(loss_fn(theirs).detach())


def test_mlp_matches_mup():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 8, generator=g, dtype=torch.float64), torch.randn(16, 4, generator=g, dtype=torch.float64)
    ours, table, theirs = _pair(lambda r: mlp(256, depth=3, readout_cls=r), lambda r: mlp(32, depth=3, readout_cls=r))
    lo, lt = _compare(ours, table, theirs, lambda m: ((m(x) - y) ** 2).mean())
    assert lo == pytest.approx(lt, rel=1e-9)


def test_transformer_matches_mup():
    idx = torch.randint(0, 64, (4, 17), generator=torch.Generator().manual_seed(2))
    ours, table, theirs = _pair(lambda r: TinyTransformer(64, readout_cls=r),
                                lambda r: TinyTransformer(32, readout_cls=r))
    lo, lt = _compare(ours, table, theirs, lambda m: lm_loss(m, idx))
    assert lo == pytest.approx(lt, rel=1e-9)
