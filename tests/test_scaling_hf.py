"""Hugging Face round trips of a scaled model: save_pretrained/from_pretrained, tie_weights,
resize_token_embeddings, the base built from model.config, 1/d attention, and the Trainer example."""

import importlib.util
import math
import pathlib

import pytest
import torch

import zoo
from infwidth.errors import InfwidthError
from infwidth.scaling import param_groups, scale_model
from infwidth.scaling.hf import CONFIG_KEY, base_config, restore_scaling, scale_hf
from infwidth.scaling.module import multipliers

transformers = pytest.importorskip("transformers")
CLASSES = {"hf_gpt2": "GPT2LMHeadModel", "hf_llama": "LlamaForCausalLM", "hf_bert": "BertForSequenceClassification"}


def _train(name, model, table, steps=2, lr=1e-2):
    opt = torch.optim.AdamW(param_groups(model, table, lr=lr, eps=1e-8, weight_decay=0.1))
    b = zoo.batch(name, 4, seed=1)
    for _ in range(steps):
        opt.zero_grad()
        zoo.loss(name, model, b).backward()
        opt.step()
    return zoo.logits(model, b["inputs"]).detach()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_save_pretrained_round_trip(name, tmp_path):
    """Same state_dict keys as the plain model; reload + restore_scaling gives identical logits, and
    training the reloaded model equals training the original (fresh optimizers on both)."""
    torch.manual_seed(0)
    plain_keys = list(zoo.FACTORIES[name](64).state_dict())
    torch.manual_seed(0)
    model = zoo.FACTORIES[name](64)
    table = scale_hf(model, 32)
    assert list(model.state_dict()) == plain_keys
    _train(name, model, table)  # a trained, scaled model
    model.save_pretrained(tmp_path)
    loaded = getattr(transformers, CLASSES[name]).from_pretrained(tmp_path)
    b = zoo.batch(name, 4, seed=2)
    assert hasattr(loaded.config, CONFIG_KEY)
    assert restore_scaling(loaded) == table
    for m in (model, loaded):
        m.eval()
    assert torch.equal(zoo.logits(model, b["inputs"]), zoo.logits(loaded, b["inputs"]))
    assert multipliers(loaded) == multipliers(model)
    for m in (model, loaded):
        m.train()
    assert torch.allclose(_train(name, model, table), _train(name, loaded, table), rtol=0, atol=1e-6)


def test_tie_weights_and_resize_tied_gpt2():
    torch.manual_seed(0)
    model = zoo.hf_gpt2(64)
    table = scale_hf(model, 32)
    x = zoo.batch("hf_gpt2", 2)["inputs"]
    y = zoo.logits(model, x)
    model.tie_weights()
    assert model.lm_head.weight is model.transformer.wte.weight
    assert torch.equal(zoo.logits(model, x), y)
    model.resize_token_embeddings(zoo.VOCAB + 8)
    assert model.lm_head.weight is model.transformer.wte.weight
    assert multipliers(model)["lm_head.weight"] == pytest.approx(0.5)  # the wrapper stayed on lm_head
    assert zoo.logits(model, x).shape[-1] == zoo.VOCAB + 8
    assert param_groups(model, table, lr=1e-3)  # the vocabulary is not a width dim: the table still fits


def test_resize_untied_llama_needs_restore():
    """Llama's resize_token_embeddings builds a new lm_head module: param_groups notices the lost
    multiplier, and restore_scaling puts it back."""
    torch.manual_seed(0)
    model = zoo.hf_llama(64)
    table = scale_hf(model, 32)
    model.resize_token_embeddings(zoo.VOCAB + 8)
    with pytest.raises(InfwidthError, match="lost its infwidth wrapper"):
        param_groups(model, table, lr=1e-3)
    restore_scaling(model)
    assert multipliers(model)["lm_head.weight"] == pytest.approx(0.5)
    assert len(param_groups(model, table, lr=1e-3)) > 1


def test_base_config_scales_width_fields():
    cfg = zoo.hf_llama(128, heads=4).config
    b = base_config(cfg, 32)  # fixed head size: heads scale
    assert (b.hidden_size, b.intermediate_size, b.num_attention_heads, b.num_key_value_heads, b.head_dim) == \
        (32, 64, 1, 1, 32)
    h = base_config(cfg, 32, fixed="heads")
    assert (h.hidden_size, h.num_attention_heads, h.head_dim) == (32, 4, 8)
    g = base_config(zoo.hf_gpt2(256).config, 64)
    assert (g.n_embd, g.n_head, g.n_inner) == (64, 4, None)
    with pytest.raises(InfwidthError, match="does not scale to an integer"):
        base_config(zoo.hf_gpt2(256).config, 40)  # 16 heads x 40/256 is not an integer
    with pytest.raises(InfwidthError, match="fixed must be"):
        base_config(cfg, 32, fixed="width")


def test_attention_one_over_d_on_hf_modules(tmp_path):
    """heads fixed, head size 16 -> 64: HF attention modules get scaling = sqrt(d_base) / d, restored after reload."""
    torch.manual_seed(0)
    model = zoo.hf_gpt2(128, heads=2)
    with pytest.warns(UserWarning, match="muP needs 1/d"):
        scale_model(zoo.hf_gpt2(128, heads=2), zoo.hf_gpt2(32, heads=2))
    scale_hf(model, 32, fixed="heads", attention="1/d")
    attn = model.transformer.h[0].attn
    assert attn.head_dim == 64 and attn.scaling == pytest.approx(math.sqrt(16) / 64)
    model.save_pretrained(tmp_path)
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path)
    assert loaded.transformer.h[0].attn.scaling == pytest.approx(64 ** -0.5)  # HF's own value on load
    restore_scaling(loaded)
    assert loaded.transformer.h[1].attn.scaling == pytest.approx(math.sqrt(16) / 64)
    bert = zoo.hf_bert(128, heads=2)
    scale_model(bert, zoo.hf_bert(32, heads=2), attention="1/d")
    assert bert.bert.encoder.layer[0].attention.self.scaling == pytest.approx(4 / 64)


def test_restore_needs_a_saved_table():
    with pytest.raises(InfwidthError, match="has no 'infwidth_scaling'"):
        restore_scaling(zoo.hf_gpt2(32))


def test_trainer_example_trains_with_our_groups(tmp_path):
    """examples/hf_trainer.py: the HF Trainer with optimizers=(opt, sched) from param_groups."""
    path = pathlib.Path(__file__).resolve().parents[1] / "examples" / "hf_trainer.py"
    spec = importlib.util.spec_from_file_location("hf_trainer_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pytest.importorskip("accelerate")
    out = mod.main(["--width", "64", "--base-width", "32", "--layers", "1", "--steps", "6", "--batch", "4",
                    "--out", str(tmp_path), "--save"])
    lrs = sorted({g["initial_lr"] for g in out["optimizer"].param_groups})
    assert lrs == pytest.approx([1.5e-3, 3e-3])  # hidden: lr x 32/64; embeddings, vectors, tied head: lr
    assert out["losses"][-1] < out["losses"][0]
    loaded = transformers.GPT2LMHeadModel.from_pretrained(tmp_path)
    assert restore_scaling(loaded).parametrization == "mup"
