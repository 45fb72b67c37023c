"""Time to ≥99.0% MNIST test accuracy for round-0 training: the whole process, data loading included.

    python -m bench.train_time [--repeats 3] [--device auto]

Each repeat runs `python -m training.train --target-accuracy 0.99` as a fresh process and
times it from launch to exit (imports, MNIST loading, training, evaluation, checkpoint).
"cold" starts with an empty state directory (MNIST read from the offline package and
cached); "warm" reuses the cache. The full default run (no early stop) is timed as well.
Results go to bench/results/train_time_<cpu|cuda>.json.
Targets: ≤ 30 s wall on the 2-core CPU; ≤ 1.0 s of training on one H100.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.stats import write_result
from training.train import bounded, device_option, select_device

REPO = Path(__file__).resolve().parent.parent


def run_training(state_dir: Path, device: str, target: float | None) -> dict:
    out = state_dir / "bench-ckpt"
    cmd = [sys.executable, "-m", "training.train", "--quiet", "--device", device, "--state-dir", str(state_dir), "--out", str(out)]
    if target is not None:
        cmd += ["--target-accuracy", str(target)]
    start = time.perf_counter()
    subprocess.run(cmd, cwd=REPO, check=True, capture_output=True)
    wall = time.perf_counter() - start
    meta = json.loads((out / "metadata.json").read_text())
    last = meta["history"][-1]
    return {"wall_s": round(wall, 2), "train_s": last["seconds"], "epochs": last["epoch"], "test_accuracy": last["test_accuracy"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=bounded(int, 1), default=3, help="runs per setting (default 3)")
    p.add_argument("--device", type=device_option, default="auto", help="training device (default auto)")
    args = p.parse_args(argv)
    device = select_device(args.device).type
    runs = {"cold, to 99.0%": [], "warm, to 99.0%": [], "warm, full default run": []}
    for _ in range(args.repeats):
        state = Path(tempfile.mkdtemp(prefix="dadc-bench-"))
        try:
            runs["cold, to 99.0%"].append(run_training(state, device, 0.99))
            runs["warm, to 99.0%"].append(run_training(state, device, 0.99))
            runs["warm, full default run"].append(run_training(state, device, None))
        finally:
            shutil.rmtree(state, ignore_errors=True)
    summary = {
        name: {
            "median_wall_s": statistics.median(r["wall_s"] for r in rs),
            "median_train_s": statistics.median(r["train_s"] for r in rs),
            "accuracies": [r["test_accuracy"] for r in rs],
            "epochs": [r["epochs"] for r in rs],
        }
        for name, rs in runs.items()
    }
    write_result(f"train_time_{device}", {"target": "<= 30 s wall on 2 CPU cores; <= 1.0 s training on one H100", "summary": summary, "runs": runs})


if __name__ == "__main__":
    main()
