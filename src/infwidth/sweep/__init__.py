"""Grid sweeps (learning rate x width x ...) on a local process pool or Ray, with a resumable store."""

from infwidth.sweep.runner import check_trial, grid, pool_size, run_sweep, summarize
from infwidth.sweep.store import SweepStore, trial_key
from infwidth.sweep.trial import DIVERGENCE_FACTOR, divergence, outcome, run_trial

__all__ = ["DIVERGENCE_FACTOR", "SweepStore", "check_trial", "divergence", "grid", "outcome", "pool_size",
           "run_sweep", "run_trial", "summarize", "trial_key"]
