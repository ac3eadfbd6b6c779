"""The side table under DistributedDataParallel and FSDP (use_orig_params=True): 2 CPU processes, gloo.

Each wrapper trains 3 Adam steps with ``param_groups(wrapped_model, table)`` on its half of a
batch; the result must equal one process training on the whole batch (gradients are averaged). Two
models: an MLP, and a nanoGPT with tied embeddings (the readout multiplier is a forward wrapper on
``lm_head``, the tied tensor one parameter of the wrapped model).
"""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import zoo
from infwidth.scaling.models import mlp
from infwidth.scaling.module import param_groups, scale_model

WORKER = textwrap.dedent('''
    import json, sys
    import torch, torch.distributed as dist, torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    sys.path.insert(0, sys.argv[3])
    from test_scaling_distributed import MODELS, train

    def worker(rank, init, out):
        dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
        res = {}
        for name, (make, data, loss) in MODELS.items():
            x, y = data()
            for kind in ("ddp", "fsdp"):
                m, t = make()
                w = DDP(m) if kind == "ddp" else FSDP(m, use_orig_params=True, device_id=torch.device("cpu"))
                lrs = train(w, t, x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4], loss)
                if kind == "fsdp":
                    with FSDP.summon_full_params(w):
                        f = w(x).detach().tolist()
                else:
                    f = w(x).detach().tolist()
                res[f"{name}-{kind}"] = {"lrs": lrs, "out": f, "names": [n for n, _ in w.named_parameters()]}
        if rank == 0:
            json.dump(res, open(out, "w"))
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(sys.argv[1], sys.argv[2]), nprocs=2, join=True)
''')


def make():
    torch.manual_seed(0)
    m = mlp(64, depth=2).double()
    return m, scale_model(m, mlp(16, depth=2), "mup", "adam")


def data():
    g = torch.Generator().manual_seed(5)
    return torch.randn(8, 8, generator=g, dtype=torch.float64), torch.randn(8, 4, generator=g, dtype=torch.float64)


def make_tied():
    torch.manual_seed(0)
    m = zoo.nanogpt(32, layers=1).double()
    return m, scale_model(m, zoo.nanogpt(16, layers=1).double(), "mup", "adam")


def tokens():
    ids = zoo.batch("nanogpt", 8, seed=5)["inputs"]
    return ids, ids


def mse(out, y):
    return ((out - y) ** 2).mean()


def next_token(out, ids):
    return nn.functional.cross_entropy(out[:, :-1].reshape(-1, out.shape[-1]), ids[:, 1:].reshape(-1))


MODELS = {"mlp": (make, data, mse), "nanogpt": (make_tied, tokens, next_token)}


def train(model, table, x, y, loss=mse, steps=3):
    opt = torch.optim.Adam(param_groups(model, table, lr=1e-2, eps=1e-10))
    for _ in range(steps):
        opt.zero_grad()
        loss(model(x), y).backward()
        opt.step()
    return sorted([g["role"], g["lr"]] for g in opt.param_groups)


@pytest.mark.slow
def test_ddp_and_fsdp_round_trip(tmp_path):
    import os

    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "out.json"
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, str(script), f"file://{tmp_path / 'init'}", str(out), here],
                   check=True, timeout=300, cwd=tmp_path)
    res = json.loads(out.read_text())
    for name, (make_model, make_data, loss) in MODELS.items():
        m, t = make_model()
        x, y = make_data()
        ref_lrs = train(m, t, x, y, loss)
        ref = m(x).detach()
        assert len({lr for _, lr in ref_lrs}) > 1  # several distinct per-layer learning rates
        for kind in ("ddp", "fsdp"):
            r = res[f"{name}-{kind}"]
            assert r["lrs"] == ref_lrs, (name, kind)
            assert torch.allclose(torch.tensor(r["out"], dtype=torch.float64), ref, rtol=1e-9, atol=1e-12), (name, kind)
        assert any(n.startswith("_fsdp_wrapped_module.") for n in res[f"{name}-fsdp"]["names"])
        assert any(n.startswith("module.") for n in res[f"{name}-ddp"]["names"])
