"""Count how many cases of tests/bad_inputs.py a source tree handles (exit 2, one ``error:`` line, no
traceback, nothing written), each in its own subprocess with a timeout and a memory cap.

    python scripts/bad_inputs.py                      # this checkout
    python scripts/bad_inputs.py --src /tmp/old/src   # another tree (e.g. `git archive` of an old commit)
    python scripts/bad_inputs.py --out runs/bad_inputs.csv

Prints tried / handled and one line per case that is not handled (its outcome). Uses this Python
(the venv with infwidth's dependencies).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from bad_inputs import CASES, UNSAFE_BEFORE, argv, handled, make_fixtures, snapshot

MEMORY_CAP = 12 * 2**30
HOME = tempfile.mkdtemp(prefix="infwidth-bad-home-")


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    os.setsid()


def run_case(line: str, src: str, timeout: float) -> dict[str, str]:
    """Run one case in a fresh temporary directory; return its outcome."""
    with tempfile.TemporaryDirectory(prefix="infwidth-bad-") as tmp:
        root = Path(tmp)
        paths = make_fixtures(root / "fx")
        work = root / "work"
        work.mkdir()
        before = snapshot(root)
        # HOME (matplotlib's font cache and the like) lies outside the watched tree: only outputs count.
        env = {**os.environ, "PYTHONPATH": src, "HOME": HOME, "MPLCONFIGDIR": HOME, "MPLBACKEND": "Agg",
               "INFWIDTH_CACHE": str(root / "cache"), "INFWIDTH_DOWNLOAD": "0"}
        cmd = [sys.executable, "-c", "import sys; from infwidth.cli import main; main(sys.argv[1:])",
               *argv(line, paths)]
        try:
            p = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=timeout,
                               preexec_fn=_limit)
            code, out, err = p.returncode, p.stdout, p.stderr
        except subprocess.TimeoutExpired as e:
            tail = (e.stderr or b"").decode(errors="replace")[-200:] if isinstance(e.stderr, bytes) else ""
            code, out, err = -9, "", f"timeout after {timeout:.0f} s {tail}"
        written = sorted(snapshot(root) - before)
        ok = handled(code, out, err) and not written
        last = (err.strip().splitlines() or [""])[-1][:160]
        outcome = ("handled" if ok else "timeout" if code == -9 else "traceback" if "Traceback" in err else
                   f"wrote {len(written)} path(s)" if code == 2 and written else f"exit {code}")
        return {"case": line, "code": str(code), "outcome": outcome, "last_stderr_line": last}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--unsafe", action="store_true", help="Also run UNSAFE_BEFORE (only on fixed code).")
    ap.add_argument("--out", default=None, help="CSV of every case's outcome.")
    args = ap.parse_args()
    cases = [c for c, _ in CASES] + ([c for c, _ in UNSAFE_BEFORE] if args.unsafe else [])
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda c: run_case(c, args.src, args.timeout), cases))
    if not args.unsafe:
        rows += [{"case": c, "code": "", "outcome": f"not run ({why})", "last_stderr_line": ""}
                 for c, why in UNSAFE_BEFORE]
    n_ok = sum(r["outcome"] == "handled" for r in rows)
    for r in rows:
        if r["outcome"] != "handled":
            print(f"{r['outcome']:>16}  {r['case']}  | {r['last_stderr_line']}")
    print(f"tried {len(rows)}, handled {n_ok}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
