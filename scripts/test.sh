#!/usr/bin/env bash
# The whole test suite, on a machine that has only Python: make (or reuse) .venv, install the package
# with its dev, peers and ray extras (CPU PyTorch first), then run pytest on both cores.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q torch==2.13.0
pip install -q -e ".[dev,peers,ray]"  # ray: the real local-cluster fault test (about 40 s to install, 50 s to run)
pip install -q --no-deps "mup==1.0.0" "neural-tangents==0.6.5"
export INFWIDTH_REQUIRE_PEERS=1
set +e
python -m pytest -q -n 2 --durations=15 "$@"
code=$?
set -e
if [ "$code" -eq 5 ]; then echo "pytest collected no tests: failing." >&2; exit 1; fi
exit "$code"
