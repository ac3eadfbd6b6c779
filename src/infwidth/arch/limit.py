"""The infinite-width limit of a training routine as data: :class:`TrainingLimit`.

What ``infwidth.limits.limit_of(spec, param, routine)`` returns, whatever the regime: the mean of lim f_t,
its spread over the limit's own randomness (the Gaussian-process f_0 of the kernel regime; zero in feature
learning, where the limit is deterministic) and the numerical standard error of the mean (particles or Monte
Carlo; zero when exact). The library prints nothing; ``TrainingLimit.to_json`` is what the CLI prints.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from infwidth.errors import InfwidthError


@dataclass
class TrainingLimit:
    """lim_{n -> infinity} of ``train(AbcMLP(spec, param, n), routine)``.

    Arrays (numpy float64): ``f``, ``f_std``, ``f_stderr`` (T, B, d_out) on each step's batch before its update;
    ``loss``, ``loss_stderr`` (T,) the expected batch loss; ``f_eval``, ``f_eval_std``, ``f_eval_stderr``
    (len(eval_steps), E, d_out) on the routine's eval inputs, or None.

    * ``f`` is E[lim f_t]; ``f_std`` the standard deviation of lim f_t over the limit's randomness (the
      Gaussian-process f_0 of the kernel regime; 0 when the limit is deterministic);
    * ``f_stderr`` is the numerical error of ``f`` (particles or Monte Carlo over f_0; 0 when exact).

    ``regime``: "feature learning" or "kernel"; ``method``: "linear", "polynomial", "particles" or "kernel";
    ``kernel``: the Eq. (9) kernel's name (kernel regime); ``samples``: optional (S, len(eval_steps), E, d_out)
    Monte Carlo draws of lim f on the eval inputs (kernel regime, random f_0, non-mse losses).
    """

    regime: str
    method: str
    f: np.ndarray
    f_std: np.ndarray
    f_stderr: np.ndarray
    loss: np.ndarray
    loss_stderr: np.ndarray
    eval_steps: list[int] = field(default_factory=list)
    f_eval: np.ndarray | None = None
    f_eval_std: np.ndarray | None = None
    f_eval_stderr: np.ndarray | None = None
    kernel: str | None = None
    f0_random: bool = False
    note: str = ""
    seconds: float = 0.0
    samples: np.ndarray | None = field(default=None, repr=False)

    def accuracy(self, targets: Any, step: int = -1) -> tuple[float, float]:
        """(expected accuracy, its numerical standard error) on the eval inputs after ``eval_steps[step]`` updates.

        ``targets``: (E,) class indices (d_out >= 2: argmax) or +-1 labels (d_out = 1: sign). With a random f_0
        the expectation is over f_0 (Monte Carlo draws, or the Gaussian marginals for mse, whose outputs are
        independent with equal variance); a deterministic limit gives the plain accuracy and stderr 0.
        """
        if self.f_eval is None or self.f_eval_std is None:
            raise InfwidthError("this limit has no eval inputs; give the routine eval_inputs.")
        y = np.asarray(targets)
        mean, std = self.f_eval[step], self.f_eval_std[step]
        if y.shape[0] != mean.shape[0]:
            raise InfwidthError(f"targets need one entry per eval input ({mean.shape[0]}), got {y.shape[0]}.")
        if self.samples is not None:
            hits = np.array([_correct(s[step], y) for s in self.samples])
            return float(hits.mean()), float(hits.std(ddof=1) / math.sqrt(len(hits)))
        if not np.any(std > 0):
            return float(_correct(mean, y)), 0.0
        draws = np.random.default_rng(0).standard_normal((4096, *mean.shape))
        hits = np.array([_correct(mean + std * g, y) for g in draws])
        return float(hits.mean()), float(hits.std(ddof=1) / math.sqrt(len(hits)))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (nested lists; NaN/inf become None)."""
        out: dict[str, Any] = {"regime": self.regime, "method": self.method, "kernel": self.kernel,
                               "f0_random": self.f0_random, "note": self.note, "seconds": self.seconds,
                               "eval_steps": list(self.eval_steps)}
        for key in ("f", "f_std", "f_stderr", "loss", "loss_stderr", "f_eval", "f_eval_std", "f_eval_stderr"):
            v = getattr(self, key)
            out[key] = None if v is None else _json_array(v)
        return out


def _correct(f: np.ndarray, y: np.ndarray) -> float:
    """Fraction of rows of f (E, d_out) that predict y (argmax, or the sign when d_out = 1)."""
    if f.shape[1] == 1:
        return float(np.mean(np.sign(f[:, 0]) == np.sign(y.reshape(-1))))
    return float(np.mean(np.argmax(f, axis=1) == y.reshape(-1).astype(np.int64)))


def _json_array(a: np.ndarray) -> Any:
    """Nested lists of floats with NaN/inf as None (strict JSON)."""
    return _none_for_nan(np.asarray(a, dtype=np.float64).tolist())


def _none_for_nan(x: Any) -> Any:
    if isinstance(x, list):
        return [_none_for_nan(v) for v in x]
    return None if isinstance(x, float) and not math.isfinite(x) else x
