"""Pushing the flag store to a Hub dataset repo, with the real huggingface_hub client against a
local Hub-compatible server: files arrive intact, faults lose nothing, the token never leaks."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import time

import pytest
from PIL import Image

from flagging.hub_sync import HubSync
from flagging.store import FlagStore
from tests.app_process import free_port
from tests.hub_server import LocalHub
from tests.test_store import fields, png

TOKEN = "hf_testTOKENdoNotLeak123"
REPO = "dadc/digits"


def wait_for(condition, timeout_s=20):
    """`condition()`'s first truthy result, or its last falsy one after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (result := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return result


def local_files(store: FlagStore) -> dict[str, bytes]:
    return {p.relative_to(store.root).as_posix(): p.read_bytes() for p in store.root.rglob("*") if p.is_file()}


@pytest.fixture()
def store(tmp_path):
    s = FlagStore(tmp_path / "flags", tmp_path / "locks")
    yield s
    s.close()


@pytest.fixture()
def hub():
    with LocalHub() as h:
        yield h


def start_sync(store, hub_url, retry_seconds=0.1):
    sync = HubSync(store.root, REPO, TOKEN, store.lock, every_minutes=60, endpoint=hub_url, retry_seconds=retry_seconds)
    sync.start()
    return sync


def push_once(store, hub_url) -> None:
    """One run of the app's sync: it connects, pushes what it has not pushed, and stops (a final push)."""
    sync = start_sync(store, hub_url)
    assert wait_for(lambda: sync.connected)
    sync.push_now()
    sync.stop()


def test_the_store_arrives_in_the_dataset_repo_byte_for_byte(store, hub):
    store.append(fields(), png(1), png(2))
    store.append(fields(session="s2"), png(3), png(4))
    sync = start_sync(store, hub.url)
    assert wait_for(lambda: sync.connected)
    sync.push_now()
    assert hub.files[f"datasets/{REPO}"] == local_files(store)
    assert f"Bearer {TOKEN}" in hub.auth_headers  # the real client authenticated with the token
    assert hub.created[f"datasets/{REPO}"].get("visibility") != "private"  # the Hub's default unless asked (see test_flag_api)
    sync.stop()


def test_the_repo_loads_with_its_cards_snippet_flags_and_votes_alike(tmp_path, hub):
    """Someone finds the dataset repo on the Hub and runs its card's snippet as written, outside this project."""
    store = FlagStore(tmp_path / "flags", tmp_path / "locks", card_name=REPO)  # as the app opens it with --hub-dataset
    first, _ = store.append(fields(label=1, prediction=7, username="ana"), png(1), png(2, (28, 28)))
    second, _ = store.append(fields(label=4, prediction=4, session="s2"), png(3), png(4, (28, 28)))
    store.add_vote({"flag_id": first.id, "verdict": "incorrect", "corrected_label": 7, "reason": "", "session_hash": "s9", "username": "bo", "is_maintainer": False})
    push_once(store, hub.url)
    store.close()

    card = hub.files[f"datasets/{REPO}"]["README.md"].decode()
    snippet = card.split("```python\n")[1].split("```")[0]
    check = (
        "import io, json\n"
        "print(json.dumps({'flags': sorted([r['id'], r['label'], r['fooled'], r['username'], r['model_input'].size] for r in flags),"
        " 'input': next(r['model_input'] for r in flags if r['id'] == %r).tobytes().hex(),"
        " 'votes': [[v['flag_id'], v['verdict'], v['corrected_label'], v['username']] for v in votes]}))\n" % first.id
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PYTHONPATH")} | {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home")}
    loaded = subprocess.run([sys.executable, "-c", snippet + check], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert loaded.returncode == 0, loaded.stderr
    got = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert got["flags"] == sorted([[first.id, 1, True, "ana", [28, 28]], [second.id, 4, False, "", [28, 28]]])
    assert got["input"] == Image.open(io.BytesIO(png(2, (28, 28)))).tobytes().hex()  # the model's input, pixel for pixel
    assert got["votes"] == [[first.id, "incorrect", 7, "bo"]]


def test_a_removed_drawing_leaves_the_repo_at_the_next_push_once_its_writer_erased_it(tmp_path, store, hub):
    offensive, _ = store.append(fields(), png(1), png(2))
    kept, _ = store.append(fields(session="s2"), png(3), png(4))
    sync = start_sync(store, hub.url)
    assert wait_for(lambda: sync.connected)
    sync.push_now()
    assert any(offensive.id in path for path in hub.files[f"datasets/{REPO}"])

    store.remove(offensive.id, "offensive", "mo")  # this process writes the shard: erased at once
    sync.push_now()
    assert hub.files[f"datasets/{REPO}"] == local_files(store)  # its images and its line gone, the removal recorded
    assert not any(offensive.id in path for path in hub.files[f"datasets/{REPO}"])
    assert any("Remove 1 drawing" in commit["message"] for commit in hub.commits)
    sync.stop()

    other_writer = FlagStore(store.root, tmp_path / "locks")
    later, _ = other_writer.append(fields(session="s3"), png(5), png(6))  # in its own shard, and alive
    push_once(store, hub.url)  # the app restarts: it lists the repo again
    store.remove(later.id, "its author asked", "mo")  # not erased yet: its writer has not read the removal
    push_once(store, hub.url)
    on_hub = hub.files[f"datasets/{REPO}"]
    assert later.id.encode() in on_hub[f"data/{later.shard}/metadata.jsonl"] and f"data/{later.shard}/{later.drawing_file_name}" in on_hub  # never half gone
    other_writer.refresh()  # the writer erases it
    push_once(store, hub.url)
    assert hub.files[f"datasets/{REPO}"] == local_files(store) and not any(later.id in path for path in hub.files[f"datasets/{REPO}"])
    other_writer.close()


def test_a_failing_hub_loses_nothing_and_a_later_push_catches_up(store, hub):
    sync = start_sync(store, hub.url)
    assert wait_for(lambda: sync.connected)
    sync.push_now()
    assert re.fullmatch(rf"Flags are pushed to the dataset repo {REPO} every 60 min \(in step as of \d\d:\d\d UTC\)\.", sync.status())
    hub.fail_with = 403  # a token that may no longer write (a 5xx outage is the same, after the client's ~20 s of retries)
    for i in range(3):
        store.append(fields(session=f"during-outage-{i}"), png(10 + i), png(20 + i))  # the app keeps saving
    with pytest.raises(Exception):
        sync.push_now()
    assert len(store.records) == 3
    # The Rounds tab says so, with what a maintainer needs to tell a token (401/403) from an outage (5xx).
    assert re.search(r"Pushing flags to the dataset repo .* failed \(HfHubHTTPError, HTTP 403 at \d\d:\d\d UTC\).*Nothing is lost", sync.status())
    hub.fail_with = None
    sync.push_now()
    assert hub.files[f"datasets/{REPO}"] == local_files(store)
    assert "in step as of" in sync.status()
    sync.stop()


def test_a_restarted_app_pushes_only_what_the_repo_lacks(store, hub):
    """A Space restarts often; CommitScheduler alone would commit the whole store again at each start."""
    store.append(fields(), png(1), png(2))
    store.append(fields(session="s2"), png(3), png(4))
    push_once(store, hub.url)

    new = store.append(fields(session="s3"), png(5), png(6))[0]  # one more flag, then the app restarts
    pushed_before = len(hub.commits)
    sync = start_sync(store, hub.url)
    assert wait_for(lambda: sync.connected)
    sync.push_now()  # after the push the scheduler makes as it starts
    pushed = sorted(path for commit in hub.commits[pushed_before:] for path in commit["files"])
    shard = f"data/{new.shard}"
    assert pushed == sorted(["README.md", f"{shard}/metadata.jsonl", f"{shard}/{new.drawing_file_name}", f"{shard}/{new.model_input_file_name}"])
    assert hub.files[f"datasets/{REPO}"] == local_files(store)
    sync.stop()


def test_a_file_this_disk_lost_lines_of_never_cuts_the_repos_copy_short(store, hub, caplog):
    store.append(fields(), png(1), png(2))
    store.append(fields(session="s2"), png(3), png(4))
    push_once(store, hub.url)
    metadata = next(store.root.glob("data/*/metadata.jsonl"))
    in_repo = metadata.relative_to(store.root).as_posix()
    complete = metadata.read_bytes()
    metadata.write_bytes(complete.splitlines(keepends=True)[0])  # e.g. a disk restored from an old backup

    push_once(store, hub.url)  # the app restarts
    assert hub.files[f"datasets/{REPO}"][in_repo] == complete
    assert "shorter here than in" in caplog.text


def test_a_hub_that_is_down_at_start_is_reached_later(store):
    port = free_port()
    store.append(fields(), png(1), png(2))
    sync = start_sync(store, f"http://127.0.0.1:{port}")
    time.sleep(0.5)
    assert not sync.connected and "could not reach the Hub" in sync.last_error
    assert f"Flags are not pushed to the dataset repo {REPO} yet (" in sync.status() and "retrying every 0.1 s" in sync.status()
    with LocalHub(port=port) as hub:
        assert wait_for(lambda: sync.connected)
        sync.push_now()
        assert hub.files[f"datasets/{REPO}"] == local_files(store)
        sync.stop()


def test_the_final_push_at_stop_sends_the_last_records(store, hub):
    sync = start_sync(store, hub.url)
    assert wait_for(lambda: sync.connected)
    record, _ = store.append(fields(), png(1), png(2))
    sync.stop()
    assert any(record.id in path for path in hub.files[f"datasets/{REPO}"])


def test_the_token_is_never_logged_nor_pushed(store, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    port = free_port()
    sync = start_sync(store, f"http://127.0.0.1:{port}")  # down first: errors get logged
    time.sleep(0.4)
    with LocalHub(port=port) as hub:
        assert wait_for(lambda: sync.connected)
        hub.fail_with = 400  # not retried by the client, unlike 500: keeps this test fast
        store.append(fields(), png(1), png(2))
        with pytest.raises(Exception) as failure:
            sync.push_now()
        hub.fail_with = None
        sync.stop()
        pushed = b"".join(hub.files[f"datasets/{REPO}"].values())
    out, err = capsys.readouterr()
    assert TOKEN not in caplog.text + out + err + str(failure.value) + (sync.last_error or "")
    assert TOKEN.encode() not in pushed


def test_bad_settings_fail_early_with_the_value(store):
    with pytest.raises(ValueError, match="'no-slash'"):
        HubSync(store.root, "no-slash", TOKEN, store.lock)
    with pytest.raises(ValueError, match="every_minutes must be positive, not 0"):
        HubSync(store.root, REPO, TOKEN, store.lock, every_minutes=0)
