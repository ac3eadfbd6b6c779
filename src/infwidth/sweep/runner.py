"""Run a grid of trials on a local process pool (default) or a Ray cluster, resumably.

Finished trials (by key, see ``store.trial_key``) are skipped; every result is committed to the
store as soon as its trial returns, by the parent process only (one writer).
"""

from __future__ import annotations

import itertools
import math
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


def run_sweep(trials: Sequence[Mapping[str, Any]], store: SweepStore, fn: TrialFn = run_trial,
              workers: int = 2, ray_address: str | None = None, progress: bool = True) -> int:
    """Run every trial not yet in ``store``; returns how many were run now.

    Inputs: trial parameter dicts, the store, the trial function (picklable, top-level),
    ``workers`` local processes (1 = in this process), or ``ray_address`` to use Ray instead.
    """
    done = store.done()
    todo = [dict(t) for t in trials if trial_key(t) not in done]
    if not todo:
        return 0
    bar = _progress(len(todo), progress)
    try:
        if ray_address is not None:
            _run_ray(todo, store, fn, ray_address, bar)
        elif workers <= 1:
            for t in todo:
                store.put(t, fn(t))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(fn, t): t for t in todo}
                for fut in as_completed(futures):
                    store.put(futures[fut], fut.result())
                    bar.update()
    finally:
        bar.close()
    return len(todo)


def _run_ray(todo: list[dict[str, Any]], store: SweepStore, fn: TrialFn, address: str, bar: Any) -> None:
    try:
        import ray  # optional extra: pip install "ray[default]"
    except ImportError:
        raise InfwidthError("--ray needs the optional dependency Ray; install it with `pip install ray` "
                            "or run without --ray to use the local process pool.") from None
    ray.init(address=address, ignore_reinit_error=True)
    remote = ray.remote(fn)
    pending = {remote.remote(t): t for t in todo}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            store.put(pending.pop(ref), ray.get(ref))
            bar.update()


def summarize(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Best (lowest mean loss over seeds) learning rate per (model, parametrization, optimizer, width)."""
    acc: dict[tuple[Any, ...], dict[float, list[float]]] = {}
    for r in rows:
        key = (r.get("model"), r["parametrization"], r["optimizer"], int(r["width"]))
        loss = float(r["loss"])
        acc.setdefault(key, {}).setdefault(float(r["lr"]), []).append(loss if math.isfinite(loss) else math.inf)
    out = []
    for (model, param, opt, width), by_lr in sorted(acc.items(), key=lambda kv: tuple(map(str, kv[0]))):
        lr, losses = min(by_lr.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
        out.append({"model": model, "parametrization": param, "optimizer": opt, "width": width,
                    "lr": lr, "loss": sum(losses) / len(losses)})
    return out
