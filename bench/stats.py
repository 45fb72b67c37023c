"""Percentiles and result files shared by the benchmarks."""

import json
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def time_calls(fn, n: int) -> list[float]:
    """Seconds taken by each of `n` calls of `fn()`."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def summarize_ms(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"n": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3), "mean_ms": round(float(ms.mean()), 3)}


def machine() -> dict:
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    import os

    return {"cpu_cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(), "torch": torch.__version__}


def write_result(name: str, result: dict) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    result = {"benchmark": name, "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": machine(), **result}
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


def sync(device: torch.device) -> None:
    """Wait for the GPU's queued work, so a timer read next measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
