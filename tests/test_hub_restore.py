"""A Space without persistent storage restarts from an empty disk: the app brings back the flags
(dataset repo) and the published rounds (model repo) from the Hub, here the local Hub-compatible
server, and carries on from the last round instead of a retrained round 0."""

import time

from huggingface_hub import HfApi

from flagging.dataset import load_flags
from flagging.hub_restore import restore_flags
from flagging.hub_sync import HubSync
from flagging.store import FlagStore
from tests.app_process import running_app
from tests.hub_server import LocalHub
from training.publish import publish_pending

TOKEN = "hf_restore_test_token"
DATASET, MODEL = "dadc/digits", "dadc/mnist-rounds"


def push_flags(store_root, hub) -> None:
    store = FlagStore(store_root, store_root.parent / "locks")
    sync = HubSync(store.root, DATASET, TOKEN, store.lock, every_minutes=60, endpoint=hub.url, retry_seconds=0.1)
    sync.start()
    deadline = time.monotonic() + 30
    while not sync.connected and time.monotonic() < deadline:
        time.sleep(0.05)
    sync.push_now()
    sync.stop()
    store.close()


def empty_disk(tmp_path, state_dir):
    """A restarted Space's state directory: nothing but the MNIST cache."""
    fresh = tmp_path / "restarted"
    fresh.mkdir()
    (fresh / "mnist").symlink_to(state_dir / "mnist")
    return fresh


def rounds_view(client):
    status, table, _plot = client.predict(api_name="/rounds")
    return status, {row[0]: dict(zip(table["headers"], row)) for row in table["data"]}


def test_a_restarted_space_gets_its_flags_and_rounds_back_and_goes_on_from_the_last_round(state_with_round1, state_dir, tmp_path):
    from gradio_client import Client

    old = state_with_round1
    with LocalHub() as hub:
        push_flags(old / "flags", hub)
        assert publish_pending(HfApi(endpoint=hub.url, token=TOKEN), MODEL, old) == [0, 1]
        model_commits = sum(c["repo"] == f"models/{MODEL}" for c in hub.commits)

        new = empty_disk(tmp_path, state_dir)
        hub_args = ("--hub-dataset", DATASET, "--hub-model", MODEL, "--hub-endpoint", hub.url)
        with running_app(new, "--retrain-threshold", "10", *hub_args, env={"HF_TOKEN": TOKEN}) as url:
            status, table = rounds_view(Client(url, verbose=False))
            assert "Round 1 is live" in status
            assert set(table) == {0, 1} and table[0]["collected"] == 40 and table[0]["fooled"] == 40
            time.sleep(2)  # the publisher's first pass at start
        assert sum(c["repo"] == f"models/{MODEL}" for c in hub.commits) == model_commits  # rounds 0 and 1 are not pushed again
        assert set(hub.tags[f"models/{MODEL}"]) == {"round-0", "round-1"}

    for round_ in (0, 1):  # the very models that were published, not retrained ones
        name = f"checkpoints/round-{round_}/model.safetensors"
        assert (new / name).read_bytes() == (old / name).read_bytes()
    assert (new / "rounds.jsonl").read_bytes() == (old / "rounds.jsonl").read_bytes()
    assert sorted(load_flags(new / "flags")["id"]) == sorted(load_flags(old / "flags")["id"])


def test_only_missing_files_are_downloaded_and_local_ones_are_never_replaced(state_with_round1, tmp_path):
    with LocalHub() as hub:
        push_flags(state_with_round1 / "flags", hub)
        api = HfApi(endpoint=hub.url, token=TOKEN)
        target = tmp_path / "flags"
        restored = restore_flags(api, DATASET, target)
        assert restored == len(list((state_with_round1 / "flags").glob("data/*/*"))) + len(list((state_with_round1 / "flags").glob("votes/*")))

        shard_file = next(target.glob("data/*/metadata.jsonl"))
        shard_file.write_bytes(b"")  # a local file differs from the Hub's: it is kept as it is
        a_png = next(target.glob("data/*/*-input.png"))
        a_png.unlink()  # lost locally: only this one comes back
        downloads_before = sum(1 for method, path in hub.requests if method == "GET" and "/resolve/" in path)
        assert restore_flags(api, DATASET, target) == 1
        downloads = sum(1 for method, path in hub.requests if method == "GET" and "/resolve/" in path) - downloads_before
        assert downloads == 1 and a_png.is_file() and shard_file.read_bytes() == b""
        assert restore_flags(HfApi(endpoint=hub.url, token=TOKEN), "dadc/never-pushed", tmp_path / "other") == 0
        assert not (tmp_path / "other").exists()


def test_a_hub_that_is_down_at_start_pauses_retraining_and_the_app_keeps_serving(fresh_state, tmp_path):
    from gradio_client import Client, handle_file

    from tests.flag_clients import distinct_drawing

    with LocalHub() as hub:
        hub.fail_with = 500
        with running_app(fresh_state, "--hub-model", MODEL, "--hub-endpoint", hub.url, env={"HF_TOKEN": TOKEN}) as url:
            client = Client(url, verbose=False)
            status, _table = rounds_view(client)
            assert "Retraining is paused" in status and "restart the app when the Hub is reachable" in status
            assert TOKEN not in status
            assert client.predict(handle_file(distinct_drawing(1, tmp_path / "one.png")), api_name="/predict")["label"] == "1"  # still serving
