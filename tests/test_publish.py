"""Publishing rounds to a Hub model repo, against the local Hub-compatible server (tests/hub_server.py)."""

import json
import os
import subprocess
import sys
import time

import torch
from huggingface_hub import ModelCard

from model.checkpoint import load_checkpoint
from tests.conftest import REPO_ROOT
from tests.hub_server import LocalHub
from training.publish import ModelPublisher, download_round
from training.rounds import read_rounds_log

REPO = "dadc/mnist-rounds"
TOKEN = "hf_secret_publish_token"


def publish_cli(state_dir, hub, *args, token=TOKEN):
    env = {k: v for k, v in os.environ.items() if k != "HF_TOKEN"} | ({"HF_TOKEN": token} if token else {})
    return subprocess.run(
        [sys.executable, "-m", "training.publish", "--repo", REPO, "--state-dir", str(state_dir), "--endpoint", hub.url, *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_each_accepted_round_is_a_tagged_commit_that_loads_back(state_with_round1, tmp_path):
    with LocalHub() as hub:
        out = publish_cli(state_with_round1, hub, "--dataset", "dadc/digits")
        assert out.returncode == 0, out.stderr
        assert "published rounds [0, 1]" in out.stdout
        assert TOKEN not in out.stdout + out.stderr
        assert hub.auth_headers == {f"Bearer {TOKEN}"}

        key = f"models/{REPO}"
        assert set(hub.tags[key]) == {"round-0", "round-1"}
        assert hub.heads[key] == hub.tags[key]["round-1"]  # main is the live model
        card = hub.files[key]["README.md"].decode()
        assert "| 0 | 99." in card and "| 1 | " in card and "round 1" in card
        # what the rounds learned from, in the header the Hub reads (it links the repos) and in a link
        assert ModelCard(card).data.datasets == ["ylecun/mnist", "dadc/digits"] and "](/datasets/dadc/digits)" in card
        # round 1's held-out accuracy comes with the number of examples it was measured on
        held_out = next(e["n_held_out_examples"] for e in read_rounds_log(state_with_round1) if e["accepted"])
        row_1 = next(line for line in card.splitlines() if line.startswith("| 1 | "))
        assert held_out == 8 and f"% of {held_out} |" in row_1, row_1  # every 5th of 40 people
        # and how each round learned: round 1 fine-tuned round 0 on the other 32 (fewer than auto's 150)
        assert row_1.endswith("| fine-tuned (32) |"), row_1
        assert next(line for line in card.splitlines() if line.startswith("| 0 | ")).endswith("| MNIST only |")

        for round_ in (0, 1):
            local = state_with_round1 / "checkpoints" / f"round-{round_}"
            folder = download_round(REPO, round_, endpoint=hub.url, cache_dir=str(tmp_path / "cache"))
            assert (folder / "model.safetensors").read_bytes() == (local / "model.safetensors").read_bytes()
            _model, metadata = load_checkpoint(folder)
            assert metadata["round"] == round_

        # Someone who finds the repo on the Hub, without this project's code, runs the card's snippet as written.
        snippet = card.split("```python\n")[1].split("```")[0]
        check = "torch.manual_seed(0)\nprint(json.dumps(model(torch.rand(4, 1, 28, 28)).tolist()))\n"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PYTHONPATH")} | {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home")}
        no_project = "import importlib.util\nassert importlib.util.find_spec('model') is None and importlib.util.find_spec('training') is None\n"
        ran = subprocess.run([sys.executable, "-c", no_project + snippet + "import json\n" + check], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120)
        assert ran.returncode == 0, ran.stderr
        round_1, _ = load_checkpoint(state_with_round1 / "checkpoints" / "round-1")
        torch.manual_seed(0)
        expected = round_1.eval()(torch.rand(4, 1, 28, 28))
        assert torch.allclose(torch.tensor(json.loads(ran.stdout.splitlines()[-1])), expected, atol=1e-5)

        # a second run finds both tags and pushes nothing
        commits = len(hub.commits)
        again = publish_cli(state_with_round1, hub)
        assert again.returncode == 0 and "up to date" in again.stdout and len(hub.commits) == commits


def test_publishing_needs_a_token_and_a_well_formed_repo(fresh_state):
    with LocalHub() as hub:
        no_token = publish_cli(fresh_state, hub, token="")
        assert no_token.returncode == 2 and "HF_TOKEN" in no_token.stderr
        bad = subprocess.run(
            [sys.executable, "-m", "training.publish", "--repo", "no-namespace", "--state-dir", str(fresh_state)],
            cwd=REPO_ROOT, env=os.environ | {"HF_TOKEN": TOKEN}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert bad.returncode == 2 and "namespace/name" in bad.stderr
        assert hub.requests == []


def test_a_model_repo_that_holds_another_model_is_never_published_to(fresh_state):
    """`--hub-model you/mnist`, a model of one's own: round 0 replaced its weights and card on main."""
    from huggingface_hub import HfApi

    with LocalHub() as hub:
        theirs = HfApi(endpoint=hub.url, token=TOKEN)
        theirs.create_repo("dadc/mnist", repo_type="model")
        for path in ("README.md", "model.safetensors", "config.json"):  # the same names ours have, but no network.py
            theirs.upload_file(path_or_fileobj=b"theirs", path_in_repo=path, repo_id="dadc/mnist", repo_type="model")
        before = dict(hub.files["models/dadc/mnist"])
        out = publish_cli(fresh_state, hub, "--repo", "dadc/mnist")
        assert out.returncode == 2 and "error: dadc/mnist holds another model (config.json, model.safetensors), which publishing would overwrite" in out.stderr, out.stderr
        publisher = ModelPublisher(fresh_state, "dadc/mnist", TOKEN, endpoint=hub.url, retry_seconds=0.1)
        publisher.start()
        publisher._thread.join(timeout=30)  # it stops: a retry would find the same
        assert not publisher._thread.is_alive() and publisher.status().startswith("Models are not published: dadc/mnist holds another model")
        assert hub.files["models/dadc/mnist"] == before and "models/dadc/mnist" not in hub.tags


def test_the_app_names_its_dataset_repo_on_the_model_card_unless_it_was_made_private(fresh_state, monkeypatch):
    from serving.settings import parse_args
    from serving.startup import start_publisher

    monkeypatch.setenv("HF_TOKEN", TOKEN)
    with LocalHub() as hub:
        for model_repo, private, trained_on in (("dadc/public", [], ["ylecun/mnist", "dadc/digits"]), ("dadc/private", ["--hub-dataset-private"], ["ylecun/mnist"])):
            args = parse_args(["--hub-dataset", "dadc/digits", "--hub-model", model_repo, "--hub-endpoint", hub.url, *private])
            publisher = start_publisher(args, fresh_state)
            try:
                deadline = time.monotonic() + 30
                while publisher.published != {0} and time.monotonic() < deadline:
                    time.sleep(0.05)
            finally:
                publisher.stop()
            card = hub.files[f"models/{model_repo}"]["README.md"].decode()
            assert ModelCard(card).data.datasets == trained_on
            assert ("dadc/digits" in card) == (not private)


def test_a_hub_outage_delays_publishing_and_loses_nothing(fresh_state):
    with LocalHub() as hub:
        hub.fail_with = 500
        publisher = ModelPublisher(fresh_state, REPO, TOKEN, endpoint=hub.url, retry_seconds=0.2)
        publisher.start()
        try:
            deadline = time.monotonic() + 30
            while not publisher.last_error and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "failed (HfHubHTTPError, HTTP 500: could not publish" in publisher.status() and "retrying" in publisher.status()
            assert TOKEN not in publisher.status()
            assert f"models/{REPO}" not in hub.tags

            hub.fail_with = None  # the Hub comes back: the next retry publishes round 0
            deadline = time.monotonic() + 30
            while publisher.published != {0} and time.monotonic() < deadline:
                time.sleep(0.05)
            assert publisher.published == {0} and "rounds 0" in publisher.status()
            assert set(hub.tags[f"models/{REPO}"]) == {"round-0"}
        finally:
            publisher.stop()


def test_the_app_refuses_a_malformed_model_repo_before_starting(tmp_path):
    from tests.app_process import start_app_expecting_refusal

    out = start_app_expecting_refusal("--state-dir", str(tmp_path / "state"), "--hub-model", "no-namespace")
    assert out.returncode == 2 and "--hub-model: repo id must look like 'namespace/name', not 'no-namespace'" in out.stderr
    assert not (tmp_path / "state").exists()  # nothing was trained or written
