"""Every round's model on the held-out examples that fooled each round's model.

    python -m training.round_matrix [--state-dir DIR] [--validation-votes K]

prints it as JSON. Dynabench's view of a DADC run: one row per model that went live, one
column per round of collection, holding the examples that fooled that round's model
(verified, with the agreed label, and held out: no model ever trained on them). A model
reads none of its own round's column right, by definition; the climb to watch is down
each column: later rounds' models reading earlier rounds' fooling examples right.
Importable without gradio or datasets.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from data.state_dir import resolve_state_dir
from flagging.store import FlagStore
from model.checkpoint import load_checkpoint
from training.evaluate import accuracy_report
from training.rounds import Examples, RoundConfig, accepted_checkpoints, read_examples, split_examples


def held_out_fooling_examples(store: FlagStore, votes_required: int, holdout_every: int = RoundConfig.holdout_every) -> dict[int, Examples]:
    """Held-out examples whose agreed label is not what the model of their round predicted, by that round."""
    _, held_out = split_examples(store, votes_required, holdout_every)
    by_round: dict[int, list] = {}
    for record, label in held_out:
        if label != record.prediction:
            by_round.setdefault(record.model_round, []).append((record, label))
    return {round_: read_examples(store, items) for round_, items in sorted(by_round.items())}


def round_matrix(state_dir: Path, store: FlagStore, votes_required: int, models: dict | None = None) -> dict:
    """{"examples": {collection round: n}, "accuracy": {model round: {collection round: accuracy}}}.

    `models` maps rounds to models already in memory (the app's live one); the others are
    loaded from their checkpoints.
    """
    columns = held_out_fooling_examples(store, votes_required)
    if not columns:  # no model to load for an empty table
        return {"examples": {}, "accuracy": {}}
    accuracy = {}
    for model_round, checkpoint in sorted(accepted_checkpoints(state_dir).items()):
        model = (models or {}).get(model_round)
        if model is None:
            if not (checkpoint / "model.safetensors").is_file():
                continue  # round-0 not trained yet
            model = load_checkpoint(checkpoint)[0]
        accuracy[model_round] = {c: accuracy_report(model, ex.x, ex.y)["accuracy"] for c, ex in columns.items()}
    return {"examples": {c: len(ex.y) for c, ex in columns.items()}, "accuracy": accuracy}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--validation-votes", type=int, default=0, help="agreeing votes that verify an example; 0 = every example counts (default 0)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir)
    try:
        store = FlagStore(state_dir / "flags", state_dir / "locks")
        try:
            matrix = round_matrix(state_dir, store, args.validation_votes)
        finally:
            store.close()
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(matrix, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
