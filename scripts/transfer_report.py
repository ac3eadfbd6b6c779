"""Write up a transfer sweep from its store, without training (finished or partial sweeps).

    python scripts/transfer_report.py --store results/transfer_hf-gpt2.sqlite --out results

Reads the trials of one ``infwidth experiment transfer`` store, infers its grid (task, parametrizations,
optimizers, widths, learning rates, seeds, steps, batch, base width) from them, and writes into --out what the
command itself writes at the end: ``transfer_<task>.csv``, ``transfer_<task>_<optimizer>.png`` (loss against
learning rate), ``transfer_<task>_<optimizer>_optima.png`` (optimum against width), ``transfer_<task>.json``
and ``transfer.md`` (every task whose JSON is in --out). Widths with missing trials are left out of the fits
and the section says it is partial.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from infwidth.experiments.transfer import report_from_store


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", type=Path, required=True, help="transfer_<task>.sqlite of a sweep")
    ap.add_argument("--out", type=Path, default=Path("results"))
    args = ap.parse_args()
    if not args.store.is_file():
        raise SystemExit(f"error: no store at {args.store}; give the transfer_<task>.sqlite of a sweep.")
    res = report_from_store(args.store, args.out)
    for a in res["analysis"]:
        print(f"{a['parametrization']} {a['optimizer']}: widths {a['widths']} drift {a['drift_per_doubling']:+.3f} "
              f"± {a['drift_se']:.3f}; per seed {a['drift_seeds']} (s.e.m. {a['drift_seed_sem']:.3f})"
              + (f"; incomplete widths {a['incomplete']}" if a["incomplete"] else ""))
    print(f"{res['trials']} of {res['expected_trials']} trials; wrote {args.out / 'transfer.md'}")


if __name__ == "__main__":
    main()
