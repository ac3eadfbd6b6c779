"""Grid sweeps (learning rate x width x ...) on a local process pool or Ray, with a resumable store."""

from infwidth.sweep.runner import grid, run_sweep, summarize
from infwidth.sweep.store import SweepStore, trial_key
from infwidth.sweep.trial import run_trial

__all__ = ["SweepStore", "grid", "run_sweep", "run_trial", "summarize", "trial_key"]
