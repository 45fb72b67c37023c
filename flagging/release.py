"""The verified examples as a dataset ready to train and test on: agreed labels, the rounds' split.

    python -m flagging.release --out DIR [--state-dir DIR] [--validation-votes K]
    HF_TOKEN=hf_... python -m flagging.release --out DIR --push you/dadc-digits-verified

The raw store (and its Hub copy) holds every attempt with the label its author gave, and the
votes beside it; what was decided is left to the reader. A release decides it once, as the
retraining rounds do: only verified, non-junk examples, each with its agreed label, split into
`train` and `test`, where `test` is exactly the held-out examples (those of every 5th person in
order of arrival) that no round's model was ever trained on. Written as data/{train,test}.parquet
with a dataset card, so `datasets.load_dataset(DIR)` (or the Hub repo) loads it; `--push` uploads
the folder as one commit (removing a split the Hub copy has and this release lacks). A split with
no examples is left out, since `datasets` refuses a folder with an empty parquet file; with nothing
verified at all, nothing is written. The card names no `configs`: with them, `datasets` caches a local folder
under a key that ignores its files, and a later release in the same folder would load as the
earlier one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from flagging.store import FlagStore, open_collected_store
from flagging.validation import held_out_split

SPLITS = ("train", "test")
CARD = """---
license: cc-by-4.0
task_categories:
- image-classification
pretty_name: DADC handwritten digits, verified
---
# Adversarially collected handwritten digits: verified release

Digits people drew in a browser while trying to fool an MNIST model, retrained on them round after
round (dynamic adversarial data collection). Only examples verified by other people ({validation})
and not judged junk are here, each with its agreed label. {counts}{no_test}

- `test`: the examples of every 5th person in order of arrival (a signed-in name, else a browser
  session), held out by the retraining rounds: no round's model was trained on any of them, so
  `test` measures a model on people it never learned from. `train`: the rest.
- `image`: the 28×28 image the model saw (white ink on black, like MNIST); `drawing`: the raw canvas.
- `label`: the agreed digit; `author_label`: the digit its author gave; `verdict`: `correct` (the
  validators agreed with the author), `incorrect` (they gave another digit) or `unvalidated`.
- `prediction`, `model_round`: what the model live at the time read it as; `fooled`: `label` ≠ `prediction`.
  Per round, the examples that fooled round *r*'s model are `model_round == r and fooled`.

## Load it

```python
import datasets

{split} = datasets.load_dataset("{load_name}", split="{split}").with_format("torch", columns=["image", "label"])[:]
images = {split}["image"].float() / 255  # (N, 1, 28, 28) in [0, 1], ink at 1: the input of the rounds' models
labels = {split}["label"]
```

A round's model (its Hub repo's card shows how to load one) scores
`(model(images).argmax(1) == labels).float().mean()` on it.
"""


NO_TEST = """

There is no `test` split yet: no held-out person's example has been verified and kept (not junk), or
fewer than 5 people have flagged."""


class NothingToRelease(ValueError):
    """No verified, non-junk example yet: a release would be an empty dataset, which `datasets` cannot load."""


def release_rows(store: FlagStore, votes_required: int, trained_on: frozenset[str]) -> dict[str, list[dict]]:
    """{split: rows}, each row the record's fields, its images' bytes and the decision on it.
    `trained_on`: the examples the rounds' models trained on, which stay in `train`."""
    store.refresh()
    splits = dict(zip(SPLITS, held_out_split(store.records.values(), list(store.votes), votes_required, trained_on=trained_on, removed=list(store.removals))))
    out = {}
    for split, items in splits.items():
        rows = []
        for record, label in items:
            folder = store.data_dir / record.shard
            verdict = "unvalidated" if votes_required == 0 else ("correct" if label == record.label else "incorrect")
            rows.append(
                {
                    "id": record.id,
                    "image": {"bytes": (folder / record.model_input_file_name).read_bytes(), "path": None},
                    "drawing": {"bytes": (folder / record.drawing_file_name).read_bytes(), "path": None},
                    "label": label,
                    "author_label": record.label,
                    "verdict": verdict,
                    "prediction": record.prediction,
                    "model_round": record.model_round,
                    "fooled": label != record.prediction,
                    "created_at": record.created_at,
                    "username": record.username,
                }
            )
        out[split] = rows
    return out


RELEASE_FILES = {"README.md", "data/train.parquet", "data/test.parquet"}


def replaceable(out: Path) -> bool:
    """Only an empty folder or an earlier release is ever replaced: never a folder that holds anything else."""
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if not p.is_dir()} <= RELEASE_FILES


def write_release(store: FlagStore, votes_required: int, out: Path, trained_on: frozenset[str], repo_id: str | None = None) -> dict[str, int]:
    """Write the release folder (parquet per split + card) in one rename; returns the rows per split.
    The card's snippet loads it from `repo_id` when it is to be pushed there, else from `out`."""
    import datasets

    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "image": datasets.Image(),
            "drawing": datasets.Image(),
            "label": datasets.ClassLabel(names=[str(d) for d in range(10)]),
            "author_label": datasets.Value("int64"),
            "verdict": datasets.Value("string"),
            "prediction": datasets.Value("int64"),
            "model_round": datasets.Value("int64"),
            "fooled": datasets.Value("bool"),
            "created_at": datasets.Value("string"),
            "username": datasets.Value("string"),
        }
    )
    if not replaceable(out):
        raise FileExistsError(f"{out} holds files that are not a release")
    rows = release_rows(store, votes_required, trained_on)
    if not any(rows.values()):
        raise NothingToRelease("nothing to release: no verified, non-junk examples yet")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))  # never a half-written release
    old = None
    try:
        (staging / "data").mkdir()
        for split, split_rows in rows.items():
            if not split_rows:  # an empty parquet file makes `datasets` refuse the whole folder
                continue
            columns = {name: [row[name] for row in split_rows] for name in features}
            datasets.Dataset.from_dict(columns, features=features).to_parquet(staging / "data" / f"{split}.parquet")
        validation = f"{votes_required} agreeing vote{'s' * (votes_required > 1)}, or a maintainer's" if votes_required else "validation was off: every example counts, with its author's label"
        fooled = sum(row["fooled"] for split_rows in rows.values() for row in split_rows)
        counts = f"{len(rows['train'])} training and {len(rows['test'])} test examples, {fooled} of which fooled the model."
        card = CARD.format(validation=validation, counts=counts, no_test="" if rows["test"] else NO_TEST, split="test" if rows["test"] else "train", load_name=repo_id or out.as_posix())
        (staging / "README.md").write_text(card)
        if out.exists():  # moved aside, not deleted, until the new release is in place
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}-old-", dir=out.parent))
            os.rename(out, old / out.name)
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if old is not None and not out.exists():
            os.rename(old / out.name, out)  # the earlier release back in place
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return {split: len(split_rows) for split, split_rows in rows.items()}


class NotAReleaseRepo(ValueError):
    """The repo holds files no release writes: another dataset, which the push would delete."""


def files_no_release_has(api, repo_id: str) -> list[str]:
    """The files of the dataset repo `repo_id` that no release writes; [] for a new or empty repo."""
    from flagging.hub_sync import files_in_repo

    return sorted(set(files_in_repo(api, repo_id, "dataset")) - RELEASE_FILES - {".gitattributes"})


def push_release(folder: Path, repo_id: str, endpoint: str | None = None) -> str:
    """Upload the release folder to a Hub dataset repo as one commit; the token comes from HF_TOKEN.
    Only to a new repo or an earlier release: the push deletes what the release does not have."""
    from huggingface_hub import HfApi

    from flagging.hub_sync import first_few

    api = HfApi(endpoint=endpoint, token=os.environ.get("HF_TOKEN") or None)
    if foreign := files_no_release_has(api, repo_id):
        raise NotAReleaseRepo(
            f"{repo_id} holds files no release has ({first_few(foreign)}): another dataset, perhaps the app's collected flags, which this push "
            f"would overwrite and delete. Push the release to a repo of its own, e.g. {repo_id}-verified"
        )
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    # delete_patterns: a split the new release lacks must not stay behind from an earlier one
    return api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type="dataset", commit_message="Verified release", delete_patterns=["data/*"]).oid


def main(argv=None) -> int:
    from data.state_dir import in_flag_store_problem, resolve_state_dir
    from flagging.hub_sync import hub_endpoint
    from training.rounds import trained_example_ids

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="folder to write the release to (an earlier release there is replaced)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--validation-votes", type=int, default=0, help="agreeing votes that verify an example; 0 = every example counts (default 0)")
    p.add_argument("--push", metavar="REPO", default=None, help="also upload it to this Hub dataset repo (needs HF_TOKEN)")
    p.add_argument("--hub-endpoint", type=hub_endpoint, default=os.environ.get("HF_ENDPOINT") or None, help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")
    args = p.parse_args(argv)
    if args.validation_votes < 0:
        p.error("--validation-votes must be 0 or more")
    if args.push and not os.environ.get("HF_TOKEN"):
        p.error("--push needs HF_TOKEN in the environment")
    if not replaceable(args.out):
        p.error(f"{args.out} holds files that are not a release: give a new or empty folder, or an earlier release")
    state_dir = resolve_state_dir(args.state_dir, create=False)
    if problem := in_flag_store_problem(args.out, state_dir):
        p.error(problem)
    try:
        store = open_collected_store(state_dir)
    except FileNotFoundError as e:
        print(f"error: {e}; nothing was written", file=sys.stderr)
        return 2
    try:
        counts = write_release(store, args.validation_votes, args.out, trained_example_ids(state_dir), repo_id=args.push)
    except NothingToRelease as e:
        print(f"error: {e} in {state_dir / 'flags'}; nothing was written", file=sys.stderr)
        return 2
    finally:
        store.close()
    print(f"wrote {args.out}: {counts['train']} train, {counts['test']} test examples")
    if args.push:
        try:
            commit = push_release(args.out, args.push, args.hub_endpoint)
        except NotAReleaseRepo as e:
            print(f"error: {e}; nothing was pushed (the release is in {args.out})", file=sys.stderr)
            return 2
        except Exception as e:  # the Hub's errors: the local release stays
            print(f"error: could not push to {args.push}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        print(f"pushed to {args.push} (commit {commit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
