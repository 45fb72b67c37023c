"""Roll the live model back to an earlier round: a round that went live and turned out bad.

    python -m training.rollback --to K --reason "round 3 learned vandalised labels" [--by NAME] [--state-dir DIR] [--validation-votes K]

The rounds only go forward, so a rollback is a round of its own: round N+1 holds round K's weights,
unchanged, and says so (`restores` in its `rounds.jsonl` line and its metadata, with the reason and who
rolled back). Nothing is deleted: round N's checkpoint, log line and Hub tag stay, the flags made against it
stay round N's, and the next round starts from round N+1, learning what round K had not (less what a
maintainer has removed or voted junk meanwhile). Round N+1 is measured as any round is (MNIST test,
held-out people's examples, FGSM ε = 0.1, against round N on the same examples); no gate applies: the
maintainer decided. An app serving this state directory serves it at its next flag or Rounds view, and
publishes it with --hub-model. Exit 0 rolled back, 2 nothing done. Importable without gradio or datasets.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from flagging.store import MAX_REMOVAL_REASON, append_line_durably, open_collected_store, public_reason, utc_now
from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from training.evaluate import split_tensors
from training.rounds import (
    ROUNDS_LOG,
    Examples,
    RoundBusy,
    RoundConfig,
    accepted_checkpoints,
    exclusive_round,
    held_out_changes,
    load_examples,
    measure,
    people_example_ids_of,
    reads_right,
    round_checkpoint_dir,
)
from training.train import bounded


class RollbackRefused(ValueError):
    """The rollback asked for cannot be done; nothing was written."""


def rollback_problem(checkpoints: dict[int, Path], to_round: int) -> str | None:
    """Why the live model cannot be rolled back to `to_round`, or None."""
    newest = max(checkpoints)
    if newest == 0:
        return "only round 0 has gone live: there is no earlier round to roll back to"
    if to_round == newest:
        return f"round {to_round} is the live model already"
    if to_round not in checkpoints:
        went_live = ", ".join(map(str, sorted(r for r in checkpoints if r != newest)))
        return f"round {to_round} never went live (or its checkpoint is gone): roll back to one of rounds {went_live}"
    return None


def models_that_learned(state_dir: Path, ids: set[str]) -> tuple[list[int], int] | None:
    """When the live model was trained on some of the people's examples `ids` (removing them cannot take
    back what it learned): (the rounds whose model was, the newest round whose model never saw them); else None."""
    checkpoints = accepted_checkpoints(state_dir)
    trained, clean = [], 0  # round 0 trains on MNIST alone
    for round_, checkpoint in sorted(checkpoints.items()):
        try:
            metadata = json.loads((checkpoint / "metadata.json").read_text())
        except (OSError, ValueError):
            continue  # a damaged checkpoint is no round to roll back to
        if people_example_ids_of(metadata) & ids:
            trained.append(round_)
        else:
            clean = round_
    return (trained, clean) if max(checkpoints) in trained else None


def learned_note(learned: tuple[list[int], int], drawings: int) -> str:
    """"round 2 was trained on it and keeps what it learned (...): round 1 is the newest model that never saw it"."""
    trained, clean = learned
    them, some = ("it", "it") if drawings == 1 else ("them", "some of them")
    rounds = f"round {trained[0]} was trained on {some} and keeps what it" if len(trained) == 1 else f"rounds {', '.join(map(str, trained))} were trained on {some} and keep what they"
    return f"{rounds} learned (no later round trains on {them}): round {clean} is the newest model that never saw {them}"


def held_out_examples(state_dir: Path, votes_required: int) -> Examples:
    """The held-out people's examples, measured as a round measures them (none when nothing was flagged)."""
    try:
        store = open_collected_store(state_dir)
    except FileNotFoundError:
        return Examples(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), [])
    try:
        return load_examples(store, state_dir, votes_required, RoundConfig.holdout_every)[1]
    finally:
        store.close()


def roll_back(state_dir: Path, to_round: int, reason: str, by: str = "", votes_required: int = 0) -> dict:
    """Make round `to_round`'s model live again as a new round; returns its `rounds.jsonl` line.
    Raises RollbackRefused (or RoundBusy while a round trains, CheckpointError for a damaged checkpoint)
    with nothing written."""
    started, clock = utc_now(), time.perf_counter()
    with exclusive_round(state_dir):  # a round training meanwhile would fork the lineage
        checkpoints = accepted_checkpoints(state_dir)
        if problem := rollback_problem(checkpoints, to_round):
            raise RollbackRefused(problem)
        live_round = max(checkpoints)
        restored, restored_meta = load_checkpoint(checkpoints[to_round])
        live, _ = load_checkpoint(checkpoints[live_round])
        test_x, test_y = split_tensors(load_mnist(state_dir), "test")
        held_out = held_out_examples(state_dir, votes_required)
        live_right, restored_right = reads_right(live, held_out), reads_right(restored, held_out)
        rollback = {"restores": to_round, "reason": reason, "by": by}
        entry = {"round": live_round + 1, "parent_round": live_round, **rollback, "started_at": started}
        entry |= {"n_train_examples": len(people_example_ids_of(restored_meta)), "n_held_out_examples": len(held_out.y)}
        entry["parent_metrics"] = measure(live, test_x, test_y, live_right)
        entry["metrics"] = measure(restored, test_x, test_y, restored_right) | held_out_changes(live_right, restored_right)
        entry |= {"accepted": True, "gate_failures": [], "losses": [], "seconds": round(time.perf_counter() - clock, 2), "finished_at": utc_now()}
        # Its own training data stays what round K's was: the next round learns everything since, less junk.
        metadata = {k: v for k, v in restored_meta.items() if k not in ("created_at", "torch_version")}
        metadata |= {"round": entry["round"], "parent": live_round, **rollback, "metrics": entry["metrics"]}
        path = save_checkpoint(restored, round_checkpoint_dir(state_dir, entry["round"]), metadata)
        entry["checkpoint"] = str(path.relative_to(state_dir))
        append_line_durably(state_dir / ROUNDS_LOG, entry)  # the checkpoint first, as for any round
    return entry


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--to", type=bounded(int, 0), required=True, help="the earlier round whose model goes live again (required)")
    p.add_argument("--reason", type=public_reason, required=True, help=f"why, as recorded in rounds.jsonl and published with --hub-model (at most {MAX_REMOVAL_REASON} characters)")
    p.add_argument("--by", default="", help="who rolls back, as recorded (default: nobody named)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--validation-votes", type=bounded(int, 0), default=0, help="agreeing votes that verify a held-out example, as the app's (default 0)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir, create=False)
    if not (state_dir / ROUNDS_LOG).is_file():
        print(f"error: no {ROUNDS_LOG} in {state_dir}: no round has been trained there; nothing rolled back", file=sys.stderr)
        return 2
    try:
        entry = roll_back(state_dir, args.to, args.reason, args.by.strip(), args.validation_votes)
    except (RollbackRefused, RoundBusy, CheckpointError, OSError) as e:
        print(f"error: {e}; nothing rolled back", file=sys.stderr)
        return 2
    m, parent = entry["metrics"], entry["parent_metrics"]
    print(f"round {entry['round']} is round {args.to}'s model, live in place of round {entry['parent_round']}")
    print(f"MNIST test accuracy {parent['mnist_test_accuracy']:.2%} → {m['mnist_test_accuracy']:.2%}; FGSM ε=0.1 {parent['fgsm_0.1_accuracy']:.2%} → {m['fgsm_0.1_accuracy']:.2%}")
    if m["held_out_accuracy"] is not None:
        print(
            f"held-out people's examples {parent['held_out_accuracy']:.2%} → {m['held_out_accuracy']:.2%} on {m['held_out_examples']}"
            f" ({m['held_out_newly_right']} newly right, {m['held_out_newly_wrong']} newly wrong)"
        )
    print("an app serving this state directory serves it at its next flag or Rounds view (and publishes it with --hub-model)")
    print(json.dumps({k: entry[k] for k in ("round", "restores", "reason", "by", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
