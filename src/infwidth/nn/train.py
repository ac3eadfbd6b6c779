"""Train a finite network by a :class:`~infwidth.arch.Routine` (the finite-width reading of a routine).

``train(net, routine)`` runs minibatch SGD (``AbcMLP.sgd_step``, learning rate eta n^{-c}) on the
routine's batches in the routine's order and records the same quantities as the limits report, so
finite widths and limits can be compared array by array.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from infwidth.arch import Routine
from infwidth.nn.mlp import AbcMLP


@dataclass
class Trajectory:
    """One training run: ``f`` (T, B, d_out) logits on each step's batch before its update, ``loss`` (T,)
    batch losses, ``f_eval`` (len(eval_steps), E, d_out) logits on the eval inputs after ``eval_steps``."""

    f: np.ndarray
    loss: np.ndarray
    eval_steps: list[int] = field(default_factory=list)
    f_eval: np.ndarray | None = None


def _targets(routine: Routine, idx: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    y = routine.targets[idx]
    if routine.loss == "xent":
        return torch.as_tensor(y, dtype=torch.long)
    return torch.as_tensor(y, dtype=dtype)


def train(net: AbcMLP, routine: Routine) -> Trajectory:
    """SGD on ``net`` by ``routine`` (in place); returns the :class:`Trajectory`."""
    routine.check(net.spec)
    dtype = net.weights[0].dtype
    device = net.weights[0].device
    X = torch.as_tensor(routine.inputs, dtype=dtype, device=device)
    E = None if routine.eval_inputs is None else torch.as_tensor(routine.eval_inputs, dtype=dtype, device=device)
    eval_steps = routine.eval_steps()
    fs, losses, evals = [], [], []
    batches = routine.batches()
    for t in range(routine.n_steps + 1):
        if t in eval_steps and E is not None:
            with torch.no_grad():
                evals.append(net(E).double().cpu().numpy())
        if t == routine.n_steps:
            break
        idx = batches[t]
        x = X[torch.as_tensor(idx, device=device)]
        with torch.no_grad():
            fs.append(net(x).double().cpu().numpy())
        losses.append(net.sgd_step(x, _targets(routine, idx, dtype).to(device), routine.lr, loss=routine.loss))
    return Trajectory(np.array(fs), np.array(losses), eval_steps, np.array(evals) if evals else None)
