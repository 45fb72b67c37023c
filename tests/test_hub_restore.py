"""A Space without persistent storage restarts from an empty disk: the app brings back the flags
(dataset repo) and the published rounds (model repo) from the Hub, here the local Hub-compatible
server, and carries on from the last round instead of a retrained round 0."""

import random
import threading
import time

import pytest
from huggingface_hub import HfApi
from huggingface_hub.utils import filter_repo_objects

from flagging.dataset import load_flags
from flagging.hub_restore import download_patterns, restore_flags
from flagging.store import FlagStore
from tests.app_process import running_app, start_app, stop_app
from tests.conftest import copy_of_round0_state
from tests.hub_server import LocalHub
from tests.test_hub_sync import REPO as DATASET
from tests.test_hub_sync import push_once, wait_for
from tests.test_rounds import rounds_view
from training.publish import publish_pending, restore_rounds

TOKEN = "hf_restore_test_token"
MODEL = "dadc/mnist-rounds"
HUB_ARGS = ("--hub-dataset", DATASET, "--hub-model", MODEL)


def push_flags(store_root, hub) -> None:
    store = FlagStore(store_root, store_root.parent / "locks")
    push_once(store, hub.url)  # to DATASET
    store.close()


@pytest.fixture()
def hub_with_a_spaces_history(state_with_round1):
    """(hub, old state): 40 flags pushed to the dataset repo, rounds 0 and 1 published to the model repo."""
    with LocalHub() as hub:
        push_flags(state_with_round1 / "flags", hub)
        assert publish_pending(HfApi(endpoint=hub.url, token=TOKEN), MODEL, state_with_round1) == [0, 1]
        yield hub, state_with_round1


def test_a_restarted_space_gets_its_flags_and_rounds_back_and_goes_on_from_the_last_round(hub_with_a_spaces_history, state_dir, tmp_path):
    from gradio_client import Client

    hub, old = hub_with_a_spaces_history
    model_commits = sum(c["repo"] == f"models/{MODEL}" for c in hub.commits)
    commits_before = len(hub.commits)
    new = tmp_path / "restarted"  # an empty disk but for the MNIST cache
    new.mkdir()
    (new / "mnist").symlink_to(state_dir / "mnist")
    flags_on_hold = hub.held_downloads[f"datasets/{DATASET}"] = threading.Event()
    output = []
    with running_app(new, "--retrain-threshold", "10", *HUB_ARGS, "--hub-endpoint", hub.url, env={"HF_TOKEN": TOKEN}, output=output) as url:
        # The app serves the last published round before the flags are back: a popular Space has many
        # thousands of them, too many to keep people waiting while they download.
        client = Client(url, verbose=False)
        status, table = rounds_view(client)
        assert "Round 1 is live. Retraining is paused: the flags on the Hub are being restored" in status
        assert set(table) == {0, 1} and table[0]["collected"] == 0

        flags_on_hold.set()

        def restored():
            status, table = rounds_view(client)
            return (status, table) if table[0]["collected"] == 40 and "paused" not in status else None

        result = wait_for(restored, timeout_s=60)
        assert result, f"flags not restored after 60 s: {rounds_view(client)}"
        status, table = result
        assert "Round 1 is live" in status and table[0]["fooled"] == 40
        time.sleep(2)  # the publisher's first pass at start
    assert sum(c["repo"] == f"models/{MODEL}" for c in hub.commits) == model_commits  # rounds 0 and 1 are not pushed again
    # Nor are the restored flags (the dataset push ran at start and at stop): they are the repo's own.
    pushed_back = [path for c in hub.commits[commits_before:] if c["repo"] == f"datasets/{DATASET}" for path in c["files"] if path.startswith("data/")]
    assert pushed_back == [], pushed_back
    assert set(hub.tags[f"models/{MODEL}"]) == {"round-0", "round-1"}

    for round_ in (0, 1):  # the very models that were published, not retrained ones
        name = f"checkpoints/round-{round_}/model.safetensors"
        assert (new / name).read_bytes() == (old / name).read_bytes()
    assert (new / "rounds.jsonl").read_bytes() == (old / "rounds.jsonl").read_bytes()
    assert sorted(load_flags(new / "flags")["id"]) == sorted(load_flags(old / "flags")["id"])
    # The log says what came back, in a line or two: not one line per file downloaded (81 here) or request.
    log = output[0]
    assert "restored rounds [0, 1] from dadc/mnist-rounds" in log and f"restored 81 files of {new / 'flags'} from dataset repo {DATASET}" in log, log
    assert "HTTP Request" not in log and len(log.splitlines()) < 60, log
    # What the app served and where it pushes, named at start; the token never is.
    summary = next(line for line in log.splitlines() if "dadc.app INFO serving round" in line)
    assert "serving round 1 (MNIST test accuracy" in summary and "retraining paused: the flags on the Hub are being restored" in summary, summary
    assert summary.endswith(f"Hub ({hub.url}): flags pushed to dataset {DATASET} every 5 min, rounds published to model {MODEL}"), summary
    assert TOKEN not in log


def test_only_missing_files_are_downloaded_and_local_ones_are_never_replaced(hub_with_a_spaces_history, tmp_path):
    hub, old = hub_with_a_spaces_history
    api = HfApi(endpoint=hub.url, token=TOKEN)
    target = tmp_path / "flags"
    assert restore_flags(api, DATASET, target) == len(list((old / "flags").glob("data/*/*"))) + len(list((old / "flags").glob("votes/*")))

    shard_file = next(target.glob("data/*/metadata.jsonl"))
    shard_file.write_bytes(b"")  # a local file differs from the Hub's: it is kept as it is
    a_png = next(target.glob("data/*/*-input.png"))
    a_png.unlink()  # lost locally: only this one comes back

    def downloads():
        return sum(1 for method, path in hub.requests if method == "GET" and "/resolve/" in path)

    before = downloads()
    assert restore_flags(api, DATASET, target) == 1
    assert downloads() - before == 1 and a_png.is_file() and shard_file.read_bytes() == b""
    assert restore_flags(api, "dadc/never-pushed", tmp_path / "other") == 0
    assert not (tmp_path / "other").exists()


def test_a_drawing_removed_here_is_never_restored_and_leaves_the_hub_at_the_next_push(hub_with_a_spaces_history, tmp_path):
    hub, _ = hub_with_a_spaces_history
    api = HfApi(endpoint=hub.url, token=TOKEN)
    restore_flags(api, DATASET, tmp_path / "flags")
    store = FlagStore(tmp_path / "flags", tmp_path / "locks")
    removed = next(iter(store.records.values()))
    store.remove(removed.id, "offensive", "mo")  # then the app restarts before its next push
    store.close()
    assert restore_flags(api, DATASET, tmp_path / "flags") == 0  # missing on purpose: not brought back
    assert not list((tmp_path / "flags").glob(f"data/*/{removed.id}*"))

    push_flags(tmp_path / "flags", hub)  # the restarted app's first push
    assert not any(removed.id in path for path in hub.files[f"datasets/{DATASET}"])
    restore_flags(api, DATASET, tmp_path / "elsewhere" / "flags")  # a Space restarting from an empty disk
    elsewhere = FlagStore(tmp_path / "elsewhere" / "flags", tmp_path / "elsewhere" / "locks")
    assert removed.id not in elsewhere.records and len(elsewhere.records) == 39
    assert [r.flag_id for r in elsewhere.removals] == [removed.id]
    elsewhere.close()


def test_a_restore_cut_off_halfway_resumes_where_it_stopped(hub_with_a_spaces_history, tmp_path):
    """A big store over a flaky link (or under the Hub's rate limits): each attempt must build on the last."""
    hub, old = hub_with_a_spaces_history
    api = HfApi(endpoint=hub.url, token=TOKEN)
    target = tmp_path / "flags"
    files = len(list((old / "flags").glob("data/*/*"))) + len(list((old / "flags").glob("votes/*")))

    def downloads():
        return sum(1 for method, path in hub.requests if method == "GET" and "/resolve/" in path and "/datasets/" in path)

    hub.downloads_left = files // 2
    with pytest.raises(Exception):
        restore_flags(api, DATASET, target)
    assert not target.exists() or not any(target.rglob("*"))  # nothing half-restored in the store itself

    hub.downloads_left = None
    before = downloads()
    assert restore_flags(api, DATASET, target) == files
    assert downloads() - before == files - files // 2  # only what the first attempt did not finish
    assert sorted(load_flags(target)["id"]) == sorted(load_flags(old / "flags")["id"])
    assert not (tmp_path / ".flags-restore").exists()  # the staging folder goes once the restore is done


def test_the_download_selects_exactly_the_missing_files_with_few_patterns():
    """snapshot_download matches every file against every pattern: one per file would be quadratic."""
    remote = [f"data/shard-{s}/{i}.png" for s in range(5) for i in range(400)] + [f"data/shard-{s}/metadata.jsonl" for s in range(5)]
    remote += ["data/shard-1x/0.png"] + [f"votes/shard-{s}.jsonl" for s in range(5)]  # "data/shard-1/*" must not take shard-1x
    rng = random.Random(0)
    cases = {
        "fresh disk": remote,
        "two shards from another writer": [p for p in remote if p.startswith(("data/shard-3/", "data/shard-4/", "votes/shard-3"))],
        "a few files lost": rng.sample(remote, 7),
        "shard-1 only": [p for p in remote if p.startswith("data/shard-1/")],
        "nothing": [],
    }
    for case, missing in cases.items():
        patterns = download_patterns(missing, remote)
        selected = list(filter_repo_objects(remote, allow_patterns=patterns)) if patterns else []
        assert sorted(selected) == sorted(missing), case
        assert len(patterns) <= 8, (case, patterns)
    assert download_patterns(remote, remote) == ["data/*", "votes/*"]


def test_a_hub_that_is_down_at_start_pauses_retraining_until_the_restore_succeeds(hub_with_a_spaces_history, state_dir, tmp_path):
    from gradio_client import Client, handle_file

    from tests.flag_clients import distinct_drawing

    hub, _old = hub_with_a_spaces_history
    new = copy_of_round0_state(state_dir, tmp_path / "restarted")
    hub.fail_with = 500
    with running_app(new, *HUB_ARGS, "--hub-endpoint", hub.url, "--hub-retry-seconds", "0.5", env={"HF_TOKEN": TOKEN}) as url:
        client = Client(url, verbose=False)
        status, _table = rounds_view(client)
        assert "Round 0 is live. Retraining is paused: the flags and rounds on the Hub are not restored yet" in status
        assert TOKEN not in status
        assert client.predict(handle_file(distinct_drawing(1, tmp_path / "one.png")), api_name="/predict")["label"] == "1"  # still serving

        def status_with(*parts):
            status = rounds_view(client)[0]
            return status if all(part in status for part in parts) else None

        # The model repo answers again, the dataset repo does not: the rounds come back and go live
        # without a restart, and the status names only what is still missing.
        hub.failing_repos[DATASET] = 403  # e.g. a private repo this token may not read: said apart from an outage
        hub.fail_with = None
        assert wait_for(lambda: status_with("Round 1 is live. Retraining is paused: the flags on the Hub are not restored yet (", "HTTP 403)"), timeout_s=60), rounds_view(client)[0]

        # The whole Hub answers: the next attempt restores the flags. While they download, the status
        # says they are on their way, not the outage that is over.
        flags_on_hold = hub.held_downloads[f"datasets/{DATASET}"] = threading.Event()
        del hub.failing_repos[DATASET]
        assert wait_for(lambda: status_with("Round 1 is live. Retraining is paused: the flags on the Hub are being restored"), timeout_s=60), rounds_view(client)[0]
        flags_on_hold.set()
        status = wait_for(lambda: status_with("Round 1 is live", "Fooling examples this round"), timeout_s=60)
        assert status and "paused" not in status
        assert rounds_view(client)[1][0]["collected"] == 40


def test_a_hub_that_is_down_at_start_is_tried_once_then_after_each_retry_period(hub_with_a_spaces_history, state_dir, tmp_path):
    """The attempt made before serving counts: the background restore waits its period before the next
    one, instead of asking a failing Hub again at once and logging the outage twice."""
    hub, _old = hub_with_a_spaces_history
    hub.fail_with = 500
    before = len(hub.requests)
    with pytest.raises(Exception):
        restore_rounds(HfApi(endpoint=hub.url), MODEL, tmp_path / "probe")
    one_attempt = len(hub.requests) - before
    assert one_attempt > 0

    # No token: nothing pushes or publishes, so every request the Hub sees is the restore's.
    before = len(hub.requests)
    proc, _url = start_app(copy_of_round0_state(state_dir, tmp_path / "restarted"), *HUB_ARGS, "--hub-endpoint", hub.url, "--hub-retry-seconds", "30", env={"HF_TOKEN": ""})
    try:
        time.sleep(3)  # the background thread's immediate retry, if there were one, comes within milliseconds
        assert len(hub.requests) - before == one_attempt, hub.requests[before:]
    finally:
        stop_app(proc)
    log = proc.stdout.read()
    assert log.count("could not restore from the Hub") == 1, log
    assert "could not restore from the Hub (HfHubHTTPError, HTTP 500); retrying in 30.0 s" in log


def test_the_restore_status_names_only_what_the_hub_still_holds_back():
    from argparse import Namespace

    from serving.startup import not_restored_yet

    both = Namespace(hub_dataset=DATASET, hub_model=MODEL, hub_retry_seconds=60)
    error = TimeoutError()
    assert not_restored_yet(both, error).startswith("the flags and rounds on the Hub are not restored yet (TimeoutError)")
    assert not_restored_yet(both, error, rounds_back=True).startswith("the flags on the Hub are not restored yet")
    assert not_restored_yet(Namespace(hub_dataset="", hub_model=MODEL, hub_retry_seconds=60), error).startswith("the rounds on the Hub are not restored yet")
    assert not_restored_yet(Namespace(hub_dataset=DATASET, hub_model="", hub_retry_seconds=60), error).startswith("the flags on the Hub are not restored yet")
