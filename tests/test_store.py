"""The flag store on real files: durable, exactly-once, crash-repaired, always loadable with `datasets`."""

import contextlib
import io
import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
from PIL import Image

import flagging.store as store_module
from flagging.dataset import load_flags
from flagging.store import FlagStore, StoreError, dataset_card, person_key, person_token, removals_in
from tests.conftest import REPO_ROOT


def png(seed: int, size=(40, 40)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (*size, 4), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def fields(label=3, prediction=5, session="s1", username=""):
    return {
        "label": label,
        "prediction": prediction,
        "probabilities": [0.1] * 10,
        "model_round": 0,
        "fooled": label != prediction,
        "session_hash": session,
        "username": username,
    }


@pytest.fixture()
def store(tmp_path):
    s = FlagStore(tmp_path / "flags", tmp_path / "locks")
    yield s
    s.close()


def test_records_load_with_datasets_with_every_column(store):
    record, duplicate = store.append(fields(), png(1), png(2, (28, 28)))
    store.append(fields(label=5, username="ana"), png(3), png(4, (28, 28)))
    assert not duplicate
    ds = load_flags(store.root)
    assert len(ds) == 2
    assert {"id", "drawing", "model_input", "label", "prediction", "probabilities", "model_round", "fooled", "created_at", "session_hash", "username"} <= set(ds.column_names)
    row = next(r for r in ds if r["id"] == record.id)
    assert row["model_input"].size == (28, 28) and row["drawing"].size == (40, 40)
    assert row["label"] == 3 and row["prediction"] == 5 and row["fooled"] is True
    assert sorted(ds["username"]) == ["", "ana"]


def test_the_same_flag_twice_is_stored_once(store):
    first, dup1 = store.append(fields(), png(1), png(2))
    again, dup2 = store.append(fields(), png(1), png(2))  # a retry / double click
    assert (dup1, dup2) == (False, True) and again.id == first.id
    _, other_label = store.append(fields(label=4), png(1), png(2))
    _, other_session = store.append(fields(session="s2"), png(1), png(2))
    assert not other_label and not other_session
    assert len(load_flags(store.root)) == 3


def test_a_reopened_store_still_knows_its_duplicates(tmp_path, store):
    store.append(fields(), png(1), png(2))
    store.close()
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    _, duplicate = reopened.append(fields(), png(1), png(2))
    assert duplicate and len(reopened.records) == 1


def test_votes_are_durable(tmp_path, store):
    record, _ = store.append(fields(), png(1), png(2))
    store.add_vote({"flag_id": record.id, "verdict": "junk", "corrected_label": -1, "reason": "scribble", "session_hash": "s9", "username": "", "is_maintainer": False})
    store.close()
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert [(v.flag_id, v.verdict, v.reason) for v in reopened.votes] == [(record.id, "junk", "scribble")]


def test_crash_leftovers_of_a_dead_writer_are_repaired_on_open(tmp_path, store):
    kept, _ = store.append(fields(), png(1), png(2))
    shard = store.data_dir / kept.shard
    store.close()  # the writer is gone; now fake what a crash mid-write leaves behind
    with open(shard / "metadata.jsonl", "ab") as f:
        f.write(b'{"id": "torn", "drawing_file_na')
    (shard / "abc.png.tmp").write_bytes(b"half an image")
    (shard / "orphan.png").write_bytes(png(9))
    with pytest.raises(Exception):
        load_flags(tmp_path / "flags")  # this is what would break loading...
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    ds = load_flags(reopened.root)  # ...and the next start repairs it
    assert ds["id"] == [kept.id]
    assert sorted(p.name for p in shard.iterdir()) == sorted([kept.drawing_file_name, kept.model_input_file_name, "metadata.jsonl"])


def test_a_live_writers_shard_is_left_alone(tmp_path, store):
    record, _ = store.append(fields(), png(1), png(2))
    shard = store.data_dir / record.shard
    (shard / "in-flight.png.tmp").write_bytes(b"being written")
    other = FlagStore(tmp_path / "flags", tmp_path / "locks")  # a second process opening the store
    assert (shard / "in-flight.png.tmp").exists()
    assert record.id in other.records
    other.close()


def test_two_writers_share_one_store_and_see_each_other(tmp_path, store):
    other = FlagStore(tmp_path / "flags", tmp_path / "locks")
    a, _ = store.append(fields(session="a"), png(1), png(2))
    b, _ = other.append(fields(session="b"), png(3), png(4))
    assert a.shard != b.shard
    store.refresh()
    assert {a.id, b.id} <= set(store.records)
    assert sorted(load_flags(store.root)["id"]) == sorted([a.id, b.id])
    other.close()


@contextlib.contextmanager
def small_tmpfs(path, size="64k"):
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_a_full_disk_saves_nothing_half_and_keeps_what_was_saved(tmp_path):
    with small_tmpfs(tmp_path / "state", "96k") as state:
        store = FlagStore(state / "flags", tmp_path / "locks")
        saved = []
        with pytest.raises(StoreError, match="Could not save your drawing"):
            for i in range(100):  # ~5 kB per record: the disk fills within a few
                saved.append(store.append(fields(session=f"s{i}"), png(i, (32, 32)), png(1000 + i, (28, 28)))[0])
        assert 0 < len(saved) < 100
        shard = store.data_dir / saved[0].shard
        names = {p.name for p in shard.iterdir()}
        expected = {n for r in saved for n in (r.drawing_file_name, r.model_input_file_name)} | {"metadata.jsonl"}
        assert names == expected  # no temp file, no image of the failed record
        store.close()
        assert sorted(load_flags(state / "flags")["id"]) == sorted(r.id for r in saved)


def test_a_read_only_store_refuses_with_a_message(tmp_path):
    with small_tmpfs(tmp_path / "state", "1m") as state:
        store = FlagStore(state / "flags", tmp_path / "locks")
        kept, _ = store.append(fields(), png(1), png(2))
        subprocess.run(["mount", "-o", "remount,ro", str(state)], check=True)
        with pytest.raises(StoreError, match="Read-only file system"):
            store.append(fields(session="s2"), png(3), png(4))
        with pytest.raises(StoreError, match="Could not record the removal: Read-only file system. Nothing was removed."):
            store.remove(kept.id, "offensive", "mo")
        assert [r.id for r in store.records.values()] == [kept.id] and store.removals == []
        store.close()


def test_a_disk_that_fills_during_a_removal_of_many_keeps_every_removal_whole_and_says_which_went(tmp_path):
    with small_tmpfs(tmp_path / "state", "1m") as state:
        store = FlagStore(state / "flags", tmp_path / "locks")
        records = [store.append(fields(session=f"s{i}"), png(i, (8, 8)), png(100 + i, (8, 8)))[0] for i in range(30)]
        with open(state / "filler", "wb", buffering=0) as filler:  # fill the disk, then free one page: room for a dozen removals
            with contextlib.suppress(OSError):
                while True:
                    filler.write(b"x" * 4096)
        os.truncate(state / "filler", os.path.getsize(state / "filler") - 4096)
        with pytest.raises(StoreError, match=r"Could not record the removal of \w{8}: .+\. It and the \d+ after it were not removed; the \d+ before it were\."):
            store.remove_many([r.id for r in records], "vandalised labels", "mo")
        removed = [r.flag_id for r in store.removals]
        assert 0 < len(removed) < 30 and removed == [r.id for r in records[: len(removed)]]
        store.close()
        reopened = FlagStore(state / "flags", tmp_path / "locks")  # what was recorded is whole, and all there is
        assert [r.flag_id for r in reopened.removals] == removed and sorted(reopened.records) == sorted(r.id for r in records[len(removed) :])
        reopened.close()


def test_a_writer_rotates_its_shard_before_a_folder_outgrows_the_hubs_10k_entries(tmp_path, monkeypatch):
    assert 2 * store_module.SHARD_MAX_RECORDS + 1 < 10_000  # the Hub recommends fewer than 10,000 entries per folder
    monkeypatch.setattr(store_module, "SHARD_MAX_RECORDS", 3)  # the same rotation, on 7 records instead of 10,000
    store = FlagStore(tmp_path / "flags", tmp_path / "locks")
    try:
        ids = [store.append(fields(session=f"s{i}"), png(i), png(100 + i, (28, 28)))[0].id for i in range(7)]
    finally:
        store.close()
    shards = sorted((tmp_path / "flags" / "data").iterdir())
    assert sorted(len(list(shard.iterdir())) for shard in shards) == [3, 7, 7]  # two full shards (3 records: 7 entries), then 1 record
    assert sorted(load_flags(tmp_path / "flags")["id"]) == sorted(ids)


def test_fooling_counts_per_round_follow_every_writer_and_never_count_a_duplicate(tmp_path):
    """Retraining reads these counts after every flag instead of scanning every record."""
    a, b = FlagStore(tmp_path / "flags", tmp_path / "locks"), FlagStore(tmp_path / "flags", tmp_path / "locks")
    try:
        a.append(fields(label=3, prediction=5, session="p1"), png(1), png(2, (28, 28)))  # fooled round 0
        a.append(fields(label=5, prediction=5, session="p2"), png(3), png(4, (28, 28)))  # the model was right
        assert a.append(fields(label=3, prediction=5, session="p1"), png(1), png(2, (28, 28)))[1]  # a double click
        b.append(fields(label=7, prediction=1, session="p3") | {"model_round": 1}, png(5), png(6, (28, 28)))  # another process
        a.refresh()
        assert a.fooled_by_round == {0: 1, 1: 1}
        assert a.fooled_by_round == Counter(r.model_round for r in a.records.values() if r.fooled)
    finally:
        a.close()
        b.close()
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert reopened.fooled_by_round == {0: 1, 1: 1}
    reopened.close()


def test_each_persons_tally_follows_every_writer_and_every_removal(tmp_path):
    """A flag's answer gives its author their tally, and a maintainer's Validate question the author's: both
    read these counts, which must agree with the records whoever wrote or removed them."""
    a, b = FlagStore(tmp_path / "flags", tmp_path / "locks"), FlagStore(tmp_path / "flags", tmp_path / "locks")
    try:
        first, _ = a.append(fields(label=3, prediction=5, username="ana", session="tab1"), png(1), png(2, (28, 28)))
        a.append(fields(label=5, prediction=5, username="ana", session="tab2"), png(3), png(4, (28, 28)))  # ana again, another tab
        a.append(fields(label=2, prediction=7, session="anon"), png(5), png(6, (28, 28)))  # someone not signed in
        assert a.append(fields(label=3, prediction=5, username="ana", session="tab1"), png(1), png(2, (28, 28)))[1]  # a double click
        fooling, _ = b.append(fields(label=7, prediction=1, username="ana", session="tab3"), png(7), png(8, (28, 28)))  # another process
        a.refresh()
        assert a.tally_of_the_person_of(first) == (3, 2)
        assert a.tally_of_the_person_of(a.records[fooling.id]) == (3, 2)
        anon = next(r for r in a.records.values() if r.session_hash == "anon")
        assert a.tally_of_the_person_of(anon) == (1, 1)
        b.remove(fooling.id, "spam", "maintainer")
        a.refresh()
        assert a.tally_of_the_person_of(first) == (2, 1)
    finally:
        a.close()
        b.close()
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert reopened.tally_of_the_person_of(first) == (2, 1)
    reopened.close()


# The card the first stores were written with: its `votes` config made `datasets` refuse to load the votes.
FIRST_CARD = """---
license: cc-by-4.0
task_categories:
- image-classification
pretty_name: DADC handwritten digits
configs:
- config_name: default
  data_dir: data
- config_name: votes
  data_files: votes/*.jsonl
---
# Adversarially collected handwritten digits

Digits drawn by people in a browser while trying to fool an MNIST model, with the label they
gave, the model's prediction and probabilities, and whether it was fooled. Collected with
dynamic adversarial data collection (DADC): the model is retrained on these round after round.

- `drawing`: the raw canvas (PNG); `model_input`: the 28×28 image the model saw (white ink on black).
- `label`: the digit the person says they drew; `prediction`, `probabilities`, `model_round`: the model's answer.
- `fooled`: prediction ≠ label. The `votes` config holds other people's validation votes.
"""


def run_card_snippet(card: str, tmp_path, env=None) -> dict:
    """Run the card's snippet as written, in a folder outside this project; the flags' ids and the votes' flag ids."""
    snippet = card.split("```python\n")[1].split("```")[0]
    check = "import json\nprint(json.dumps({'flags': sorted(flags['id']), 'votes': list(votes['flag_id'])}))\n"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PYTHONPATH")} | {"HF_HOME": str(tmp_path / "hf-home")} | (env or {})
    loaded = subprocess.run([sys.executable, "-c", snippet + check], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout.strip().splitlines()[-1])


def test_the_dataset_card_loads_the_flags_and_the_votes_of_the_folder_or_the_repo_it_names(tmp_path):
    root = tmp_path / "flags"
    root.mkdir()
    (root / "README.md").write_text(FIRST_CARD)  # a store made before the fix: its card is replaced when it opens
    store = FlagStore(root, tmp_path / "locks")
    record, _ = store.append(fields(), png(1), png(2))
    store.add_vote({"flag_id": record.id, "verdict": "correct", "corrected_label": -1, "reason": "", "session_hash": "s9", "username": "", "is_maintainer": False})
    store.close()
    card = (root / "README.md").read_text()
    assert card == dataset_card(root.as_posix()) and "config_name: votes" not in card
    assert run_card_snippet(card, tmp_path) == {"flags": [record.id], "votes": [record.id]}
    store = FlagStore(root, tmp_path / "locks")
    later, _ = store.append(fields(session="s2"), png(3), png(4))
    store.close()
    assert run_card_snippet(card, tmp_path) == {"flags": sorted([record.id, later.id]), "votes": [record.id]}  # not the first load's cache

    FlagStore(root, tmp_path / "locks", card_name="you/dadc-digits").close()  # the app, pushing to that repo
    assert (root / "README.md").read_text() == dataset_card("you/dadc-digits")
    FlagStore(root, tmp_path / "locks").close()  # a tool that only reads the store leaves the app's card as it is
    assert (root / "README.md").read_text() == dataset_card("you/dadc-digits")


def shard_files(store, record) -> list[str]:
    return sorted(p.name for p in (store.data_dir / record.shard).iterdir())


def test_a_removed_drawing_leaves_the_store_its_files_and_every_reader(tmp_path, store):
    offensive, _ = store.append(fields(label=1, prediction=7), png(1), png(2))
    kept, _ = store.append(fields(session="s2"), png(3), png(4))
    store.add_vote({"flag_id": offensive.id, "verdict": "correct", "corrected_label": -1, "reason": "", "session_hash": "s9", "username": "", "is_maintainer": False})
    reader = FlagStore(tmp_path / "flags", tmp_path / "locks")  # another process's view, read before the removal
    assert offensive.id in reader.records and store.fooled_by_round[0] == 2

    store.remove(offensive.id, "offensive", "mo")
    assert offensive.id not in store.records and store.fooled_by_round[0] == 1
    assert shard_files(store, kept) == sorted(["metadata.jsonl", kept.drawing_file_name, kept.model_input_file_name])
    assert offensive.id not in (store.data_dir / kept.shard / "metadata.jsonl").read_text()
    assert sorted(load_flags(store.root)["id"]) == [kept.id]  # the folder still loads, without it
    reader.refresh()
    assert sorted(reader.records) == [kept.id] and reader.fooled_by_round[0] == 1
    later, _ = store.append(fields(session="s3"), png(5), png(6))  # appended to the rewritten file
    reader.refresh()
    assert sorted(reader.records) == sorted([kept.id, later.id])  # read from the new file, not from the old one's offset
    reader.close()
    store.close()
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert sorted(reopened.records) == sorted([kept.id, later.id])
    assert [(r.flag_id, r.reason, r.username) for r in reopened.removals] == [(offensive.id, "offensive", "mo")]
    # its place in the line of people (held-out split), without its author's session or name
    assert (reopened.removals[0].flagged_at, reopened.removals[0].person) == (offensive.created_at, person_token(person_key("", "s1")))
    assert '"s1"' not in next((tmp_path / "flags" / "removals").glob("*.jsonl")).read_text()
    again, duplicate = reopened.append(fields(label=1, prediction=7), png(1), png(2))  # the same drawing, flagged anew
    assert not duplicate and again.id != offensive.id
    reopened.close()


def test_a_removal_in_another_live_writers_shard_is_erased_by_that_writer(tmp_path, store):
    record, _ = store.append(fields(), png(1), png(2))  # `store` is alive and owns the shard
    other = FlagStore(tmp_path / "flags", tmp_path / "locks")  # e.g. a second app process
    other.remove(record.id, "its author asked", "mo")
    assert record.id not in other.records
    assert record.drawing_file_name in shard_files(store, record)  # not cut from under its writer
    store.refresh()  # the writer's next read
    assert record.id not in store.records and record.drawing_file_name not in shard_files(store, record)
    other.close()


def test_a_removal_whose_process_died_before_erasing_is_finished_at_the_next_open(tmp_path, store):
    record, _ = store.append(fields(), png(1), png(2))
    kept, _ = store.append(fields(session="s2"), png(3), png(4))
    store.close()  # its writer is gone
    removal = {"id": "r1", "flag_id": record.id, "shard": record.shard, "reason": "offensive", "username": "mo", "created_at": "t"}
    (tmp_path / "flags" / "removals" / "dead.jsonl").write_text(json.dumps(removal) + "\n")  # recorded, never erased
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert sorted(reopened.records) == [kept.id]
    assert shard_files(reopened, kept) == sorted(["metadata.jsonl", kept.drawing_file_name, kept.model_input_file_name])
    reopened.close()


def test_a_drawing_is_found_by_the_id_its_receipt_shows(store):
    record, _ = store.append(fields(), png(1), png(2))
    assert store.find(record.id[:8]) == record and store.find(f" {record.id.upper()} ") == record
    with pytest.raises(KeyError, match="at least the 8 characters"):
        store.find(record.id[:4])
    with pytest.raises(KeyError, match="no stored drawing has the id 00000000"):
        store.find("00000000")
    store.remove(record.id, "offensive", "mo")
    with pytest.raises(KeyError, match=rf"{record.id[:8]} was already removed on \d{{4}}-\d\d-\d\d \(offensive\)"):
        store.find(record.id[:8])


def remove_from_the_command_line(state_dir, *args):
    command = [sys.executable, "-m", "flagging.remove", *args, "--state-dir", str(state_dir)]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)


def test_a_maintainer_without_sign_in_removes_a_drawing_from_the_command_line(tmp_path, store):
    asked, _ = store.append(fields(label=1, prediction=7, username="ana"), png(1), png(2))
    offensive, _ = store.append(fields(session="s2"), png(3), png(4))

    refused = [
        remove_from_the_command_line(tmp_path, asked.id[:8], "--reason", " "),  # a reason is required
        remove_from_the_command_line(tmp_path, "00000000", "--reason", "its author asked"),
        remove_from_the_command_line(tmp_path, asked.id[:4], "--reason", "its author asked"),
    ]
    assert [r.returncode for r in refused] == [2, 2, 2]
    assert "argument --reason: must say why" in refused[0].stderr and "no stored drawing has the id 00000000" in refused[1].stderr
    assert "at least the 8 characters" in refused[2].stderr
    assert removals_in(store.root) == [] and asked.drawing_file_name in shard_files(store, asked)  # nothing recorded, nothing deleted

    # `store` is a live app's writer of the drawing's shard: it is forgotten at once, erased by that writer
    removed = remove_from_the_command_line(tmp_path, asked.id[:8], "--reason", "its author asked", "--by", "mo")
    assert removed.returncode == 0, removed.stderr
    assert f"removed {asked.id[:8]} for good: a 1 read as 7" in removed.stdout and "by ana" in removed.stdout
    assert "an app is writing" in removed.stdout
    assert [(r.flag_id, r.reason, r.username) for r in removals_in(store.root)] == [(asked.id, "its author asked", "mo")]
    store.refresh()
    assert sorted(store.records) == [offensive.id] and asked.drawing_file_name not in shard_files(store, asked)

    again = remove_from_the_command_line(tmp_path, asked.id[:8], "--reason", "its author asked")
    assert again.returncode == 2 and f"{asked.id[:8]} was already removed on" in again.stderr and len(removals_in(store.root)) == 1

    store.close()  # no app running: the command erases the drawing itself
    removed = remove_from_the_command_line(tmp_path, offensive.id, "--reason", "offensive")
    assert removed.returncode == 0 and "its line and images are gone" in removed.stdout
    assert shard_files(store, offensive) == ["metadata.jsonl"]
    reopened = FlagStore(tmp_path / "flags", tmp_path / "locks")
    assert reopened.records == {} and len(reopened.removals) == 2
    reopened.close()
