"""Train a Hugging Face GPT-2 in muP with the Hugging Face Trainer, using infwidth's parameter groups.

    python examples/hf_trainer.py --width 256 --base-width 64 --steps 50 --out runs/hf_trainer

One call scales the model against its own config at the base width (``infwidth.scaling.hf.scale_hf``);
``param_groups`` gives the per-layer learning rates (hidden weights lr * base/width, embeddings and the
tied head lr), and the Trainer takes the optimizer and schedule as ``optimizers=(opt, sched)``. The data
are random token sequences (no download), so the loss falls towards the entropy of the token distribution.
The run's config.json (``--save``) carries the scaling table: ``restore_scaling`` after ``from_pretrained``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset


class RandomTokens(Dataset):
    """Sequences from a fixed random bigram chain over ``vocab`` tokens (learnable, seeded)."""

    def __init__(self, n: int, ctx: int, vocab: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        succ = torch.randint(0, vocab, (vocab, 4), generator=g)
        seqs = torch.empty(n, ctx, dtype=torch.long)
        seqs[:, 0] = torch.randint(0, vocab, (n,), generator=g)
        for t in range(1, ctx):
            seqs[:, t] = succ[seqs[:, t - 1], torch.randint(0, 4, (n,), generator=g)]
        self.seqs = seqs

    def __len__(self) -> int:
        return len(self.seqs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.seqs[i], "labels": self.seqs[i]}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    from transformers import GPT2Config, GPT2LMHeadModel, Trainer, TrainingArguments, get_linear_schedule_with_warmup

    from infwidth.scaling import param_groups
    from infwidth.scaling.hf import scale_hf

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width", type=int, default=256)
    ap.add_argument("--base-width", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--lr", type=float, default=3e-3, help="the learning rate tuned at the base width")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--out", default="runs/hf_trainer")
    ap.add_argument("--save", action="store_true", help="save_pretrained the trained model into --out")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=64, n_positions=32, n_embd=args.width, n_layer=args.layers,
                     n_head=max(1, args.width // 16), bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg)
    table = scale_hf(model, args.base_width, "mup", "adam")  # base built from model.config, one call
    opt = torch.optim.AdamW(param_groups(model, table, lr=args.lr, eps=1e-8, weight_decay=0.0))
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=max(1, args.steps // 10),
                                            num_training_steps=args.steps)
    targs = TrainingArguments(output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=args.batch,
                              logging_steps=max(1, args.steps // 5), save_strategy="no", report_to=[],
                              use_cpu=True, disable_tqdm=True, dataloader_num_workers=0)
    trainer = Trainer(model=model, args=targs, train_dataset=RandomTokens(256, 32, 64),
                      optimizers=(opt, sched))
    result = trainer.train()
    if args.save:
        model.save_pretrained(args.out)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    print(f"width {args.width} (base {args.base_width}): train loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
          f"{len(opt.param_groups)} parameter groups, learning rates "
          f"{sorted({g['initial_lr'] for g in opt.param_groups})}")
    return {"losses": losses, "train_loss": result.training_loss, "optimizer": trainer.optimizer, "model": model}


if __name__ == "__main__":
    main()
