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
from flagging.store import FlagStore, open_collected_store
from flagging.validation import HOLDOUT_EVERY
from model.checkpoint import CheckpointError, load_checkpoint
from training.evaluate import predict_classes
from training.rounds import RoundConfig, accepted_checkpoints, read_examples, split_examples
from training.train import bounded


def held_out_fooling_examples(store: FlagStore, state_dir: Path, votes_required: int, holdout_every: int = RoundConfig.holdout_every) -> dict[int, list]:
    """(record, agreed label) pairs of the held-out examples whose agreed label is not what the model of
    their round predicted, by that round."""
    _, held_out = split_examples(store, state_dir, votes_required, holdout_every)
    by_round: dict[int, list] = {}
    for record, label in held_out:
        if label != record.prediction:
            by_round.setdefault(record.model_round, []).append((record, label))
    return dict(sorted(by_round.items()))


def round_matrix(state_dir: Path, store: FlagStore, votes_required: int, models: dict | None = None, predictions: dict | None = None, newest: int | None = None) -> dict:
    """{"examples": {collection round: n}, "accuracy": {model round: {collection round: accuracy}},
    "unreadable": {model round: why}}: a round whose checkpoint cannot be read (a damaged disk) has no
    accuracy row, and the reason instead; the other rounds are measured as ever.

    `models` maps rounds to models already in memory (the app's live one); the others are
    loaded from their checkpoints. `predictions` ({model round: {example id: class}}, filled in
    here) carries what earlier calls computed: a round's model and a stored example never change,
    so a later call reads and classifies only the examples that are new since (an open dashboard
    rebuilds this after every flag). `newest`: only the newest that many models, on the newest that many
    rounds' examples (the dashboard's view: what it costs stays the same however many rounds there were).
    """
    columns = held_out_fooling_examples(store, state_dir, votes_required)
    if not columns:  # no model to load for an empty table
        return {"examples": {}, "accuracy": {}, "unreadable": {}}
    predictions = {} if predictions is None else predictions
    checkpoints = {r: c for r, c in sorted(accepted_checkpoints(state_dir).items()) if r in (models or {}) or (c / "model.safetensors").is_file()}  # round-0 may not be trained yet
    if newest is not None:
        columns, checkpoints = dict(list(columns.items())[-newest:]), dict(list(checkpoints.items())[-newest:])
    items = [item for column in columns.values() for item in column]
    # What some model has not classified yet: set differences, not a look-up per example and model (10,000
    # held-out examples and 40 rounds made that 400,000 look-ups at every rebuild of the dashboard).
    ids = {record.id for record, _ in items}
    unread_ids = set().union(*(ids - predictions.get(r, {}).keys() for r in checkpoints))
    unread = [item for item in items if item[0].id in unread_ids]
    examples = read_examples(store, unread)
    accuracy, unreadable = {}, {}
    for model_round, checkpoint in checkpoints.items():
        known = predictions.setdefault(model_round, {})
        missing = [i for i, example_id in enumerate(examples.ids) if example_id not in known]
        if missing:
            model = (models or {}).get(model_round)
            if model is None:
                try:
                    model = load_checkpoint(checkpoint)[0]
                except CheckpointError as e:  # tried again at the next call: the folder may be replaced meanwhile
                    unreadable[model_round] = str(e)
                    continue
            known.update(zip([examples.ids[i] for i in missing], predict_classes(model, examples.x[missing]).tolist()))
        accuracy[model_round] = {c: round(sum(known[r.id] == label for r, label in column) / len(column), 5) for c, column in columns.items()}
    return {"examples": {c: len(column) for c, column in columns.items()}, "accuracy": accuracy, "unreadable": unreadable}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--validation-votes", type=bounded(int, 0), default=0, help="agreeing votes that verify an example; 0 = every example counts (default 0)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir, create=False)
    try:
        store = open_collected_store(state_dir)
        try:
            matrix = round_matrix(state_dir, store, args.validation_votes)
        finally:
            store.close()
    except OSError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(matrix, indent=2))
    if not matrix["examples"]:  # an empty table with no word reads as a broken command
        verified = f"verified by {args.validation_votes} agreeing vote(s)" if args.validation_votes else "collected"
        print(
            f"note: no held-out fooling example is {verified} yet, so there is nothing to measure"
            f" (one person in {HOLDOUT_EVERY} is held out; the table fills as they fool the model"
            + (" and validators vote on their drawings)" if args.validation_votes else ")"),
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
