"""Retraining rounds: fine-tune the live model on people's examples, gate it, record it.

    python -m training.rounds [--state-dir DIR] [--validation-votes K] [--method adv-reg] [--again]

runs one round now from the stored flags (the app runs the same thing in the background
when enough fooling examples have come in; a running app serving this state directory
switches to a round trained by this command at its next flag or dashboard view). With no
example the live model has not learned, it refuses unless --again.

A round: every verified example collected so far (the examples of every `holdout_every`-th
person, in order of arrival, are held out and never trained on) is mixed into batches of MNIST training images
and the parent model is fine-tuned for a fixed number of steps. The candidate replaces the
parent only if it passes the gates:
  - MNIST test accuracy falls by at most `max_mnist_drop`, and stays above `min_mnist_accuracy`;
  - on the held-out people's examples it is at least as accurate as the parent (or, with
    `max_held_out_drop`, at most that much less accurate: the refusal says how many examples it
    newly gets wrong and newly gets right, so a maintainer can tell noise from a worse model);
  - when `max_robust_drop` is set, robust accuracy (FGSM ε = 0.1) falls by at most that.
Every attempt, passed or not, is one line of <state>/rounds.jsonl; a passed candidate is saved
as <state>/checkpoints/round-N. Importable without gradio or datasets.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import logging
import math
import sys
import threading
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from data.mnist import load_mnist
from data.state_dir import checkpoints_dir, flags_dir, resolve_state_dir, round0_checkpoint_dir
from flagging.store import FlagStore, append_line_durably, read_complete_lines, utc_now
from flagging.validation import HOLDOUT_EVERY, held_out_split
from model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from model.network import build_model
from training.augment import AugmentConfig, augment
from training.evaluate import accuracy_report, fgsm_accuracy, images_to_tensor, predict_classes, split_tensors
from training.hold import HELD_DURING_A_ROUND, hold_note, read_hold
from training.round_lock import RoundBusy, exclusive_round
from training.train import METHODS, TrainConfig, bounded, fit, seed_everything, training_loss

ROUNDS_LOG = "rounds.jsonl"
RETRAIN_METHODS = [m for m in METHODS if m != "distill"]  # distillation trains a new teacher: not a fine-tune
RETRAIN_STARTS = ("auto", "live", "scratch")
# "auto" fine-tunes the live model while a round has fewer people's examples to learn than this, and trains a
# new model from scratch from then on: `python -m bench.round_recipe --examples 100 150 200 --recipes 16x300
# scratch --name round_recipe_crossover` measured the error on 10,000 fresh simulated drawings at 11.35%
# (fine-tuning) and 11.25% (scratch) after 100 examples, 11.37% and 10.31% after 150, 11.12% and 10.05% after
# 200; after 72, fine-tuning was better (10.9% against 12.1%), and it costs 3 s instead of 15-20.
SCRATCH_FROM_EXAMPLES = 150
log = logging.getLogger("dadc.rounds")


@dataclass(frozen=True)
class RoundConfig:
    # 16 people's examples (drawn with replacement: they are few) per batch, 300 steps, ~3 s on one core.
    # More of them learns a large, clean set better but costs MNIST accuracy on a small, noisy one, where
    # the gate then refuses the round (python -m bench.round_recipe measures both).
    steps: int = 300
    batch_size: int = 128
    new_per_batch: int = 16
    lr: float = 3e-4  # Adam, cosine-decayed to 0; measured: 1e-3 cost 0.5 points of MNIST accuracy
    holdout_every: int = HOLDOUT_EVERY  # one person in 5 is held out for the gate
    max_mnist_drop: float = 0.003  # gate: MNIST test accuracy may fall by at most 0.3 points per round
    min_mnist_accuracy: float = 0.985  # gate: and never below this, however many rounds it took to get there
    max_held_out_drop: float = 0.0  # gate: accuracy on held-out people's examples may fall by at most this
    max_robust_drop: float | None = None  # gate: FGSM ε = 0.1 accuracy may fall by at most this (None: not gated)
    method: str = "standard"  # any training method of training.train (e.g. adv-reg)
    start: str = "auto"  # "live": fine-tune the live model; "scratch": train a new one on MNIST + people's examples; "auto": see `round_start`
    people_repeats: int = 20  # scratch: each people's example is seen this many times per epoch...
    max_people_share: float = 0.25  # ...fewer once they are many, so they stay at most this share of each epoch
    seed: int = 0


@dataclass
class Examples:
    x: torch.Tensor  # (N, 1, 28, 28) float in [0, 1]: the model inputs stored with each flag
    y: torch.Tensor  # (N,) int64: the agreed label
    ids: list[str]


def split_examples(store: FlagStore, state_dir: Path, votes_required: int, holdout_every: int) -> tuple[list, list]:
    """(training, held-out) as (record, agreed label) pairs: every verified, non-junk example in the store."""
    store.refresh()
    return held_out_split(store.records.values(), list(store.votes), votes_required, holdout_every, trained_example_ids(state_dir), list(store.removals))


def trained_example_ids(state_dir: Path) -> frozenset[str]:
    """Every people's example that a model which went live was trained on."""
    ids: set[str] = set()
    for checkpoint in accepted_checkpoints(state_dir).values():
        metadata = checkpoint / "metadata.json"
        if metadata.is_file():
            ids |= people_example_ids(str(metadata), metadata.stat().st_mtime_ns)
    return frozenset(ids)


def people_example_ids_of(metadata: dict) -> frozenset[str]:
    return frozenset((metadata.get("training_data") or {}).get("people_example_ids", []))


@functools.lru_cache(maxsize=1024)
def people_example_ids(metadata_path: str, mtime_ns: int) -> frozenset[str]:
    """A checkpoint's training examples; cached because an open dashboard asks after every flag."""
    return people_example_ids_of(json.loads(Path(metadata_path).read_text()))


def read_examples(store: FlagStore, items: list) -> Examples:
    """The stored model inputs of (record, label) pairs, as tensors."""
    if not items:
        return Examples(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), [])
    pixels = [np.asarray(Image.open(store.data_dir / r.shard / r.model_input_file_name).convert("L")) for r, _ in items]
    return Examples(images_to_tensor(np.stack(pixels)), torch.tensor([label for _, label in items], dtype=torch.long), [r.id for r, _ in items])


def load_examples(store: FlagStore, state_dir: Path, votes_required: int, holdout_every: int) -> tuple[Examples, Examples]:
    """(training, held-out) examples: every verified, non-junk example in the store, with its agreed label."""
    train, held_out = split_examples(store, state_dir, votes_required, holdout_every)
    return read_examples(store, train), read_examples(store, held_out)


def nothing_new(train_ids: list[str], parent_meta: dict) -> str | None:
    """Why a round would learn nothing the live model has not (run twice, the command would train a
    second round on the same data), or None."""
    if not train_ids:
        return "no verified example to train on yet"
    if set(train_ids) <= people_example_ids_of(parent_meta):
        return (
            f"nothing new to learn: round {parent_meta.get('round', 0)}, the live model, was trained on all {len(train_ids)} training examples there are. "
            "Collect more, or pass --again to train on the same ones (another --method, labels changed by votes)"
        )
    return None


def fine_tune(model, mnist_x, mnist_y, new: Examples, cfg: RoundConfig) -> list[float]:
    """Fine-tune `model` in place on batches of MNIST plus `new`; returns the loss every 50 steps."""
    gen = torch.Generator().manual_seed(cfg.seed)
    train_cfg = TrainConfig(method=cfg.method)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.steps)
    n_new = min(cfg.new_per_batch, cfg.batch_size) if len(new.y) else 0
    losses = []
    model.train()
    for step in range(cfg.steps):
        old_idx = torch.randint(len(mnist_y), (cfg.batch_size - n_new,), generator=gen)
        new_idx = torch.randint(max(len(new.y), 1), (n_new,), generator=gen)
        xb = augment(torch.cat([mnist_x[old_idx], new.x[new_idx]]), AugmentConfig(), gen)
        yb = torch.cat([mnist_y[old_idx], new.y[new_idx]])
        loss = training_loss(model, xb, yb, train_cfg, gen)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the loss became {loss.item()} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == cfg.steps - 1:
            losses.append(round(loss.item(), 5))
    return losses


def repeats_per_epoch(n_mnist: int, n_people: int, cfg: RoundConfig) -> int:
    """How many times each people's example goes into a from-scratch epoch: `people_repeats`, fewer when that
    would make them more than `max_people_share` of it (measured: without the cap, 3 rounds of a few thousand
    examples took MNIST test accuracy from 99.19% to 98.71%), and at least once."""
    share = cfg.max_people_share
    return max(1, min(cfg.people_repeats, int(share * n_mnist / ((1 - share) * max(n_people, 1)))))


def train_from_scratch(parent_meta: dict, mnist_x, mnist_y, new: Examples, cfg: RoundConfig):
    """A new model of the live one's architecture and recipe, trained on MNIST plus people's examples (each
    repeated, see `repeats_per_epoch`), as Dynabench retrains each round; returns (model, losses)."""
    fields = {k: v for k, v in parent_meta.get("train_config", {}).items() if k in TrainConfig.__dataclass_fields__}
    recipe = replace(TrainConfig(**fields), method=cfg.method, seed=cfg.seed, max_steps=None, target_accuracy=None)
    model = build_model(parent_meta.get("architecture", "reference"), recipe.dropout)
    repeats = repeats_per_epoch(len(mnist_y), len(new.y), cfg)
    x = torch.cat([mnist_x] + [new.x] * repeats)
    y = torch.cat([mnist_y] + [new.y] * repeats)
    history = fit(model, x, y, recipe, progress=False)
    return model, [h["train_loss"] for h in history]


def reads_right(model, examples: Examples) -> torch.Tensor:
    """Which of `examples` the model reads right (bool per example)."""
    if not len(examples.y):
        return torch.zeros(0, dtype=torch.bool)
    return predict_classes(model, examples.x) == examples.y


def measure(model, test_x, test_y, held_out_right: torch.Tensor) -> dict:
    """The numbers the gates and the dashboard read; `held_out_right` from `reads_right` on the held-out examples."""
    return {
        "mnist_test_accuracy": accuracy_report(model, test_x, test_y)["accuracy"],
        "fgsm_0.1_accuracy": fgsm_accuracy(model, test_x, test_y, 0.1),
        "held_out_accuracy": round(held_out_right.float().mean().item(), 5) if len(held_out_right) else None,
        "held_out_examples": len(held_out_right),
    }


def held_out_changes(parent_right: torch.Tensor, candidate_right: torch.Tensor) -> dict:
    """How many held-out examples the candidate newly gets right and newly gets wrong. Two models measured
    on the same examples differ by these alone: 31 newly wrong against 22 newly right is a coin's noise,
    31 against 2 is a worse model, though both can be the same fall in accuracy."""
    return {"held_out_newly_right": int((candidate_right & ~parent_right).sum()), "held_out_newly_wrong": int((parent_right & ~candidate_right).sum())}


def uneven_split_chance(newly_wrong: int, newly_right: int) -> str:
    """How often two equally good models split the examples they read differently at least this unevenly
    (a one-sided sign test): "36%" for 17 newly wrong against 14 newly right, "under 1%" for 17 against 2."""
    n = newly_wrong + newly_right
    chance = sum(math.comb(n, k) for k in range(newly_wrong, n + 1)) / 2**n
    return "under 1%" if chance < 0.01 else f"{chance:.0%}"


def drop_problem(option: str, value: float | None) -> str | None:
    """Why `value` is no gate for `option` (people write points where a fraction is meant), or None."""
    if value is not None and not 0 <= value <= 1:
        return f"{option} must be between 0 and 1 (a fraction: 0.02 is 2 points), not {value}"
    return None


def points(fraction: float) -> str:
    """A difference of accuracies in percentage points ("fell 3.43%" could be read as 3.43% of 99%)."""
    return f"{fraction * 100:.2f} point{'' if round(fraction * 100, 2) == 1 else 's'}"


def gate_failures(candidate: dict, parent: dict, cfg: RoundConfig) -> list[str]:
    """Why the candidate may not replace the parent; empty when it passes."""
    failures = []
    # Each fall rounded as the accuracies are (a count over 10,000 images, or a few hundred examples), so
    # that a fall of exactly the allowed amount passes: 0.9919 - 0.9889 is 0.0030000000000000027 in floats.
    drop = round(parent["mnist_test_accuracy"] - candidate["mnist_test_accuracy"], 5)
    if drop > cfg.max_mnist_drop:
        failures.append(
            f"MNIST test accuracy fell {points(drop)} ({parent['mnist_test_accuracy']:.2%} → {candidate['mnist_test_accuracy']:.2%}; at most {points(cfg.max_mnist_drop)} allowed)"
        )
    if candidate["mnist_test_accuracy"] < cfg.min_mnist_accuracy:
        failures.append(f"MNIST test accuracy {candidate['mnist_test_accuracy']:.2%} is below the floor of {cfg.min_mnist_accuracy:.2%}")
    held_out_drop = round(parent["held_out_accuracy"] - candidate["held_out_accuracy"], 5) if candidate["held_out_accuracy"] is not None else None
    if held_out_drop is not None and held_out_drop > cfg.max_held_out_drop:
        changes = ""
        if "held_out_newly_wrong" in candidate:
            wrong, right = candidate["held_out_newly_wrong"], candidate["held_out_newly_right"]
            # the chance tells a maintainer whether to allow such falls (--max-held-out-drop) or believe them
            changes = f": {wrong} newly wrong, {right} newly right, a split equally good models make {uneven_split_chance(wrong, right)} of the time"
        allowed = f"; at most {points(cfg.max_held_out_drop)} allowed" if cfg.max_held_out_drop else ""
        failures.append(f"worse on held-out people's examples ({parent['held_out_accuracy']:.2%} → {candidate['held_out_accuracy']:.2%} on {candidate['held_out_examples']}{changes}{allowed})")
    robust_drop = round(parent["fgsm_0.1_accuracy"] - candidate["fgsm_0.1_accuracy"], 5)
    if cfg.max_robust_drop is not None and robust_drop > cfg.max_robust_drop:
        failures.append(
            f"robust accuracy (FGSM ε = 0.1) fell {points(robust_drop)} ({parent['fgsm_0.1_accuracy']:.2%} → {candidate['fgsm_0.1_accuracy']:.2%}; at most {points(cfg.max_robust_drop)} allowed)"
        )
    return failures


class StaleParent(RuntimeError):
    """A newer round than the parent was accepted meanwhile (by another process): training from the
    parent would fork the lineage and overwrite that round's checkpoint."""


def training_labels_now(store: FlagStore, state_dir: Path, votes_required: int, holdout_every: int) -> dict[str, int]:
    """{id: label} of the examples a round would train on now (the store read again)."""
    return {r.id: label for r, label in split_examples(store, state_dir, votes_required, holdout_every)[0]}


def taken_out_meanwhile(train: Examples, labels_now: dict[str, int]) -> int:
    """How many of a round's training examples are no longer there with the label it learned: removed,
    voted junk or relabelled while it trained."""
    return sum(labels_now.get(i) != y for i, y in zip(train.ids, train.y.tolist()))


def round_start(cfg: RoundConfig, n_examples: int) -> str:
    """How a round with `n_examples` people's examples to learn trains: "live" (fine-tunes the live model) or
    "scratch" (a new model). `cfg.start` says, or for "auto" the number of examples (`SCRATCH_FROM_EXAMPLES`),
    with standard training only: from scratch, the other methods' rounds would take minutes, not seconds."""
    if cfg.start != "auto":
        return cfg.start
    return "scratch" if n_examples >= SCRATCH_FROM_EXAMPLES and cfg.method == "standard" else "live"


def how_rounds_train(cfg: RoundConfig) -> str:
    """"fine-tuning the live model", "a new model from scratch", or (`auto`) both and where it switches."""
    few, many = round_start(cfg, 0), round_start(cfg, SCRATCH_FROM_EXAMPLES)
    name = {"live": "fine-tuning the live model", "scratch": "a new model from scratch"}
    return name[few] if few == many else f"{name[few]} below {SCRATCH_FROM_EXAMPLES} examples to learn, then {name[many]}"


def run_round(state_dir: Path, parent, parent_meta: dict, train: Examples, held_out: Examples, cfg: RoundConfig, fooling_examples: int | None = None, labels_now=None):
    """Train, measure and gate one candidate; record the attempt. Returns (log entry, (model, metadata) or None).
    `fooling_examples`: the flags that had fooled the parent when the round started, logged so that the next
    attempt after a rejection waits for a threshold more than that. `labels_now()`: `training_labels_now` once
    trained, so that a candidate that learned drawings a maintainer took out meanwhile never goes live."""
    with exclusive_round(state_dir):
        return _run_round(state_dir, parent, parent_meta, train, held_out, cfg, fooling_examples, labels_now)


def _run_round(state_dir: Path, parent, parent_meta: dict, train: Examples, held_out: Examples, cfg: RoundConfig, fooling_examples: int | None, labels_now=None):
    started, clock = utc_now(), time.perf_counter()
    parent_round = int(parent_meta.get("round", 0))
    newest = max(accepted_checkpoints(state_dir))
    if newest > parent_round:
        raise StaleParent(f"round {newest} was accepted after round {parent_round}, the model this round would start from; start from round {newest}")
    start = round_start(cfg, len(train.y))
    entry = {"round": parent_round + 1, "parent_round": parent_round, "started_at": started, "config": asdict(cfg), "start": start}
    entry |= {"n_train_examples": len(train.y), "n_held_out_examples": len(held_out.y)}
    if fooling_examples is not None:
        entry["fooling_examples"] = fooling_examples
    seed_everything(cfg.seed)
    mnist = load_mnist(state_dir)
    mnist_x, mnist_y = split_tensors(mnist, "train")
    test_x, test_y = split_tensors(mnist, "test")
    candidate = copy.deepcopy(parent)
    failures, losses = [], []
    if not len(train.y):
        failures.append("no verified examples to train on")
    elif start == "scratch":
        candidate, losses = train_from_scratch(parent_meta, mnist_x, mnist_y, train, cfg)
        if not all(math.isfinite(loss) for loss in losses):
            failures.append(f"training diverged: the loss became {losses[-1]}")
    else:
        try:
            losses = fine_tune(candidate, mnist_x, mnist_y, train, cfg)
        except FloatingPointError as e:
            failures.append(f"training diverged: {e}")
    parent_right = reads_right(parent, held_out)
    entry["parent_metrics"] = measure(parent, test_x, test_y, parent_right)
    if not failures:
        candidate_right = reads_right(candidate, held_out)
        entry["metrics"] = measure(candidate, test_x, test_y, candidate_right) | held_out_changes(parent_right, candidate_right)
        failures = gate_failures(entry["metrics"], entry["parent_metrics"], cfg)
    if labels_now is not None and len(train.y) and (gone := taken_out_meanwhile(train, labels_now())):
        failures.append(f"{gone} of its {len(train.y)} training examples were removed, voted junk or relabelled while it trained: the next attempt trains without them")
    entry |= {"accepted": not failures, "gate_failures": failures, "losses": losses}
    entry |= {"seconds": round(time.perf_counter() - clock, 2), "finished_at": utc_now()}
    trained = None
    if not failures:
        metadata = {
            "round": entry["round"],
            "parent": parent_round,
            "architecture": parent_meta.get("architecture", "reference"),
            "train_config": parent_meta.get("train_config", {}) | {"method": cfg.method},
            "round_config": asdict(cfg) | {"start": start},  # what the round did ("auto" chose one)
            "training_data": {"mnist": parent_meta.get("training_data"), "people_example_ids": train.ids, "held_out_example_ids": held_out.ids},
            "metrics": entry["metrics"],
        }
        path = save_checkpoint(candidate, round_checkpoint_dir(state_dir, entry["round"]), metadata)
        entry["checkpoint"] = str(path.relative_to(state_dir))
        trained = (candidate.eval(), json.loads((path / "metadata.json").read_text()))
    append_line_durably(state_dir / ROUNDS_LOG, entry)  # the checkpoint first: a logged round always has one
    return entry, trained


def round_checkpoint_dir(state_dir: Path, round_: int) -> Path:
    return checkpoints_dir(state_dir) / f"round-{round_}"


def read_rounds_log(state_dir: Path) -> list[dict]:
    return read_complete_lines(state_dir / ROUNDS_LOG)[0]


def accepted_checkpoints(state_dir: Path) -> dict[int, Path]:
    """Every model that went live, by round: round-0, then each accepted round whose checkpoint is on disk."""
    out = {0: round0_checkpoint_dir(state_dir)}
    for entry in read_rounds_log(state_dir):
        if entry.get("accepted") and (state_dir / entry["checkpoint"] / "model.safetensors").is_file():
            out[entry["round"]] = state_dir / entry["checkpoint"]
    return out


def latest_model_dir(state_dir: Path) -> Path:
    """The checkpoint of the last accepted round (round-0 when none was)."""
    checkpoints = accepted_checkpoints(state_dir)
    return checkpoints[max(checkpoints)]


def metrics_by_round(state_dir: Path, log_entries: list[dict] | None = None) -> dict[int, dict]:
    """Each live-worthy model's own metrics: round 0 from its checkpoint, later rounds from the log
    (`log_entries`, when the caller read it already)."""
    out = {}
    round0_meta = round0_checkpoint_dir(state_dir) / "metadata.json"
    if round0_meta.is_file():
        out[0] = json.loads(round0_meta.read_text()).get("metrics", {}) | {"trained": "MNIST only"}
    for entry in read_rounds_log(state_dir) if log_entries is None else log_entries:
        if entry.get("accepted"):
            n = entry.get("n_held_out_examples") if entry["metrics"].get("held_out_accuracy") is not None else None
            # None where nothing was held out (the table shows "—", not 0); also fills logs from before measure() counted them
            out[entry["round"]] = entry["metrics"] | {"held_out_examples": n, "trained": how_trained(entry)}
    return out


def how_trained(entry: dict) -> str:
    """How an accepted round's model learned, for the tables: "from scratch (727)", "fine-tuned (72)" (its
    people's examples, besides MNIST), or a rollback's "round 1's model"."""
    if "restores" in entry:
        return f"round {entry['restores']}'s model"
    start = entry.get("start", entry.get("config", {}).get("start", "live"))  # logs from before "auto" say it in the config only
    return f"{'from scratch' if start == 'scratch' else 'fine-tuned'} ({entry.get('n_train_examples', 0)})"


def rollbacks(log_entries: list[dict]) -> dict[int, dict]:
    """{round: its log line} for each round that is a rollback (`python -m training.rollback`): the line's
    `restores` is the earlier round whose model it holds, `reason` why."""
    return {e["round"]: e for e in log_entries if e.get("accepted") and "restores" in e}


def round_label(round_: int, restored: dict[int, dict]) -> str:
    """"3", or "3 (round 1 again)" for a rollback (`restored`: `rollbacks` of the rounds log): the model
    card's and the Rounds tab's tables name a rollback's row so."""
    return f"{round_} (round {restored[round_]['restores']} again)" if round_ in restored else str(round_)


def rollback_note(metadata: dict) -> str:
    """" (round 1's model again, rolled back by ana: why)" for a round that is a rollback, else ""."""
    if "restores" not in metadata:
        return ""
    by = f" by {metadata['by']}" if metadata.get("by") else ""
    return f" (round {metadata['restores']}'s model again, rolled back{by}: {metadata.get('reason', '')})"


def rejected_at(log_entries: list[dict], live_round: int) -> list[int]:
    """The fooling examples there were when each candidate rejected since `live_round` went live started
    (0 for an attempt logged before they were counted)."""
    return [e.get("fooling_examples", 0) for e in log_entries if e.get("parent_round") == live_round and not e.get("accepted")]


def retrain_due_at(threshold: int, failed_at: list[int]) -> int:
    """Fooling examples at which a round's retraining is due: `threshold`; after failed attempts (started at
    the counts `failed_at`), `threshold` more than at the last of them, and never sooner than a threshold per
    attempt. Counted from the attempt, a backlog (flags stored while retraining was paused) brings one attempt,
    not one after another on nearly the same examples."""
    return max(threshold * (len(failed_at) + 1), max(failed_at, default=0) + threshold)


class RoundRunner:
    """The app's retraining: starts a round in a background thread when one is due, and swaps a
    passing candidate into the live model. One round at a time; predictions never wait for it.
    """

    def __init__(self, state_dir: Path, store: FlagStore, live, threshold: int, votes_required: int, cfg: RoundConfig = RoundConfig(), on_accepted=None):
        self.state_dir, self.store, self.live = state_dir, store, live
        self.on_accepted = on_accepted  # called (no arguments) after a new round goes live, e.g. to publish it
        self.threshold, self.votes_required, self.cfg = threshold, votes_required, cfg
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._catch_up_lock = threading.Lock()
        self.problem = ""  # the last round's crash, for the dashboard
        # Crashed rounds, by the live round they started from, as the fooling examples there were at each start:
        # like a rejected candidate, each puts the next attempt a threshold further, or a lasting fault (a full
        # disk) would retrain after every fooling flag.
        self.crashed_at: defaultdict[int, list[int]] = defaultdict(list)
        self.paused = ""  # why no round may start for now (e.g. the Hub's rounds are not restored yet)
        self.waiting = ""  # why a round that is due has not started: nothing new to learn yet (see nothing_to_learn)
        self._waiting_round = -1  # the live round `waiting` was found for
        self.unreadable = ""  # why the newest accepted round cannot go live (its checkpoint is damaged)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def waiting_for_votes(self) -> bool:
        """A round is due and only votes can start it (validation is on and no new example is verified)."""
        return bool(self.waiting) and self.votes_required > 0

    @property
    def live_round(self) -> int:
        return int(self.live.metadata.get("round", 0))

    def fooled_this_round(self) -> int:
        return self.store.fooled_by_round[self.live_round]

    def due_at(self, log_entries: list[dict] | None = None) -> int:
        """The fooling examples against the live round at which its next retraining starts: one threshold,
        and after candidates it rejected or rounds that crashed, a threshold past the last of them."""
        entries = read_rounds_log(self.state_dir) if log_entries is None else log_entries
        return retrain_due_at(self.threshold, rejected_at(entries, self.live_round) + self.crashed_at[self.live_round])

    def progress_note(self) -> str:
        """For the person whose flag just fooled the live model (and started no round): where retraining stands."""
        if self.running:
            return "A new model is being trained right now; the round after it learns from this example too."
        if self.paused or self.unreadable or read_hold(self.state_dir):
            return "Retraining is paused for now; this example counts toward the next round."
        if self.waiting:
            return f"Retraining is due ({self.fooled_this_round()} of {self.due_at()} fooling examples) but {self.waiting}."
        return f"{self.fooled_this_round()} of {self.due_at()} toward the next retraining round."

    def nothing_to_learn(self) -> str:
        """Why a round due now would learn nothing the live model has not, or "". With validation on, the
        fooling examples may still wait for their votes; some may be held out (never trained on). A round
        on what the live model learned already would only be retrained on the same data and recorded as
        an attempt, putting the next one a threshold further."""
        train, _ = split_examples(self.store, self.state_dir, self.votes_required, self.cfg.holdout_every)
        if not nothing_new([record.id for record, _ in train], self.live.metadata):
            return ""
        if self.votes_required:
            votes = f"{self.votes_required} agreeing vote{'s' if self.votes_required > 1 else ''} each"
            return f"waits for votes: it learns only verified examples ({votes}), and no new one is verified yet"
        return "waits for an example to learn from: the new ones are all held out (kept to measure the models, never trained on)"

    def catch_up(self) -> bool:
        """Serve a round that another process (`python -m training.rounds`) accepted on this state
        directory since this one went live; True when it swapped one in. One whose checkpoint cannot
        be read is left out (`self.unreadable` says why) and tried again at the next call."""
        with self._catch_up_lock:
            if self.running or self.paused:  # a running round swaps its own result in; a paused app waits for the Hub's
                return False
            checkpoints = accepted_checkpoints(self.state_dir)
            newest = max(checkpoints)
            if newest <= self.live_round:
                self.unreadable = ""
                return False
            try:
                self.live.swap(*load_checkpoint(checkpoints[newest]))
            except CheckpointError as e:  # the current model keeps serving; flags keep being stored
                if not self.unreadable:
                    log.error("round %d cannot go live: %s", newest, e)
                self.unreadable = (
                    f"Round {newest}, accepted by another process, cannot go live: {e}. Move the folder {checkpoints[newest]}"
                    " out of the state directory (or put a good copy in its place); retraining waits until then"
                )
                return False
            self.unreadable = ""
        log.info("round %d is live%s", newest, rollback_note(self.live.metadata) or ", accepted by another process")
        if self.on_accepted is not None:
            self.on_accepted()
        return True

    @contextlib.contextmanager
    def paused_for(self, why: str):
        """No round starts while the block runs (a maintainer's rollback from the page). Raises RoundBusy
        while a round trains, or while retraining is paused for another reason."""
        with self._start_lock:
            if self.running:
                raise RoundBusy("a round is training now: try again when it ends (the Rounds tab says when)")
            if self.paused:
                raise RoundBusy(f"retraining is paused ({self.paused}): try again when it resumes")
            self.paused = why
        try:
            yield
        finally:
            self.paused = ""

    def maybe_start(self, after_vote: bool = False) -> bool:
        """Start a round if one is due, none is running and it has something new to learn; True when one
        was started. `after_vote`: called because a vote was stored (it may have verified a new example)."""
        with self._start_lock:
            if self.running or self.paused:
                return False
            self.catch_up()  # due or not is counted against the newest round
            if self.unreadable:  # a round from the older live model would fork the lineage (refused as stale)
                return False
            if read_hold(self.state_dir):  # a maintainer's hold (training.hold): rounds trained by hand still go live above
                self.waiting = ""
                return False
            if self.fooled_this_round() < self.due_at():
                self.waiting = ""
                return False
            # With validation on, a new flag is never verified yet: only a vote can end a wait for votes. The
            # check reads the whole store (0.25 s at 50,000 flags): not again at every flag meanwhile.
            if self.waiting_for_votes and not after_vote and self._waiting_round == self.live_round:
                return False
            self.waiting, self._waiting_round = self.nothing_to_learn(), self.live_round
            if self.waiting:
                return False
            self._thread = threading.Thread(target=self._run, args=(self.fooled_this_round(),), name=f"retrain-round-{self.live_round + 1}", daemon=True)
            self._thread.start()
            return True

    def _run(self, fooling_examples: int) -> None:
        parent_round = self.live_round
        try:
            train, held_out = load_examples(self.store, self.state_dir, self.votes_required, self.cfg.holdout_every)
            labels_now = functools.partial(training_labels_now, self.store, self.state_dir, self.votes_required, self.cfg.holdout_every)
            entry, trained = run_round(self.state_dir, self.live.model, self.live.metadata, train, held_out, self.cfg, fooling_examples, labels_now)
            self.problem = ""
            if trained is not None:
                self.live.swap(*trained)
                how = "trained from scratch" if entry["start"] == "scratch" else "fine-tuned"
                log.info("round %d is live (%s on %d people's examples): MNIST test accuracy %.4f", entry["round"], how, entry["n_train_examples"], entry["metrics"]["mnist_test_accuracy"])
                if self.on_accepted is not None:
                    self.on_accepted()
            else:
                log.info("round %d candidate rejected: %s", entry["round"], "; ".join(entry["gate_failures"]))
        except Exception as e:  # the app keeps serving the current model
            log.exception("retraining failed")
            self.crashed_at[parent_round].append(fooling_examples)
            self.problem = f"Retraining failed ({type(e).__name__}: {e})"

    def status(self) -> str:
        """One paragraph for the dashboard: what is happening, or what happened last."""
        live_round = self.live_round
        if self.running:
            text = f"Retraining: a round-{live_round + 1} candidate is being trained and checked; round {live_round} keeps serving meanwhile."
            if hold := read_hold(self.state_dir):  # held after it started: the hold does not stop it
                text += f" Retraining is {hold_note(hold)}; {HELD_DURING_A_ROUND}"
            return text
        if self.paused:
            return f"Round {live_round} is live. Retraining is paused: {self.paused}."
        if self.unreadable:
            return f"Round {live_round} is live. {self.unreadable}."
        log_entries = read_rounds_log(self.state_dir)
        fooled, due = self.fooled_this_round(), self.due_at(log_entries)
        text = f"Round {live_round} is live{rollback_note(self.live.metadata)}. Fooling examples this round: {fooled} of {due} needed to retrain."
        if hold := read_hold(self.state_dir):
            text += f" Retraining is {hold_note(hold)}; no round starts until a maintainer resumes it."
        elif self.waiting and fooled >= due:
            text += f" Retraining {self.waiting}."
        if self.problem:
            text += f" {self.problem}; the next attempt waits for those."
        elif log_entries and not log_entries[-1]["accepted"]:
            text += f" The last candidate (round {log_entries[-1]['round']}) was rejected: {'; '.join(log_entries[-1]['gate_failures'])}."
        # Once a later round is live, only this says that a row of the table below holds an earlier round's model.
        earlier = [f"round {r} is round {e['restores']}'s model again ({e['reason']})" for r, e in rollbacks(log_entries).items() if r != live_round]
        if earlier:
            text += f" Rolled back: {'; '.join(earlier)}."
        return text


def main(argv=None) -> int:
    d = RoundConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--validation-votes", type=bounded(int, 0), default=0, help="agreeing votes that verify an example; 0 = every example counts (default 0)")
    p.add_argument("--method", choices=RETRAIN_METHODS, default=d.method, help=f"training method of the fine-tuning (default {d.method})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"fine-tuning steps (default {d.steps})")
    p.add_argument(
        "--start",
        choices=RETRAIN_STARTS,
        default=d.start,
        help=f"live: fine-tune the live model; scratch: train a new one on MNIST + people's examples; auto: fine-tune while there are fewer than {SCRATCH_FROM_EXAMPLES} to learn, then scratch (standard training only) (default auto)",
    )
    p.add_argument("--people-per-batch", type=int, default=d.new_per_batch, help=f"people's examples in each batch of {d.batch_size} (default {d.new_per_batch})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--max-mnist-drop", type=float, default=d.max_mnist_drop, help=f"gate: largest allowed fall of MNIST test accuracy (default {d.max_mnist_drop})")
    p.add_argument("--max-held-out-drop", type=float, default=d.max_held_out_drop, help="gate: largest allowed fall of accuracy on held-out people's examples, a fraction (default 0: none)")
    p.add_argument("--max-robust-drop", type=float, default=None, help="gate: largest allowed fall of FGSM ε=0.1 accuracy (default: not gated)")
    p.add_argument("--again", action="store_true", help="train a round even when the live model learned every example there is (another --method, labels votes have changed since) (default: refuse)")
    args = p.parse_args(argv)
    if args.steps < 1 or not math.isfinite(args.lr) or args.lr <= 0:
        p.error("--steps must be at least 1 and --lr a positive number")
    if not 1 <= args.people_per_batch <= d.batch_size:
        p.error(f"--people-per-batch must be between 1 and {d.batch_size}")
    for option, value in (("--max-mnist-drop", args.max_mnist_drop), ("--max-held-out-drop", args.max_held_out_drop), ("--max-robust-drop", args.max_robust_drop)):
        if problem := drop_problem(option, value):
            p.error(problem)
    state_dir = resolve_state_dir(args.state_dir, create=False)
    cfg = RoundConfig(start=args.start, steps=args.steps, new_per_batch=args.people_per_batch, lr=args.lr, max_mnist_drop=args.max_mnist_drop, max_held_out_drop=args.max_held_out_drop, max_robust_drop=args.max_robust_drop, method=args.method)
    try:
        parent, parent_meta = load_checkpoint(latest_model_dir(state_dir))
        store = FlagStore(flags_dir(state_dir), state_dir / "locks")
        try:
            train, held_out = load_examples(store, state_dir, args.validation_votes, cfg.holdout_every)
            fooling_examples = store.fooled_by_round[int(parent_meta.get("round", 0))]
            if not args.again and (problem := nothing_new(train.ids, parent_meta)):
                print(f"error: {problem}", file=sys.stderr)  # nothing recorded: a refused attempt would delay the app's next round
                return 2
            labels_now = functools.partial(training_labels_now, store, state_dir, args.validation_votes, cfg.holdout_every)
            entry, _ = run_round(state_dir, parent, parent_meta, train, held_out, cfg, fooling_examples, labels_now)
        finally:
            store.close()
    except (OSError, CheckpointError, RoundBusy, StaleParent) as e:  # no round-0 yet, a damaged or unwritable state directory, a round running or just accepted
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: entry[k] for k in ("round", "accepted", "gate_failures", "start", "n_train_examples", "n_held_out_examples", "parent_metrics", "seconds")} | {"metrics": entry.get("metrics")}, indent=2))
    return 0 if entry["accepted"] else 1


if __name__ == "__main__":
    sys.exit(main())
