"""How long the Rounds tab takes to rebuild on a large store, as a popular Space would have.

    python -m bench.rounds_view [--records 50000] [--rounds 1]

Writes a store in FlagStore's exact layout (bench.dataset_load: every record a fooling example
against round 0) next to a copy of the round-0 model, then times the app's own `rounds_view`
(status, table, plot, every model on every round's held-out fooling examples, contributors, which
digits fool each round's model), the rebuild the open Rounds tabs do after each flag. Median of 5
rebuilds after a first one (which fills the matrix's prediction cache), first as the heap is after
loading, then after `gc.freeze()`, which the app calls once everything is loaded: the collector then
no longer walks every stored record.

With --rounds N, the records are collected against N models in turn, each a copy of round 0 that
went live (a long-running Space: the tables grow a column per round, the matrix a row and a column);
the result is stored apart, as rounds_view_<N>_rounds.

Then what --tabs open Rounds tabs cost after a flag: the view they all get (one shared rebuild, then
the same data made into each page's components), median of 5 flags, against as many rebuilds, one
per tab, which is what they cost before the tabs shared one.
"""

import argparse
import gc
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import torch  # noqa: E402

from bench.dataset_load import tiny_png, write_store  # noqa: E402
from bench.stats import time_calls, write_result  # noqa: E402
from data.state_dir import resolve_state_dir  # noqa: E402
from flagging.store import FlagStore  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from model.predict import LiveModel  # noqa: E402
from serving.rounds_tab import rounds_view  # noqa: E402
from serving.services import Services  # noqa: E402
from training.prepare import ensure_round0  # noqa: E402
from training.train import bounded  # noqa: E402


def new_flag(i: int, model_round: int) -> dict:
    """A fooling example against `model_round`'s model, as the flag callback stores it."""
    return {"label": i % 10, "prediction": (i + 1) % 10, "probabilities": [0.1] * 10, "model_round": model_round, "fooled": True, "session_hash": f"bench-tab-{i}", "username": ""}


def went_live(state: Path, rounds: int) -> None:
    """Rounds 1 to `rounds - 1` accepted in the rounds log, each a copy of round 0's checkpoint."""
    metrics = load_checkpoint(state / "checkpoints" / "round-0")[1].get("metrics", {})
    lines = []
    for r in range(1, rounds):
        shutil.copytree(state / "checkpoints" / "round-0", state / "checkpoints" / f"round-{r}")
        lines.append(json.dumps({"round": r, "accepted": True, "checkpoint": f"checkpoints/round-{r}", "metrics": metrics}) + "\n")
    (state / "rounds.jsonl").write_text("".join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=bounded(int, 1), default=50_000, help="records in the store (default 50000)")
    p.add_argument("--rounds", type=bounded(int, 1), default=1, help="model rounds the records were collected against (default 1)")
    p.add_argument("--tabs", type=bounded(int, 1), default=10, help="open Rounds tabs that ask after each flag (default 10)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # as the app
    round0 = ensure_round0(resolve_state_dir())
    tmp = Path(tempfile.mkdtemp(prefix="dadc-bench-rounds-"))
    try:
        shutil.copytree(round0, tmp / "checkpoints" / "round-0")
        went_live(tmp, args.rounds)
        write_store(tmp / "flags", args.records, shards=10, rounds=args.rounds)
        store = FlagStore(tmp / "flags", tmp / "locks")
        model, metadata = load_checkpoint(tmp / "checkpoints" / f"round-{args.rounds - 1}")
        live = LiveModel(model, metadata | {"round": args.rounds - 1})
        services = Services(live, store, None, state_dir=tmp)
        rebuild = lambda: rounds_view(services, rebuild=True)  # noqa: E731
        first_view = time_calls(rebuild, 1)[0]  # fills the matrix's prediction cache, as the first view of a running app does
        as_loaded = time_calls(rebuild, 5)
        gc.freeze()
        frozen = time_calls(rebuild, 5)
        shared, one_each = [], []
        for i in range(5):
            store.append(new_flag(i, args.rounds - 1), tiny_png(i), tiny_png(i))
            shared += time_calls(lambda: [rounds_view(services) for _ in range(args.tabs)], 1)
            store.append(new_flag(100 + i, args.rounds - 1), tiny_png(i), tiny_png(i))
            one_each += time_calls(lambda: [rebuild() for _ in range(args.tabs)], 1)
        gc.unfreeze()
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_result(
        "rounds_view" if args.rounds == 1 else f"rounds_view_{args.rounds}_rounds",
        {
            "records": args.records,
            "rounds": args.rounds,
            "first_view_s": round(first_view, 3),
            "rebuild_median_s": round(statistics.median(as_loaded), 3),
            "rebuild_median_s_after_gc_freeze": round(statistics.median(frozen), 3),
            "tabs": args.tabs,
            "tabs_after_a_flag_median_s": round(statistics.median(shared), 3),
            "tabs_after_a_flag_median_s_one_rebuild_each": round(statistics.median(one_each), 3),
        },
    )


if __name__ == "__main__":
    main()
