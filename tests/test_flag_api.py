"""Flagging through the real server and the real gradio_client: records land in the store,
bad input stores nothing and the server keeps serving."""

import subprocess
import time

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from flagging.dataset import load_flags
from flagging.store import FlagStore
from tests.app_process import running_app, start_app, stop_app
from tests.digit_strokes import draw_digit
from tests.flag_clients import distinct_drawing, flag, receipt, sketchpad_payload


@pytest.fixture()
def app(fresh_state):
    with running_app(fresh_state) as url:
        yield url, fresh_state


def stored(state) -> list[dict]:
    try:
        return list(load_flags(state / "flags"))
    except FileNotFoundError:
        return []


def still_serving(client, tmp_path):
    path = tmp_path / "ok.png"
    Image.fromarray(draw_digit(3)).save(path)
    assert client.predict(handle_file(str(path)), api_name="/predict")["label"] == "3"


def test_fooling_and_non_fooling_flags_are_stored_with_the_servers_prediction(app, tmp_path):
    url, state = app
    client = Client(url, verbose=False)
    drawing = distinct_drawing(1, tmp_path / "d.png")  # a 1
    fooled = flag(client, drawing, "4")
    assert "You fooled the model!" in fooled and "1 of 10" in fooled
    assert "of your" not in fooled  # a tally starts at the second drawing
    right = flag(client, drawing, "1")
    assert "The model got it right" in right
    assert "Since you opened this page, 1 of your 2 drawings fooled the model." in right
    again = flag(client, drawing, "4")  # a retry of the first
    assert "Already saved" in again and receipt(again) == receipt(fooled)
    assert "it fooled the model (it said 1, you drew 4)" in again  # a double-click's second answer still says so
    assert "the model read it right (it said 1)" in flag(client, drawing, "1")
    rows = {r["id"][:8]: r for r in stored(state)}
    assert set(rows) == {receipt(fooled), receipt(right)}
    first = rows[receipt(fooled)]
    assert first["label"] == 4 and first["prediction"] == 1 and first["fooled"] is True
    assert abs(sum(first["probabilities"]) - 1) < 1e-3 and first["model_round"] == 0
    assert first["session_hash"] and first["model_input"].size == (28, 28)
    other_person = Client(url, verbose=False)  # another page: their own tally
    assert "of your" not in flag(other_person, drawing, "7")
    assert "Since you opened this page, 2 of your 3 drawings fooled the model." in flag(client, drawing, "9")


def write_corrupt_png(path):
    good = Image.new("L", (50, 50), 255)
    good.save(path)
    data = bytearray(path.read_bytes())
    data[40:60] = b"\x00" * 20  # damage the image data after the header
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "case",
    ["blank canvas", "no label", "label 12", "label x", "no drawing", "not an image", "corrupt png", "10000x10000", "over the size limit"],
)
def test_bad_flags_get_a_clear_message_store_nothing_and_the_server_keeps_serving(app, tmp_path, case):
    url, state = app
    client = Client(url, verbose=False)
    good = distinct_drawing(2, tmp_path / "good.png")
    blank = tmp_path / "blank.png"
    Image.new("RGBA", (400, 400), "white").save(blank)
    text = tmp_path / "text.png"
    text.write_text("this is not an image")
    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000), 255).save(huge)
    noise = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200, 4), dtype=np.uint8)).save(noise)  # ~5.8 MB
    calls = {
        "blank canvas": (sketchpad_payload(blank), "3", "Draw a digit first"),
        "no label": (sketchpad_payload(good), None, "Choose the digit you drew"),
        "label 12": (sketchpad_payload(good), "12", "not in the list of choices"),
        "label x": (sketchpad_payload(good), "x", "not in the list of choices"),
        "no drawing": (None, "3", "Draw a digit first"),
        "not an image": (sketchpad_payload(text), "3", "cannot identify image file"),
        "corrupt png": (sketchpad_payload(write_corrupt_png(tmp_path / "corrupt.png")), "3", "Original error"),
        "10000x10000": (sketchpad_payload(huge), "3", "exceeds limit of 33554432 pixels"),
        "over the size limit": (sketchpad_payload(noise), "3", "exceeds the maximum file size"),
    }
    payload, label, message = calls[case]
    with pytest.raises(Exception, match=message):
        client.predict(payload, label, api_name="/flag")
    assert stored(state) == []
    still_serving(client, tmp_path)
    assert "fooled" in flag(client, good, "5") or "right" in flag(client, good, "5")  # flagging still works too


def test_a_read_only_store_keeps_predictions_working_and_flagging_says_so(fresh_state, tmp_path):
    from tests.test_store import small_tmpfs

    with small_tmpfs(fresh_state / "flags", "1m"), running_app(fresh_state) as url:
        client = Client(url, verbose=False)
        drawing = distinct_drawing(3, tmp_path / "d.png")
        assert "saved as" in flag(client, drawing, "8")
        subprocess.run(["mount", "-o", "remount,ro", str(fresh_state / "flags")], check=True)
        with pytest.raises(Exception, match="Could not save your drawing: Read-only file system. Predictions still work."):
            flag(client, distinct_drawing(4, tmp_path / "e.png"), "8")
        still_serving(client, tmp_path)
        assert len(stored(fresh_state)) == 1


def test_an_unwritable_state_directory_at_start_disables_only_flagging(fresh_state, tmp_path):
    from tests.test_store import small_tmpfs

    with small_tmpfs(fresh_state / "flags", "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(fresh_state / "flags")], check=True)
        with running_app(fresh_state) as url:
            client = Client(url, verbose=False)
            with pytest.raises(Exception, match="Flagging is unavailable: the state directory cannot be written"):
                flag(client, distinct_drawing(5, tmp_path / "d.png"), "8")
            still_serving(client, tmp_path)


def test_the_app_pushes_flags_to_a_private_hub_dataset_and_never_shows_the_token(fresh_state, tmp_path):
    from tests.hub_server import LocalHub

    token = "hf_appTOKENneverShown987"
    with LocalHub() as hub:
        env = {"HF_TOKEN": token, "HF_HUB_DISABLE_XET": "1", "DADC_HUB_DATASET_PRIVATE": "1"}  # as a Space's variable
        proc, url = start_app(fresh_state, "--hub-dataset", "dadc/flags", "--push-every-minutes", "0.02", "--hub-endpoint", hub.url, env=env)
        try:
            message = flag(Client(url, verbose=False), distinct_drawing(6, tmp_path / "d.png"), "8")
            rid = receipt(message)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(rid in p for p in hub.files.get("datasets/dadc/flags", {})):
                time.sleep(0.2)
            pushed = hub.files["datasets/dadc/flags"]
            assert any(rid in p and p.endswith("-input.png") for p in pushed)
            metadata = next(v for p, v in pushed.items() if p.endswith("metadata.jsonl"))
            assert rid in metadata.decode() and token not in metadata.decode()
            assert 'datasets.load_dataset("dadc/flags", split="train")' in pushed["README.md"].decode()  # the card loads this repo
            assert hub.created["datasets/dadc/flags"]["visibility"] == "private"  # every attempt, junk and usernames included
            status = Client(url, verbose=False).predict(api_name="/rounds")[0]  # the Rounds tab tells maintainers
            assert "Flags are pushed to the dataset repo dadc/flags every 0.02 min (in step as of" in status, status
        finally:
            stop_app(proc)
        log = proc.stdout.read()
    assert token not in log and "Traceback" not in log


def test_a_hub_dataset_that_holds_another_dataset_is_neither_pushed_to_nor_restored_from(fresh_state, tmp_path):
    """`--hub-dataset you/mnist`, a dataset of one's own: the first push overwrote its card with the flags'."""
    from huggingface_hub import HfApi

    from tests.hub_server import LocalHub

    with LocalHub() as hub:
        theirs = HfApi(endpoint=hub.url, token="hf_app_token")
        theirs.create_repo("dadc/mnist", repo_type="dataset")
        for path, content in (("README.md", b"# their card"), ("data/train-00000.parquet", b"their rows")):
            theirs.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id="dadc/mnist", repo_type="dataset")
        before = dict(hub.files["datasets/dadc/mnist"])
        args = ("--hub-dataset", "dadc/mnist", "--push-every-minutes", "0.02", "--hub-endpoint", hub.url)
        with running_app(fresh_state, *args, env={"HF_TOKEN": "hf_app_token", "HF_HUB_DISABLE_XET": "1"}) as url:
            client = Client(url, verbose=False)
            assert "saved as" in flag(client, distinct_drawing(3, tmp_path / "d.png"), "8")  # kept on this disk
            time.sleep(3)  # several push periods
            status = client.predict(api_name="/rounds")[0]
        assert hub.files["datasets/dadc/mnist"] == before
        assert "Flags are not pushed to the dataset repo dadc/mnist: dadc/mnist holds files that are not this app's flags (data/train-00000.parquet)" in status, status
        assert "Retraining is paused: dadc/mnist holds files that are not this app's flags" in status and "set --hub-dataset to a repo of its own" in status
        assert not list((fresh_state / "flags" / "data").glob("*.parquet")) and len(stored(fresh_state)) == 1


def test_one_person_flagging_faster_than_anyone_draws_is_told_to_wait_and_nothing_is_stored(fresh_state, tmp_path):
    with running_app(fresh_state, "--max-flags-per-minute", "3") as url:
        script = Client(url, verbose=False)  # one session, as one browser tab or one script
        receipts = [receipt(flag(script, distinct_drawing(i, tmp_path / f"{i}.png"), "8")) for i in range(3)]
        with pytest.raises(Exception, match=r"Slow down: this app takes at most 3 flags a minute from one person. Flag again in \d+ s; this one was not saved"):
            flag(script, distinct_drawing(3, tmp_path / "3.png"), "8")
        assert {r["id"][:8] for r in stored(fresh_state)} == set(receipts)
        still_serving(script, tmp_path)  # predictions are not limited
        someone_else = Client(url, verbose=False)
        assert "saved as" in flag(someone_else, distinct_drawing(4, tmp_path / "4.png"), "8")
        assert len(stored(fresh_state)) == 4


def test_a_second_vote_by_the_same_person_is_refused_and_k_votes_need_k_people(fresh_state, tmp_path):
    with running_app(fresh_state, "--validation-votes", "2") as url:
        author, voter, another = (Client(url, verbose=False) for _ in range(3))
        flag_id_prefix = receipt(flag(author, distinct_drawing(1, tmp_path / "1.png"), "8"))  # a 1 called an 8: fooled
        _image, question, flag_id, _status = voter.predict(api_name="/next_example")
        assert question == "### Is this an 8?" and flag_id.startswith(flag_id_prefix)
        assert "Thanks, vote saved" in voter.predict(flag_id, None, "", api_name="/vote_correct")[3]
        with pytest.raises(Exception, match="You already voted on this example: press Next example."):
            voter.predict(flag_id, None, "", api_name="/vote_correct")  # a double click, or a script
        assert verified_fooled(author) == 0  # one person is not two votes
        assert "Thanks, vote saved" in another.predict(flag_id, None, "", api_name="/vote_correct")[3]
        assert verified_fooled(author) == 1
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    assert len(store.votes) == 2
    store.close()


def verified_fooled(client) -> int:
    table = client.predict(api_name="/rounds")[1]
    return table["data"][0][table["headers"].index("verified fooled")]
