"""Bring back, at start-up, the flags that the dataset repo has and this disk lacks.

A Space without persistent storage starts from an empty disk after every restart, while every
flag it collected was pushed to the dataset repo. The store's layout is append-only with one
writer per shard, so a file that exists here is the Hub's copy or newer: only missing files are
downloaded, and nothing here is ever replaced. Files are staged next to the store and renamed
into place, images before the metadata lines that reference them. The staging folder outlives a
failed attempt, so the next one downloads only what the last did not finish: a big store restored
over a flaky link or under the Hub's rate limits gets there instead of starting over every time.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
from collections import Counter
from pathlib import Path

from huggingface_hub import HfApi

from flagging.hub_sync import not_flags_repo
from flagging.store import not_store_files, removals_in

log = logging.getLogger(__name__)

RESTORED_FOLDERS = ("data/", "votes/", "removals/")  # records, images, votes, removals; the card is rewritten locally


def download_patterns(missing: list[str], remote: list[str]) -> list[str]:
    """`allow_patterns` that select exactly the `missing` files among the `remote` ones: "folder/*" for a
    folder all of whose files are missing (on a fresh disk: "data/*" and "votes/*"), the path itself otherwise.

    The Hub client matches every file of the repo against every pattern, so one pattern per file is
    quadratic: choosing 4,005 files took 4.6 s (bench/hub_restore.py), so about 48 minutes for a store
    of 50,000 flags (100,000 files), extrapolated.
    """
    def folders(path):
        while (path := posixpath.dirname(path)) not in ("", "/"):
            yield path

    remote_under = Counter(folder for path in remote for folder in folders(path))
    missing_under = Counter(folder for path in missing for folder in folders(path))
    patterns, covered = [], set()
    for path in sorted(missing):
        # the outermost folder whose files are all missing, if any ("data" on a fresh disk, or "data/<shard>")
        whole = [f for f in folders(path) if missing_under[f] == remote_under[f]]
        if not whole:
            patterns.append(path)
        elif whole[-1] not in covered:
            covered.add(whole[-1])
            patterns.append(whole[-1] + "/*")
    return patterns


class NotFlagsRepo(ValueError):
    """The dataset repo holds another dataset, not this app's flags."""


def restore_flags(api: HfApi, repo_id: str, store_root: Path) -> int:
    """Copy into `store_root` every record, image and vote file of dataset repo `repo_id` missing here; returns how many."""
    store_root = Path(store_root)
    if not api.repo_exists(repo_id, repo_type="dataset"):
        return 0  # a first start: nothing was pushed yet
    listed = api.list_repo_files(repo_id, repo_type="dataset")
    if foreign := not_store_files(listed):  # nothing of another dataset comes into the store
        raise NotFlagsRepo(not_flags_repo(repo_id, foreign))
    remote = [p for p in listed if p.startswith(RESTORED_FOLDERS)]
    # A drawing removed here before the Hub heard of it is missing on purpose: never bring it back.
    removed = {r.flag_id for r in removals_in(store_root)}
    missing = [p for p in remote if not (store_root / p).exists() and Path(p).name.removesuffix(".png").removesuffix("-input") not in removed]
    if not missing:
        return 0
    # Same file system: renames are atomic. Kept when the download fails: the Hub client skips every
    # file it finished there (it records each one's commit), so a retry resumes.
    staging = store_root.parent / f".{store_root.name}-restore"
    api.snapshot_download(repo_id, repo_type="dataset", allow_patterns=download_patterns(missing, remote), local_dir=staging)
    # Images first: a metadata line must never point at an image that is not there yet.
    for path in sorted(missing, key=lambda p: p.endswith(".jsonl")):
        target = store_root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / path, target)
    shutil.rmtree(staging, ignore_errors=True)
    log.info("restored %d files of %s from dataset repo %s", len(missing), store_root, repo_id)
    return len(missing)
