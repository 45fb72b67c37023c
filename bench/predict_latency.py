"""Single-drawing prediction latency on the CPU: preprocessing + model, as the app does it.

    python -m bench.predict_latency [--n 2000]
Input: an 800×800 RGBA canvas with a drawn digit (what the Sketchpad delivers). One torch
thread, as in the app. Target: p99 ≤ 2 ms.
"""

import argparse

import torch

from bench.stats import summarize_ms, time_calls, write_result
from data.state_dir import resolve_state_dir
from model.checkpoint import load_checkpoint
from model.predict import LiveModel
from model.preprocess import preprocess_drawing
from tests.digit_strokes import draw_digit
from training.prepare import ensure_round0
from training.train import bounded


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=bounded(int, 1), default=2000, help="timed predictions per input (default 2000)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    live = LiveModel(*load_checkpoint(ensure_round0(resolve_state_dir())))
    results = {}
    for name, canvas in {"800x800 RGBA canvas": draw_digit(3, canvas=800), "400x400 RGBA canvas (the app's)": draw_digit(3, canvas=400, left=120, top=75, height=250, stroke_width=28)}.items():
        time_calls(lambda: live.predict(canvas), 100)  # warm-up
        results[name] = {
            "preprocess+model": summarize_ms(time_calls(lambda: live.predict(canvas), args.n)),
            "preprocess only": summarize_ms(time_calls(lambda: preprocess_drawing(canvas), args.n)),
        }
    x = preprocess_drawing(draw_digit(3))
    results["model only (28x28)"] = summarize_ms(time_calls(lambda: live.classify(x), args.n))
    write_result("predict_latency", {"target": "p99 <= 2 ms for an 800x800 canvas", "results": results})


if __name__ == "__main__":
    main()
