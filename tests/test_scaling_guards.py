"""Each guard raises one clear InfwidthError naming the parameter (or module, or pattern)."""

import copy
import io

import pytest
import torch
from torch import nn

import zoo
from infwidth.errors import InfwidthError
from infwidth.scaling import apply, param_groups, plan, scale_model
from infwidth.scaling.models import TinyTransformer, mlp


def test_scaling_twice_is_an_error():
    m = mlp(64)
    t = scale_model(m, mlp(16))
    with pytest.raises(InfwidthError, match="scaled already"):
        scale_model(m, mlp(16))
    with pytest.raises(InfwidthError, match="scaled already"):
        apply(m, t)
    apply(m, t, rescale_init=False)  # re-installing the wrappers is allowed (idempotent)
    with pytest.raises(InfwidthError, match=r"module '4' already carries an infwidth wrapper"):
        scale_model(copy.deepcopy(m), mlp(16))  # a copy is recognized by its wrapper
    buf = io.BytesIO()
    torch.save(m, buf)
    buf.seek(0)
    with pytest.raises(InfwidthError, match="scaled already"):
        scale_model(torch.load(buf, weights_only=False), mlp(16))


def test_table_from_another_width_pair():
    t = plan(mlp(256), mlp(32))
    with pytest.raises(InfwidthError, match=r"parameter '0.weight' has shape \(512, 8\).*another width pair"):
        apply(mlp(512), t)


def test_name_collision_after_stripping_wrappers():
    m = nn.ModuleDict({"module": nn.ModuleDict({"fc": nn.Linear(4, 4)}), "fc": nn.Linear(4, 4)})
    with pytest.raises(InfwidthError, match=r"'module.fc.weight' and 'fc.weight' both become 'fc.weight'"):
        plan(m, copy.deepcopy(m))


def test_override_that_matches_nothing():
    with pytest.raises(InfwidthError, match=r"override 'blocks\.\*\.ln_9' matches no parameter"):
        plan(TinyTransformer(64), TinyTransformer(32), overrides={"blocks.*.ln_9": "fixed"})
    with pytest.raises(InfwidthError, match="role must be one of"):
        plan(mlp(32), mlp(16), overrides={"*": "output"})


def test_base_of_another_architecture():
    with pytest.raises(InfwidthError, match=r"parameter '6.weight' is missing from the base model"):
        plan(mlp(32, depth=3), mlp(16, depth=2))
    with pytest.raises(InfwidthError, match=r"parameter '6.weight' of the base model is not in the model"):
        plan(mlp(32, depth=2), mlp(16, depth=3))
    conv = nn.Sequential(nn.Conv1d(8, 32, 1))
    with pytest.raises(InfwidthError, match=r"parameter '0.weight' has shape \(32, 8, 1\) but \(16, 8\)"):
        plan(conv, nn.Sequential(nn.Linear(8, 16)))
    untied = zoo.nanogpt(32)
    untied.lm_head.weight = nn.Parameter(untied.lm_head.weight.detach().clone())
    with pytest.raises(InfwidthError, match=r"'lm_head.weight' is tied to 'transformer.wte.weight' in the model"):
        plan(zoo.nanogpt(64), untied)
    with pytest.raises(InfwidthError, match=r"'lm_head.weight' is a tensor of its own in the model but tied"):
        plan(untied, zoo.nanogpt(16))


def test_tied_readout_in_gauges_that_cannot_express_it():
    with pytest.raises(InfwidthError, match=r"tied to the readout 'lm_head.weight': gauge='absorbed'"):
        plan(zoo.nanogpt(64), zoo.nanogpt(32), gauge="absorbed")
    with pytest.raises(InfwidthError, match=r"tied to the readout 'lm_head.weight': gauge='multipliers'"):
        plan(zoo.nanogpt(64), zoo.nanogpt(32), gauge="multipliers")
    with pytest.raises(InfwidthError, match=r"needs learning-rate exponents 0 \(embedding side\) and 1/2"):
        plan(zoo.nanogpt(64), zoo.nanogpt(32), "sp", "adam")  # SP's derived rates differ on the two sides
    with pytest.raises(InfwidthError, match="readout_zero_init would zero the embedding"):
        plan(zoo.nanogpt(64), zoo.nanogpt(32), readout_zero_init=True)
    assert plan(zoo.nanogpt(64), zoo.nanogpt(32), "mf", "sgd").parametrization == "mfp"  # MF (canonical mfp) ties fine


def test_options_and_attention_guards():
    with pytest.raises(InfwidthError, match="unknown gauge"):
        plan(mlp(32), mlp(16), gauge="fancy")
    with pytest.raises(InfwidthError, match="output_mult must be a positive finite number"):
        plan(mlp(32), mlp(16), output_mult=float("nan"))
    with pytest.raises(InfwidthError, match="attention='1/d' found no attention"):
        plan(mlp(32), mlp(16), attention="1/d")
    with pytest.raises(InfwidthError, match=r"module 'transformer.h.0' calls scaled_dot_product_attention"):
        plan(zoo.nanogpt(64, heads=2), zoo.nanogpt(32, heads=2), attention="1/d")
    with pytest.raises(InfwidthError, match="unknown attention scale"):
        plan(mlp(32), mlp(16), attention="1/d2")
    no_readout = nn.Sequential(nn.Linear(3, 32), nn.Linear(32, 32))
    with pytest.raises(InfwidthError, match="output_mult needs a readout"):
        plan(no_readout, nn.Sequential(nn.Linear(3, 16), nn.Linear(16, 16)), output_mult=2.0)


def test_param_groups_needs_every_parameter():
    t = plan(mlp(32, depth=2), mlp(16, depth=2))
    with pytest.raises(InfwidthError, match=r"parameter '6.weight' is not in the scaling table"):
        param_groups(mlp(32, depth=3), t, lr=1e-3)
