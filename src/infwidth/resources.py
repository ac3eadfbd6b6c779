"""Resource estimates checked before a command allocates anything: refuse, in one sentence, a run whose
memory or time cannot fit, with the estimate and the limit.

An :class:`Estimate` is a peak-memory guess in bytes and a work guess in floating-point operations (an
upper-end, order-of-magnitude model of the algorithm: see each ``*_estimate`` function). :func:`check`
compares them with the limits:

* memory: the machine's physical memory, or ``$INFWIDTH_MEMORY_LIMIT_GB``;
* time: ``$INFWIDTH_TIME_LIMIT_H`` hours (default 48) at an assumed rate: ``FLOP_RATE`` (1e10 operations per
  second, a sustained rate of a few CPU cores) or ``GPU_FLOP_RATE`` (1e12) when the run's device is a GPU.

``force=True`` (the commands' ``--force``) skips the refusal: the user knows better (more memory coming,
a faster machine).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from infwidth.errors import InfwidthError

FLOP_RATE = 1e10
GPU_FLOP_RATE = 1e12
DEFAULT_TIME_LIMIT_H = 48.0
F64, F32 = 8, 4


@dataclass(frozen=True)
class Estimate:
    """Peak memory (bytes) and work (floating-point operations) of a run; ``what`` names the run."""

    what: str
    bytes: float = 0.0
    flops: float = 0.0

    def __add__(self, other: Estimate) -> Estimate:
        """Two phases run one after the other: the larger memory, the summed work."""
        return Estimate(self.what, max(self.bytes, other.bytes), self.flops + other.flops)

    def seconds(self, device: str | None = "cpu") -> float:
        """Estimated run time on ``device`` (cpu: ``FLOP_RATE``; cuda/mps: ``GPU_FLOP_RATE``)."""
        return self.flops / flop_rate(device)


def flop_rate(device: str | None) -> float:
    """The assumed sustained rate of ``device``: 1e12 operations per second on a GPU, 1e10 on CPU."""
    return GPU_FLOP_RATE if device is not None and device.split(":")[0] in ("cuda", "mps") else FLOP_RATE


def memory_limit() -> float:
    """Bytes a run may use: ``$INFWIDTH_MEMORY_LIMIT_GB`` GiB, else the machine's physical memory (not the
    memory free right now, which on a shared machine changes by the minute)."""
    env = os.environ.get("INFWIDTH_MEMORY_LIMIT_GB")
    if env:
        return float(env) * 2**30
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16.0 * 2**30


def time_limit() -> float:
    """Seconds a run may take: ``$INFWIDTH_TIME_LIMIT_H`` hours (default 48)."""
    return float(os.environ.get("INFWIDTH_TIME_LIMIT_H", DEFAULT_TIME_LIMIT_H)) * 3600.0


def fmt_bytes(n: float) -> str:
    """``3.2 GiB``, ``512 MiB``, ``14.6 TiB``."""
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float) -> str:
    """``40 s``, ``3.5 h``, ``12 days``, ``2e+05 years``."""
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    if s < 365 * 86400:
        return f"{s / 86400:.0f} days"
    return f"{s / (365 * 86400):.2g} years"


def check(est: Estimate, force: bool = False, hint: str = "use smaller sizes", device: str | None = "cpu") -> None:
    """Raise ``InfwidthError`` when ``est`` exceeds the memory or time limit (unless ``force``).

    The sentence gives the estimate, the limit, ``hint`` (how to shrink the run) and ``--force``; the time
    is estimated at the rate of ``device``.
    """
    if force:
        return
    mem = memory_limit()
    if est.bytes > mem:
        raise InfwidthError(f"{est.what} needs about {fmt_bytes(est.bytes)} of memory, more than the "
                            f"{fmt_bytes(mem)} of this machine; {hint} (or pass --force to try anyway).")
    if est.seconds(device) > time_limit():
        raise InfwidthError(f"{est.what} would take about {fmt_seconds(est.seconds(device))} ({est.flops:.1e} "
                            f"floating-point operations at ~{flop_rate(device):.0e}/s), over the "
                            f"{fmt_seconds(time_limit())} limit ($INFWIDTH_TIME_LIMIT_H); {hint} "
                            "(or pass --force).")


def mlp_training(what: str, widths: Iterable[int], depth: int, d_in: int, d_out: int, batch: int, steps: int,
                 runs: int = 1, bytes_per: int = F32, states: int = 4) -> Estimate:
    """Training ``runs`` dense MLPs (``d_in -> width x depth -> d_out``) per width for ``steps`` steps of
    ``batch`` examples. Memory: the largest width's parameters times ``states`` (weights, gradients,
    optimizer moments) plus activations; work: 6 flops per parameter per example (forward + backward)."""
    peak, flops = 0.0, 0.0
    for w in widths:
        params = float(d_in) * w + max(depth - 1, 0) * float(w) * w + float(w) * d_out
        peak = max(peak, params * states * bytes_per + float(batch) * w * (depth + 2) * bytes_per * 3)
        flops += 6.0 * params * batch * steps * runs
    return Estimate(what, peak, flops)


def particles(what: str, n_particles: int, depth: int, steps: int) -> Estimate:
    """The Tensor Programs particle backend (infwidth.limits.particles): O(N t) vectors of N float64
    (about 8 per layer and step) and O(N t^2) work (each new vector touches the earlier ones)."""
    vectors = 8.0 * (depth + 1) * (steps + 1)
    return Estimate(what, F64 * float(n_particles) * vectors, 20.0 * float(n_particles) * vectors**2)


def grid_points(what: str, points: float, flops_per_point: float, bytes_per_point: float = 64.0) -> Estimate:
    """A grid of independent evaluations (phase diagrams, LR grids)."""
    return Estimate(what, points * bytes_per_point, points * flops_per_point)

