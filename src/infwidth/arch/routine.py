"""A training routine: data, loss, learning rate, batch size, steps and data order (TP4 Section 3).

The same :class:`Routine` drives the finite network, the Tensor Program and kernel gradient descent,
so all readings see the same batches in the same order (:meth:`Routine.batches`).

Losses (batch means, chi = dLoss/df = L'(f, y) / B): "mse" = 1/2 sum_k (f_k - y_k)^2, "logistic" =
log(1 + exp(-y f)) with y = +-1 (d_out = 1), "xent" = softmax cross-entropy with y the class index
(d_out = number of classes >= 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError

LOSSES = ("mse", "logistic", "xent")
ORDERS = ("sequential", "shuffle")


def _finite_2d(x: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise InfwidthError(f"{name} must be an array of numbers, got {type(x).__name__}.") from None
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0:
        raise InfwidthError(f"{name} must be a non-empty (N, d) array (flatten each example), got shape {a.shape}.")
    if not np.all(np.isfinite(a)):
        raise InfwidthError(f"{name} contains NaN or infinite values.")
    return a


@dataclass(frozen=True, eq=False)
class Routine:
    """SGD on a data set (module docstring).

    Args:
        inputs: (N, d_in) training inputs (1-D: d_in = 1).
        targets: (N, d_out) or (N,) for mse/logistic; (N,) class indices 0..d_out-1 for xent.
        loss: "mse", "logistic" or "xent".
        lr: the width-independent learning rate eta (the network uses eta n^{-c}).
        batch_size: examples per step B (1 <= B <= N).
        steps: number of SGD steps T (default: one pass, N // B).
        order: "sequential" (step t uses examples tB..tB+B-1, cycling) or "shuffle" (a fresh permutation
            of the N examples per epoch, drawn from ``seed``; batches may straddle epochs).
        seed: seed of the shuffled order.
        eval_inputs: optional (E, d_in) inputs at which the function is reported every ``eval_every`` steps
            (and after the last step).
        eval_every: period of those evaluations.
    """

    inputs: Any
    targets: Any
    loss: str = "mse"
    lr: float = 1.0
    batch_size: int = 1
    steps: int | None = None
    order: str = "sequential"
    seed: int = 0
    eval_inputs: Any = None
    eval_every: int = 1

    def __post_init__(self) -> None:
        X = _finite_2d(self.inputs, "inputs")
        object.__setattr__(self, "inputs", X)
        N = X.shape[0]
        if self.loss not in LOSSES:
            raise InfwidthError(f"unknown loss {self.loss!r}; choose one of: {', '.join(LOSSES)}.")
        object.__setattr__(self, "targets", self._targets(N))
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise InfwidthError(f"the learning rate must be a finite number > 0, got {self.lr!r}.")
        B = self.batch_size
        if isinstance(B, bool) or not isinstance(B, (int, np.integer)) or not 1 <= B <= N:
            raise InfwidthError(f"the batch size must be an integer in 1..{N} (the number of examples), got {B!r}.")
        steps = N // int(B) if self.steps is None else self.steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise InfwidthError(f"steps must be an integer >= 1, got {self.steps!r}.")
        object.__setattr__(self, "steps", int(steps))
        if self.order not in ORDERS:
            raise InfwidthError(f"unknown data order {self.order!r}; choose one of: {', '.join(ORDERS)}.")
        if self.eval_inputs is not None:
            E = _finite_2d(self.eval_inputs, "eval_inputs")
            if E.shape[1] != X.shape[1]:
                raise InfwidthError(f"eval_inputs have {E.shape[1]} features but inputs have {X.shape[1]}.")
            object.__setattr__(self, "eval_inputs", E)
        if isinstance(self.eval_every, bool) or not isinstance(self.eval_every, (int, np.integer)) \
                or self.eval_every < 1:
            raise InfwidthError(f"eval_every must be an integer >= 1, got {self.eval_every!r}.")

    def _targets(self, N: int) -> np.ndarray:
        y = np.asarray(self.targets)
        if y.ndim == 0 or y.shape[0] != N:
            raise InfwidthError(f"targets must have one row per input ({N}), got shape {y.shape}.")
        if self.loss == "xent":
            yi = y.reshape(N, -1)
            if yi.shape[1] != 1 or not np.all(np.isfinite(yi.astype(np.float64))) \
                    or np.any(yi != np.round(yi)) or np.any(yi < 0):
                raise InfwidthError("xent needs one class index 0, 1, ... per input as targets.")
            return yi.reshape(N).astype(np.int64)
        yf = _finite_2d(y, "targets")
        if self.loss == "logistic" and (yf.shape[1] != 1 or np.any(np.abs(yf) != 1.0)):
            raise InfwidthError("the logistic loss needs one target in {+1, -1} per input.")
        return yf

    @property
    def n_examples(self) -> int:
        """N, the number of training examples."""
        return int(self.inputs.shape[0])

    @property
    def n_steps(self) -> int:
        """T, the number of SGD steps (``steps`` resolved)."""
        assert self.steps is not None
        return int(self.steps)

    def batches(self) -> np.ndarray:
        """(T, B) integer indices of the examples each step uses, in order."""
        N, B, T = self.n_examples, int(self.batch_size), self.n_steps
        need = T * B
        if self.order == "sequential":
            stream = np.arange(need) % N
        else:
            rng = np.random.default_rng(self.seed)
            stream = np.concatenate([rng.permutation(N) for _ in range(-(-need // N))])[:need]
        return stream.reshape(T, B)

    def eval_steps(self) -> list[int]:
        """Steps t (0..T, t updates done) at which the eval inputs are reported; [] without eval inputs."""
        if self.eval_inputs is None:
            return []
        T = self.n_steps
        steps = list(range(0, T + 1, int(self.eval_every)))
        return steps if steps[-1] == T else [*steps, T]

    def check(self, spec: Any) -> None:
        """Raise InfwidthError unless the data fit the spec (input dimension, outputs, classes)."""
        if self.inputs.shape[1] != spec.d_in:
            raise InfwidthError(f"inputs have {self.inputs.shape[1]} features but the spec has d_in = {spec.d_in}.")
        if self.loss == "xent":
            if spec.d_out < 2:
                raise InfwidthError("softmax cross-entropy needs d_out >= 2 outputs (one per class).")
            if int(self.targets.max()) >= spec.d_out:
                raise InfwidthError(f"class index {int(self.targets.max())} is out of range for d_out = {spec.d_out} "
                                    "outputs.")
        elif self.targets.shape[1] != spec.d_out:
            raise InfwidthError(f"targets have {self.targets.shape[1]} columns but the spec has d_out = {spec.d_out}.")

    def loss_chi(self, f: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch loss, chi) for outputs f (..., B, d_out) on examples ``idx`` (B,): shapes (...,), (..., B, d_out).

        chi = dLoss/df of the batch-mean loss (the paper's L'(f, y) / B). Leading dimensions are
        independent samples (e.g. initializations).
        """
        B = f.shape[-2]
        y = self.targets[idx]
        if self.loss == "mse":
            r = f - y
            return 0.5 * (r * r).sum(-1).mean(-1), r / B
        if self.loss == "logistic":
            z = -y * f
            return np.logaddexp(0.0, z).sum(-1).mean(-1), -y / (1.0 + np.exp(-z)) / B
        m = f.max(-1, keepdims=True)
        lse = m[..., 0] + np.log(np.exp(f - m).sum(-1))
        p = np.exp(f - lse[..., None])
        onehot = np.eye(f.shape[-1])[y]
        return (lse - (f * onehot).sum(-1)).mean(-1), (p - onehot) / B
