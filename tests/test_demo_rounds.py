"""scripts/demo_rounds.py, run as the README says: a state that has really been through rounds."""

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT
from training.rounds import read_rounds_log


def test_the_demo_state_has_been_through_rounds_and_the_app_code_reads_it(tmp_path, round0):
    out = tmp_path / "demo"
    done = subprocess.run([sys.executable, "scripts/demo_rounds.py", "--out", str(out), "--rounds", "1", "--fooling", "15"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"app.py --state-dir {out} --retrain-threshold 15 --retrain-from auto" in done.stdout

    (entry,) = read_rounds_log(out)
    assert entry["round"] == 1 and entry["accepted"], entry["gate_failures"]
    matrix = subprocess.run([sys.executable, "-m", "training.round_matrix", "--state-dir", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    matrix = json.loads(matrix.stdout)
    # 15 fooling examples against round 0, then 5 against round 1; a model reads none of its own round's
    assert set(matrix["accuracy"]) == {"0", "1"} and set(matrix["examples"]) <= {"0", "1"} and matrix["examples"]["0"] >= 1
    assert all(matrix["accuracy"][r].get(r, 0.0) == 0.0 for r in ("0", "1"))

    again = subprocess.run([sys.executable, "scripts/demo_rounds.py", "--out", str(out)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 2 and "exists: give a new directory" in again.stderr  # never over an existing state
