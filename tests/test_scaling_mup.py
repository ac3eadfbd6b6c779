"""Cross-check against microsoft/mup (set_base_shapes + MuAdam, MuReadout / MuSharedReadout).

Documented equivalence (docs/scaling.md): our default gauge is mup's (only the readout carries a
multiplier, 1/m, on its input; embeddings and vectors keep their learning rate; hidden weights get
lr/m). So on the same stored tensors the effective weights m^{-a} w and the effective Adam steps
m^{-a} lr agree parameter by parameter (tied aliases included), and so does training (eps -> 0,
which mup does not rescale). Initialization differs by design: ours derives each tensor's target
RMS from the base model's own tensor, mup multiplies by powers of the width assuming PyTorch's
default init; on models with that init the two agree within the sampling error of the base draws.
"""

import math

import pytest
import torch
from torch import nn

import zoo
from infwidth.scaling.models import TinyTransformer, lm_loss, mlp, rms
from infwidth.scaling.module import multipliers, param_groups, scale_model

mup = pytest.importorskip("mup")
LR = 1e-2


def _mup_multipliers(model):
    """Holder name -> mup's forward multiplier (MuReadout / MuSharedReadout weights: output_mult / width_mult)."""
    out = {}
    for mname, mod in model.named_modules(remove_duplicate=False):
        for pname, _ in mod.named_parameters(recurse=False):
            is_w = isinstance(mod, mup.MuReadout) and pname == "weight"
            out[f"{mname}.{pname}" if mname else pname] = mod.output_mult / mod.width_mult() if is_w else 1.0
    return out


def _effective(model, mults, groups):
    """holder name -> (effective tensor m^{-a} w, effective Adam step size m^{-a} lr), tied aliases included."""
    lr_of = {id(p): g["lr"] for g in groups for p in g["params"]}
    out = {}
    for mname, mod in model.named_modules(remove_duplicate=False):
        for pname, p in mod.named_parameters(recurse=False):
            name = f"{mname}.{pname}" if mname else pname
            out[name] = (p.detach() * mults[name], lr_of[id(p)] * mults[name])
    return out


def _train(model, opt, loss_fn, steps=4):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model).backward()
        opt.step()
    return float(loss_fn(model).detach())


def _compare_same_tensors(ours, table, theirs, loss_fn):
    """Load our stored tensors into mup's model; effective weights, steps and training must agree."""
    theirs.load_state_dict(ours.state_dict())
    g_ours = param_groups(ours, table, lr=LR, eps=1e-30)
    opt_theirs = mup.MuAdam(theirs.parameters(), lr=LR, eps=1e-30)
    eff_o = _effective(ours, multipliers(ours), g_ours)
    eff_t = _effective(theirs, _mup_multipliers(theirs), opt_theirs.param_groups)
    assert eff_o.keys() == eff_t.keys()
    for name in eff_o:
        assert torch.allclose(eff_o[name][0], eff_t[name][0], rtol=1e-12, atol=0), name
        assert eff_o[name][1] == pytest.approx(eff_t[name][1], rel=1e-12), name
    l0 = float(loss_fn(ours).detach())
    lo = _train(ours, torch.optim.Adam(g_ours), loss_fn)
    lt = _train(theirs, opt_theirs, loss_fn)
    assert lo == pytest.approx(lt, rel=1e-9) and abs(lo - l0) > 1e-3  # trained, and identically


def _pair(build, base_build, seed=0):
    torch.manual_seed(seed)
    ours = build(nn.Linear).double()
    table = scale_model(ours, base_build(nn.Linear).double(), "mup", "adam")
    torch.manual_seed(seed)
    theirs = build(mup.MuReadout).double()
    mup.set_base_shapes(theirs, base_build(mup.MuReadout))
    return ours, table, theirs


def _init_agrees(ours, theirs, table):
    """Effective RMS of every tensor: ours (from the base's draws) vs mup's (PyTorch default init x width
    powers), within 6 standard errors of the two samples' RMS (sd of log RMS ~ sqrt(0.2 / N), uniform draws)."""
    mo, mt = multipliers(ours), _mup_multipliers(theirs)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        s = table[name]
        ro, rt = rms(p * mo[name]), rms(tp[name] * mt[name])
        if rt == 0.0:
            assert ro == 0.0, name
            continue
        n_base, n = math.prod(s.base_shape), p.numel()
        tol = 6 * math.sqrt(0.2 / n_base + 0.2 / n)
        assert abs(math.log(ro / rt)) < tol, (name, ro, rt, tol)


def test_mlp_matches_mup():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(16, 8, generator=g, dtype=torch.float64), torch.randn(16, 4, generator=g, dtype=torch.float64)
    ours, table, theirs = _pair(lambda r: mlp(256, depth=3, readout_cls=r), lambda r: mlp(32, depth=3, readout_cls=r))
    _init_agrees(ours, theirs, table)
    _compare_same_tensors(ours, table, theirs, lambda m: ((m(x) - y) ** 2).mean())


def test_transformer_matches_mup():
    idx = torch.randint(0, 64, (4, 17), generator=torch.Generator().manual_seed(2))
    ours, table, theirs = _pair(lambda r: TinyTransformer(64, readout_cls=r),
                                lambda r: TinyTransformer(32, readout_cls=r))
    _init_agrees(ours, theirs, table)
    _compare_same_tensors(ours, table, theirs, lambda m: lm_loss(m, idx))


def _hf_readout_swap(model, attr, shared=False):
    """Replace a Hugging Face model's head by mup's readout (the model code is not ours to edit)."""
    head = getattr(model, attr)
    if shared:
        setattr(model, attr, mup.MuSharedReadout(model.transformer.wte.weight, bias=False))
    else:
        new = mup.MuReadout(head.in_features, head.out_features, bias=head.bias is not None)
        setattr(model, attr, new.to(head.weight.dtype))
    return model


@pytest.mark.parametrize("name,attr,shared", [("hf_gpt2", "lm_head", True), ("hf_llama", "lm_head", False),
                                              ("hf_bert", "classifier", False)])
def test_hugging_face_models_match_mup(name, attr, shared):
    """GPT-2 (tied: MuSharedReadout), Llama and BERT (MuReadout) at their own init, same stored tensors."""
    factory = zoo.FACTORIES[name]
    torch.manual_seed(0)
    ours = factory(64).double()
    table = scale_model(ours, factory(32).double(), "mup", "adam")
    theirs = _hf_readout_swap(factory(64).double(), attr, shared)
    mup.set_base_shapes(theirs, _hf_readout_swap(factory(32), attr, shared), rescale_params=False)
    if shared:
        assert theirs.lm_head.weight is theirs.transformer.wte.weight
        assert multipliers(ours)["lm_head.weight"] == pytest.approx(0.5)  # the readout side of the tied tensor
    b = zoo.batch(name, 4, seed=3)
    _compare_same_tensors(ours, table, theirs, lambda m: zoo.loss(name, m, b))
