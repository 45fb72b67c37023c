"""Flag latency over HTTP (durability included) compared with /predict in the same run.

    python -m bench.flag_latency [--n 300]

One app server on a fresh state directory. Each flag sends a different drawing (a repeated
one would be answered as a duplicate without writing). Raw Gradio HTTP API, sequential.
Target: flag p50 ≤ 2 × predict p50.
"""

import argparse
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from PIL import Image

from bench.http_predict import call, upload_png
from bench.stats import summarize_ms, write_result
from data.state_dir import resolve_state_dir
from tests.app_process import running_app
from tests.flag_clients import distinct_drawing
from training.prepare import ensure_round0
from training.train import bounded


def timed(session, url, payloads, api_name):
    session_hash = uuid.uuid4().hex  # one Gradio session, as a browser tab has
    times = []
    for payload in payloads:
        payload = {**payload, "session_hash": session_hash}
        start = time.perf_counter()
        call(session, url, payload, api_name)
        times.append(time.perf_counter() - start)
    return summarize_ms(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=bounded(int, 1), default=300, help="timed requests per endpoint (default 300)")
    args = p.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="dadc-bench-flag-"))
    try:
        shutil.copytree(ensure_round0(resolve_state_dir()), state / "checkpoints" / "round-0")
        drawings = [Image.open(distinct_drawing(i, state / f"d{i}.png")) for i in range(args.n + 20)]
        # no limit on flags per minute: this measures storing a flag, and one session sends them all
        with running_app(state, "--max-flags-per-minute", "0") as url, httpx.Client(timeout=60) as session:
            files = [upload_png(url, d) for d in drawings]
            image_payloads = [{"data": [f]} for f in files]
            sketch_payloads = [{"data": [{"background": None, "layers": [], "composite": f}]} for f in files]
            flag_payloads = [{"data": [{"background": None, "layers": [], "composite": f}, str(i % 10)]} for i, f in enumerate(files)]
            for name, payloads in (("predict", image_payloads), ("predict_drawing", sketch_payloads), ("flag", flag_payloads)):
                timed(session, url, payloads[:20], name)  # warm-up (the flags here are stored too)
            results = {
                "/predict (image)": timed(session, url, image_payloads[20:], "predict"),
                "/predict_drawing (sketchpad value)": timed(session, url, sketch_payloads[20:], "predict_drawing"),
                "/flag (sketchpad value + label, durable)": timed(session, url, flag_payloads[20:], "flag"),
            }
    finally:
        shutil.rmtree(state, ignore_errors=True)
    flag_p50 = results["/flag (sketchpad value + label, durable)"]["p50_ms"]
    ratios = {
        "flag_p50_over_predict_p50": round(flag_p50 / results["/predict (image)"]["p50_ms"], 3),
        "flag_p50_over_predict_drawing_p50": round(flag_p50 / results["/predict_drawing (sketchpad value)"]["p50_ms"], 3),
    }
    write_result("flag_latency", {"target": "flag p50 <= 2x predict p50", "results": results, "ratios": ratios})


if __name__ == "__main__":
    main()
