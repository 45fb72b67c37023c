"""An append-only store of flagged drawings in Hugging Face `imagefolder` layout.

    <root>/README.md                     dataset card: how to load the flags and the votes
    <root>/data/<shard>/metadata.jsonl   one shard per writer process: records, one JSON line each
    <root>/data/<shard>/<id>.png         the raw canvas
    <root>/data/<shard>/<id>-input.png   the 28×28 model input
    <root>/votes/<shard>.jsonl           validation votes
    <root>/removals/<shard>.jsonl        drawings a maintainer removed for good (ids and reasons, no images)

`datasets.load_dataset("imagefolder", data_dir=<root>/data)` loads it at any moment.

Durability: image files are written to a temp name, fsynced and renamed; the metadata line
is appended with one write and fsynced, under the store lock, before `append` returns. A
crash can leave a temp file, an image without its line, or a partial last line; `FlagStore`
repairs those in shards whose writer is gone (its lock file is free) when it opens.
Several processes may write to one root: each holds an exclusive lock on its own shard.

Removal: the one exception to append-only. A removal line is appended first; then the record's
line is cut from its shard's metadata (the file is rewritten aside and renamed over) and its two
images are deleted, by the shard's writer or, for a shard whose writer is gone, by whoever opens
it; every process forgets the record as soon as it reads the removal line.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import threading
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from data.state_dir import flags_dir, fsync_path

log = logging.getLogger(__name__)

METADATA = "metadata.jsonl"
# Rotate to a new shard folder after this many records: a Hub push then never re-uploads one huge
# metadata file, and a folder keeps under the 10,000 entries per folder the Hub recommends (two
# images per record, plus metadata.jsonl).
SHARD_MAX_RECORDS = 4_999

def dataset_card(name: str) -> str:
    """The store's dataset card; its snippet loads `name`: the Hub repo the store is pushed to, else its folder.

    No `configs`: `datasets` reads all of a repo's configs with one builder (a `votes` config of JSON
    lines loaded no rows under the image folder's), and caches a local folder that has them under a
    key that ignores its files (a second load returned the first load's flags).
    """
    return f"""---
license: cc-by-4.0
task_categories:
- image-classification
pretty_name: DADC handwritten digits
---
# Adversarially collected handwritten digits

Digits drawn by people in a browser while trying to fool an MNIST model, with the label they
gave, the model's prediction and probabilities, and whether it was fooled. Collected with
dynamic adversarial data collection (DADC): the model is retrained on these round after round.

Every attempt is here as it came, with its author's label: nothing is verified and junk is
included. The votes beside it are other people's validation votes; a verified release
(`python -m flagging.release`) is the data to train and test on.

## Load it

```python
import datasets

flags = datasets.load_dataset("{name}", split="train")  # one row per attempt
votes = datasets.load_dataset("{name}", data_files="votes/*.jsonl", split="train")  # one row per vote
```

- flags: `drawing`, the raw canvas (PNG); `model_input`, the 28×28 image the model saw (white ink on
  black); `label`, the digit the person says they drew; `prediction`, `probabilities`, `model_round`,
  the model's answer; `fooled`, prediction ≠ label; `username`, the Hugging Face name of a signed-in
  person (else empty); `session_hash`, the browser session; `id`, `created_at`, `dedupe_key`.
- votes: `flag_id`, the `id` of the attempt voted on; `verdict`, `correct`, `incorrect` or `junk`;
  `corrected_label`, the right digit for `incorrect` (else -1); `reason`, why it is junk;
  `is_maintainer`, a maintainer's vote decides alone; `username`, `session_hash`, `created_at`.
- `removals/*.jsonl` lists the drawings a maintainer removed for good (offensive, or their author asked):
  `flag_id`, `reason`, `username`, `created_at`; their line and images are gone from `data/`.

The votes need their own `data_files`: without them `datasets` reads this folder as images with their
metadata, and the votes are neither.
"""


# The card of the first stores declared the votes as a config, which `datasets` could not load (see
# the card's last lines): a store holding it gets the current card when it opens.
FIRST_CARD_SHA256 = "614adc94a3d56ec0c6cd4dfa7f3820d6a213d403552a5ace0b2d247513d1580e"


class StoreError(RuntimeError):
    """The store could not save; the message is meant for the person flagging."""


@dataclass(frozen=True)
class FlagRecord:
    id: str
    drawing_file_name: str
    model_input_file_name: str
    label: int
    prediction: int
    probabilities: list[float]
    model_round: int
    fooled: bool
    created_at: str
    session_hash: str
    username: str  # "" when nobody is logged in: one type per column keeps shards loadable together
    dedupe_key: str
    shard: str = field(default="", compare=False)


@dataclass(frozen=True)
class Vote:
    id: str
    flag_id: str
    verdict: str  # "correct" | "incorrect" | "junk"
    corrected_label: int  # the right digit when verdict is "incorrect", else -1
    reason: str  # why it is junk, else ""
    session_hash: str
    username: str
    is_maintainer: bool
    created_at: str


# A removal's reason is pushed with it, for a public audience: a sentence, not an essay.
MAX_REMOVAL_REASON = 200


def public_reason(text: str) -> str:
    """An argparse type for a --reason that is recorded and pushed with what it explains (a removal, a
    rollback): stripped, never empty, at most MAX_REMOVAL_REASON characters."""
    reason = text.strip()
    if not reason:
        raise argparse.ArgumentTypeError("must say why (e.g. 'offensive', 'its author asked', 'round 3 learned vandalised labels')")
    if len(reason) > MAX_REMOVAL_REASON:
        raise argparse.ArgumentTypeError(f"is {len(reason)} characters; keep it to {MAX_REMOVAL_REASON}")
    return reason


@dataclass(frozen=True)
class Removal:
    id: str
    flag_id: str
    shard: str  # the shard holding the record's line and images
    reason: str
    username: str  # the maintainer who removed it
    created_at: str
    # Its place in the line of people (validation.held_out_split), so that a removal moves nobody between
    # training and held-out: when it was flagged, and a token of who flagged it (not the name itself).
    flagged_at: str = ""
    person: str = ""


def person_key(username: str, session_hash: str) -> str:
    """Who drew a record, as far as the app can tell: the signed-in name, else the browser session."""
    return f"user:{username}" if username else f"session:{session_hash}"


def drawings_of_the_person_of(records, drawing: FlagRecord) -> list[FlagRecord]:
    """Every one of `records` by the person who drew `drawing` (same signed-in name, else same browser session), oldest first."""
    who = person_key(drawing.username, drawing.session_hash)
    return sorted((r for r in records if person_key(r.username, r.session_hash) == who), key=lambda r: r.created_at)


def describe_drawing(record: FlagRecord) -> str:
    """"a 1 read as 7, flagged 2026-11-28 10:02 UTC against round 1 by ana": for a maintainer about to remove it."""
    author = record.username or "an anonymous session"
    return f"a {record.label} read as {record.prediction}, flagged {record.created_at[:16].replace('T', ' ')} UTC against round {record.model_round} by {author}"


def person_token(key: str) -> str:
    """A person key that can be compared but not read (what a removal keeps of its author)."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def dedupe_key(session_hash: str, label: int, drawing_png: bytes) -> str:
    """Same drawing, same label, same session → same key: a retry or double click stores once."""
    return hashlib.sha256(f"{session_hash}\0{label}\0".encode() + hashlib.sha256(drawing_png).digest()).hexdigest()


def write_durably(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def append_line_durably(path: Path, obj: dict) -> None:
    """Append one JSON line with a single write; on failure cut the file back to where it was."""
    line = (json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write to {path}")
            os.fsync(fd)
        except BaseException:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def read_complete_lines(path: Path, offset: int = 0) -> tuple[list[dict], int]:
    """JSON objects from complete lines after `offset`; returns them and the new offset."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1  # a partial last line (being written, or torn by a crash) waits
    rows = []
    for raw in data[:end].splitlines():
        try:
            rows.append(json.loads(raw))
        except json.JSONDecodeError:
            log.warning("skipping a corrupt line in %s", path)
    return rows, offset + end


# Every file a store holds (and pushes), by its path in the store or its Hub repo.
STORE_FILE = re.compile(r"README\.md|\.gitattributes|data/[^/]+/(metadata\.jsonl|[^/]+\.png)|(votes|removals)/[^/]+\.jsonl")


def not_store_files(paths) -> list[str]:
    """The paths a flag store never writes: in a Hub repo, the sign of another dataset."""
    return sorted(p for p in paths if not STORE_FILE.fullmatch(p))


def removals_in(root: Path) -> list[Removal]:
    """Every removal recorded in the store at `root` (complete lines of its removals/*.jsonl)."""
    return [Removal(**row) for path in sorted(Path(root).glob("removals/*.jsonl")) for row in read_complete_lines(path)[0]]


def is_line_of(line: bytes, ids: set[str]) -> bool:
    """Whether a metadata line is the record of one of `ids` (a torn line is nobody's)."""
    if not any(i.encode() in line for i in ids):
        return False
    try:
        return json.loads(line)["id"] in ids
    except (json.JSONDecodeError, KeyError):
        return False


class FlagStore:
    """The flagged-examples store: append records and votes, read them back, all process-safe.

    Args:
        root: the store folder (inside the state directory; what the Hub sync pushes).
        lock_dir: where writer locks live (outside `root`, so they are never pushed).

    >>> store = FlagStore(state_dir / "flags", state_dir / "locks")
    >>> record, duplicate = store.append(fields, drawing_png, input_png)
    """

    def __init__(self, root: Path, lock_dir: Path, card_name: str | None = None):
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.votes_dir = self.root / "votes"
        self.removals_dir = self.root / "removals"
        self.lock_dir = Path(lock_dir)
        self.lock = threading.Lock()  # shared with the Hub sync: no push sees a half-written record
        for d in (self.data_dir, self.votes_dir, self.removals_dir, self.lock_dir):
            d.mkdir(parents=True, exist_ok=True)
        self._write_card(card_name)
        self._repair_abandoned_shards()
        # State: everything read so far from every shard, and how far each file was read.
        self.records: dict[str, FlagRecord] = {}
        self.votes: list[Vote] = []
        self.removals: list[Removal] = []
        self.removed: set[str] = set()
        # Fooling records per model round, counted as records come in: retraining checks it after every flag.
        self.fooled_by_round: Counter[int] = Counter()
        # Drawings and fooling drawings per person (`person_key`), counted the same way: each flag's answer
        # tells its author their tally, and a maintainer's Validate question how much more the author drew.
        self.drawings_by_person: Counter[str] = Counter()
        self.fooled_by_person: Counter[str] = Counter()
        self._by_dedupe_key: dict[str, str] = {}
        self._offsets: dict[Path, int] = {}
        self._inodes: dict[Path, int] = {}  # a metadata file cut by a removal is a new file: read it again
        self._not_yet_erased: dict[str, str] = {}  # removed id → its shard, until its line and images are gone
        self._shard: str | None = None
        self._shard_lock_fd: int | None = None
        self._shard_count = 0
        self.refresh()

    def _write_card(self, name: str | None) -> None:
        """Write the dataset card if it is missing, is the first stores' card, or loads another name than
        `name` (the Hub repo the app now pushes to). Tools that only read the store pass no name and
        leave a card as it is."""
        card = self.root / "README.md"
        current = card.read_bytes() if card.exists() else None
        wanted = dataset_card(name or self.root.as_posix()).encode()
        if current is None or hashlib.sha256(current).hexdigest() == FIRST_CARD_SHA256 or (name and current != wanted):
            try:
                write_durably(card, wanted)
            except OSError as e:
                if current is None:
                    raise
                log.warning("could not update the dataset card %s: %s", card, e.strerror or e)

    # --- writer shard and crash repair ---

    def _lock_path(self, shard: str) -> Path:
        return self.lock_dir / f"{shard}.lock"

    def _try_lock(self, shard: str) -> int | None:
        fd = os.open(self._lock_path(shard), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            os.close(fd)
            return None

    def _repair_abandoned_shards(self) -> None:
        for shard_dir in sorted(p for p in self.data_dir.iterdir() if p.is_dir()):
            fd = self._try_lock(shard_dir.name)
            if fd is None:
                continue  # a live writer owns it
            try:
                self._repair_shard(shard_dir, self.votes_dir / f"{shard_dir.name}.jsonl")
            finally:
                os.close(fd)

    def _repair_shard(self, shard_dir: Path, votes_file: Path) -> None:
        for tmp in shard_dir.glob("*.tmp"):
            tmp.unlink()
        for jsonl in (shard_dir / METADATA, votes_file):
            if jsonl.exists():
                data = jsonl.read_bytes()
                end = data.rfind(b"\n") + 1
                if end != len(data):
                    log.warning("repairing %s: dropping a torn last line", jsonl)
                    write_durably(jsonl, data[:end])
        rows, _ = read_complete_lines(shard_dir / METADATA)
        referenced = {row[k] for row in rows for k in ("drawing_file_name", "model_input_file_name")}
        for png in shard_dir.glob("*.png"):
            if png.name not in referenced:  # written, never acknowledged: the crash came first
                log.warning("repairing %s: removing unreferenced image %s", shard_dir.name, png.name)
                png.unlink()

    def _writer_shard(self) -> Path:
        """This process's shard, created (and locked) on first write; rotated when full."""
        if self._shard is None or self._shard_count >= SHARD_MAX_RECORDS:
            if self._shard_lock_fd is not None:
                os.close(self._shard_lock_fd)
            shard = f"{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
            self._shard_lock_fd = self._try_lock(shard)
            (self.data_dir / shard).mkdir()
            self._shard, self._shard_count = shard, 0
        return self.data_dir / self._shard

    def close(self) -> None:
        if self._shard_lock_fd is not None:
            os.close(self._shard_lock_fd)
            self._shard_lock_fd = None

    # --- reading ---

    def refresh(self) -> None:
        """Read whatever any writer (this process or another) appended since the last call."""
        with self.lock:
            for path in sorted(self.removals_dir.glob("*.jsonl")):  # first: a removed record is never read in
                rows, self._offsets[path] = read_complete_lines(path, self._offsets.get(path, 0))
                for row in rows:
                    self._forget(Removal(**row))
            for path in sorted(self.data_dir.glob(f"*/{METADATA}")):
                with contextlib.suppress(FileNotFoundError):
                    stat = path.stat()
                    if self._inodes.setdefault(path, stat.st_ino) != stat.st_ino or stat.st_size < self._offsets.get(path, 0):
                        self._inodes[path], self._offsets[path] = stat.st_ino, 0  # rewritten by a removal: read it whole
                rows, self._offsets[path] = read_complete_lines(path, self._offsets.get(path, 0))
                for row in rows:
                    if row["id"] not in self.removed:
                        self._remember(FlagRecord(**row, shard=path.parent.name))
            for path in sorted(self.votes_dir.glob("*.jsonl")):
                rows, self._offsets[path] = read_complete_lines(path, self._offsets.get(path, 0))
                self.votes.extend(Vote(**row) for row in rows)
            self._erase_what_is_ours()

    def _remember(self, record: FlagRecord) -> None:
        """Index a record read or written for the first time (called under `self.lock`)."""
        if record.id in self.records:
            return
        self.records[record.id] = record
        self._by_dedupe_key.setdefault(record.dedupe_key, record.id)
        self.fooled_by_round[record.model_round] += record.fooled
        who = person_key(record.username, record.session_hash)
        self.drawings_by_person[who] += 1
        self.fooled_by_person[who] += record.fooled

    def _forget(self, removal: Removal) -> None:
        """Drop a removed record from everything read (called under `self.lock`)."""
        if removal.flag_id in self.removed:
            return
        self.removals.append(removal)
        self.removed.add(removal.flag_id)
        self._not_yet_erased[removal.flag_id] = removal.shard
        record = self.records.pop(removal.flag_id, None)
        if record is not None:
            if self._by_dedupe_key.get(record.dedupe_key) == record.id:
                del self._by_dedupe_key[record.dedupe_key]
            self.fooled_by_round[record.model_round] -= record.fooled
            who = person_key(record.username, record.session_hash)
            self.drawings_by_person[who] -= 1
            self.fooled_by_person[who] -= record.fooled

    def _erase_what_is_ours(self) -> None:
        """Cut removed records out of this process's shard and of shards whose writer is gone; another
        live writer's shard is left to that writer (called under `self.lock`)."""
        for shard in sorted(set(self._not_yet_erased.values())):
            ids = {i for i, s in self._not_yet_erased.items() if s == shard}
            fd = None if shard == self._shard else self._try_lock(shard)
            if shard != self._shard and fd is None:
                continue
            try:
                self._erase(self.data_dir / shard, ids)
            except OSError as e:  # a read-only or full disk: the record stays forgotten, erased at a later refresh
                log.warning("could not erase removed drawings from %s yet: %s", shard, e.strerror or e)
                continue
            finally:
                if fd is not None:
                    os.close(fd)
            for i in ids:
                del self._not_yet_erased[i]

    def _erase(self, shard_dir: Path, ids: set[str]) -> None:
        """The metadata without the lines of `ids` (rewritten aside, renamed over), then their images."""
        metadata = shard_dir / METADATA
        if metadata.exists():
            lines = metadata.read_bytes().splitlines(keepends=True)
            kept = [line for line in lines if not is_line_of(line, ids)]
            if len(kept) != len(lines):
                write_durably(metadata, b"".join(kept))  # a new file: every reader reads it again (`refresh`)
        for i in ids:
            for name in (f"{i}.png", f"{i}-input.png"):
                (shard_dir / name).unlink(missing_ok=True)
        if shard_dir.exists():
            fsync_path(shard_dir)

    def tally_of_the_person_of(self, record: FlagRecord) -> tuple[int, int]:
        """(drawings, fooling drawings) stored from the person who drew `record`, as of the last refresh."""
        who = person_key(record.username, record.session_hash)
        return self.drawings_by_person[who], self.fooled_by_person[who]

    def find(self, id_or_prefix: str) -> FlagRecord:
        """The record whose id is or starts with `id_or_prefix` (the 8 characters a flag's receipt shows);
        KeyError with a message saying why not."""
        wanted = id_or_prefix.strip().lower()
        self.refresh()
        if len(wanted) < 8:
            raise KeyError(f"give at least the 8 characters of the receipt, not {id_or_prefix!r}")
        with self.lock:
            matches = [r for i, r in self.records.items() if i.startswith(wanted)]
            removed = next((r for r in self.removals if r.flag_id.startswith(wanted)), None)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyError(f"{len(matches)} drawings' ids start with {wanted}: give more of it")
        if removed:
            raise KeyError(f"{wanted} was already removed on {removed.created_at[:10]} ({removed.reason})")
        raise KeyError(f"no stored drawing has the id {wanted}")

    # --- writing ---

    def append(self, fields: dict, drawing_png: bytes, model_input_png: bytes) -> tuple[FlagRecord, bool]:
        """Store one record durably; returns (record, duplicate). A duplicate stores nothing new.

        `fields` holds label, prediction, probabilities, model_round, fooled, session_hash, username.
        Raises StoreError when the store cannot be written (read-only, full disk, ...).
        """
        key = dedupe_key(fields["session_hash"], fields["label"], drawing_png)
        self.refresh()
        with self.lock:
            if key in self._by_dedupe_key:
                return self.records[self._by_dedupe_key[key]], True
            record_id = uuid.uuid4().hex
            try:
                shard_dir = self._writer_shard()
                record = FlagRecord(
                    id=record_id,
                    drawing_file_name=f"{record_id}.png",
                    model_input_file_name=f"{record_id}-input.png",
                    created_at=utc_now(),
                    dedupe_key=key,
                    shard=shard_dir.name,
                    **fields,
                )
                write_durably(shard_dir / record.drawing_file_name, drawing_png)
                write_durably(shard_dir / record.model_input_file_name, model_input_png)
                fsync_path(shard_dir)
                row = {k: v for k, v in asdict(record).items() if k != "shard"}
                append_line_durably(shard_dir / METADATA, row)
            except OSError as e:
                for name in (f"{record_id}.png", f"{record_id}-input.png"):
                    with contextlib.suppress(OSError):  # best effort: a read-only disk has nothing to undo
                        (self.data_dir / (self._shard or "") / name).unlink(missing_ok=True)
                raise StoreError(f"Could not save your drawing: {e.strerror or e}. Predictions still work.") from e
            self._shard_count += 1
            self._remember(record)
            self._offsets[shard_dir / METADATA] = (shard_dir / METADATA).stat().st_size
            return record, False

    def add_vote(self, vote_fields: dict) -> Vote:
        """Store one validation vote durably."""
        with self.lock:
            vote = Vote(id=uuid.uuid4().hex, created_at=utc_now(), **vote_fields)
            self._append_to_own_log(self.votes_dir, vote, "Could not save your vote: {}.")
            self.votes.append(vote)
            return vote

    def _append_to_own_log(self, folder: Path, row, failure: str) -> None:
        """Append `row` durably to this writer's file in `folder` (votes/, removals/); StoreError with
        `failure` filled in if it cannot (called under `self.lock`)."""
        try:
            path = folder / f"{self._writer_shard().name}.jsonl"
            append_line_durably(path, asdict(row))
        except OSError as e:
            raise StoreError(failure.format(e.strerror or e)) from e
        self._offsets[path] = path.stat().st_size

    def remove(self, flag_id: str, reason: str, username: str) -> Removal:
        """Remove a record for good: its line and images leave the store (see the module's docstring).

        Raises KeyError for an unknown id, StoreError when the removal cannot be recorded.
        """
        return self.remove_many([flag_id], reason, username)[0]

    def remove_many(self, flag_ids: list[str], reason: str, username: str) -> list[Removal]:
        """Remove records for good, one removal each (a person's vandalism at once), erasing the shards once.

        Raises KeyError for an unknown id (nothing removed), StoreError when a removal cannot be recorded
        (the message says which were removed before it).
        """
        self.refresh()
        with self.lock:
            records = [self.records[i] for i in flag_ids]  # every id known before anything is written
            done = []
            try:
                for k, record in enumerate(records):
                    removal = Removal(
                        id=uuid.uuid4().hex,
                        flag_id=record.id,
                        shard=record.shard,
                        reason=reason,
                        username=username,
                        created_at=utc_now(),
                        flagged_at=record.created_at,
                        person=person_token(person_key(record.username, record.session_hash)),
                    )
                    failure = "Could not record the removal: {}. Nothing was removed."
                    if len(records) > 1:
                        before = f"; the {k} before it were" if k else ""
                        failure = f"Could not record the removal of {record.id[:8]}: {{}}. It and the {len(records) - k - 1} after it were not removed{before}."
                    self._append_to_own_log(self.removals_dir, removal, failure)
                    self._forget(removal)
                    done.append(removal)
            finally:
                if done:
                    self._erase_what_is_ours()
            return done


def open_collected_store(state_dir: Path) -> FlagStore:
    """The store an app collected in `state_dir`, for the tools that read it (a release, a removal, the
    round matrix). A folder without one is refused rather than given a new, empty store: it is most
    likely a mistyped --state-dir, which is left as it was."""
    if not (flags_dir(state_dir) / "data").is_dir():
        raise FileNotFoundError(f"no flagged examples in {flags_dir(state_dir)}: is {state_dir} the app's state directory?")
    return FlagStore(flags_dir(state_dir), state_dir / "locks")
