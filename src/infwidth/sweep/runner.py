"""Run a grid of trials on a local process pool (default) or a Ray cluster, resumably.

Finished trials (by key, see ``store.trial_key``) are skipped; every result is committed to the
store as soon as its trial returns, by the parent process only (one writer). Trials are checked before
any runs (a trial that should be rejected is never recorded). The local pool has at most
min(workers, trials, CPUs) processes, and each exits when the parent dies (even by SIGKILL).
"""

from __future__ import annotations

import itertools
import math
import os
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from infwidth.errors import InfwidthError
from infwidth.sweep.store import SweepStore, trial_key
from infwidth.sweep.trial import run_trial

TrialFn = Callable[[Mapping[str, Any]], dict[str, Any]]


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    """Cartesian product of the given axes, as a list of parameter dicts (axis order kept)."""
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*(axes[n] for n in names))]


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="trials", disable=not enabled)


_POSITIVE_INTS = ("width", "base_width", "steps", "batch")


def check_trial(params: Mapping[str, Any]) -> None:
    """Refuse a trial that must not be run or recorded: ``width``/``base_width``/``steps``/``batch`` must be
    positive integers, ``lr`` a positive finite number, ``seed`` a non-negative integer (when present)."""
    for key in _POSITIVE_INTS:
        v = params.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InfwidthError(f"trial {dict(params)}: {key} must be a positive integer, got {v!r}.")
    lr = params.get("lr")
    if lr is not None and (isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr)
                           or lr <= 0):
        raise InfwidthError(f"trial {dict(params)}: lr must be a positive finite number, got {lr!r}.")
    seed = params.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise InfwidthError(f"trial {dict(params)}: seed must be a non-negative integer, got {seed!r}.")


def pool_size(workers: int, trials: int) -> int:
    """Processes of the local pool: at most the trials to run and the CPUs this process may use."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(int(workers), int(trials), cpus))


def _die_with_parent(parent: int) -> None:
    """Pool initializer: exit when the parent process dies (SIGKILL included), instead of blocking forever.

    Linux: the kernel sends SIGKILL when the parent exits (prctl PR_SET_PDEATHSIG); everywhere: a daemon
    thread polls the parent pid once a second."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def run_sweep(trials: Sequence[Mapping[str, Any]], store: SweepStore, fn: TrialFn = run_trial,
              workers: int = 2, ray_address: str | None = None, progress: bool = True) -> int:
    """Run every trial not yet in ``store``; returns how many were run now.

    Inputs: trial parameter dicts (checked by :func:`check_trial` first), the store, the trial function
    (picklable, top-level), ``workers`` local processes (capped by :func:`pool_size`; 1 = in this process),
    or ``ray_address`` to use Ray instead.
    """
    for t in trials:
        check_trial(t)
    done = store.done()
    todo = [dict(t) for t in trials if trial_key(t) not in done]
    if not todo:
        return 0
    n = pool_size(workers, len(todo))
    bar = _progress(len(todo), progress)
    try:
        if ray_address is not None:
            _run_ray(todo, store, fn, ray_address, bar)
        elif n <= 1:
            for t in todo:
                store.put(t, fn(t))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=n, initializer=_die_with_parent, initargs=(os.getpid(),)) as pool:
                futures = {pool.submit(fn, t): t for t in todo}
                for fut in as_completed(futures):
                    store.put(futures[fut], fut.result())
                    bar.update()
    finally:
        bar.close()
    return len(todo)


def _run_ray(todo: list[dict[str, Any]], store: SweepStore, fn: TrialFn, address: str, bar: Any) -> None:
    """Trials as Ray tasks (retried by Ray when a worker dies); results stored as they arrive."""
    try:
        import ray  # optional extra: pip install "ray[default]"
    except ImportError:
        raise InfwidthError("--ray needs the optional dependency Ray; install it with `pip install ray` "
                            "or run without --ray to use the local process pool.") from None
    try:
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise InfwidthError(f"cannot connect to the Ray cluster at {address!r} ({e}); start one with "
                            "`ray start --head` or check the address.") from None
    remote = ray.remote(max_retries=3)(fn)
    pending = {remote.remote(t): t for t in todo}
    lost: list[str] = []
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            params = pending.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayTaskError:
                raise  # the trial itself raised: a bug, with its traceback
            except ray.exceptions.RayError as e:  # its workers died more often than Ray retries
                lost.append(f"{type(e).__name__}")
                continue
            store.put(params, result)
            bar.update()
    if lost:
        raise InfwidthError(f"{len(lost)} trial(s) failed on the Ray cluster ({lost[0]}); the other results are "
                            "stored: rerun the same command to run only the missing trials.")


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Best (lowest mean loss over seeds) learning rate per (model, parametrization, optimizer, width);
    a diverged trial counts as an infinite loss."""
    acc: dict[tuple[Any, ...], dict[float, list[float]]] = {}
    for r in rows:
        key = (r.get("model"), r["parametrization"], r["optimizer"], int(r["width"]))
        loss = math.nan if r.get("loss") is None else float(r["loss"])
        ok = math.isfinite(loss) and not r.get("diverged", False)
        acc.setdefault(key, {}).setdefault(float(r["lr"]), []).append(loss if ok else math.inf)
    out = []
    for (model, param, opt, width), by_lr in sorted(acc.items(), key=lambda kv: tuple(map(str, kv[0]))):
        lr, losses = min(by_lr.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
        out.append({"model": model, "parametrization": param, "optimizer": opt, "width": width,
                    "lr": lr, "loss": sum(losses) / len(losses)})
    return out
