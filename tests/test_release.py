"""The verified release: agreed labels, the rounds' held-out split, loadable with `datasets`, pushed to a Hub."""

import json
import os
import subprocess
import sys

import datasets
import pytest
import torch

from flagging.release import main
from flagging.store import FlagStore
from tests.conftest import REPO_ROOT, flag_as_people_would
from tests.hub_server import LocalHub


def vote(store, record, verdict, corrected=-1, reason="", maintainer=False):
    who = {"session_hash": "maintainer", "username": "maintainer"} if maintainer else {"session_hash": "validator", "username": ""}
    store.add_vote({"flag_id": record.id, "verdict": verdict, "corrected_label": corrected, "reason": reason, **who, "is_maintainer": maintainer})


def test_a_release_holds_verified_examples_with_their_agreed_label_and_the_rounds_held_out_split(fresh_state, hard_examples, tmp_path, capsys):
    flag_as_people_would(fresh_state, hard_examples, 15)
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    in_order = sorted(store.records.values(), key=lambda r: (r.created_at, r.id))
    other_digit = min({0, 1, 2} - {in_order[1].label, in_order[1].prediction})  # neither the author's digit nor the model's
    vote(store, in_order[0], "correct")
    vote(store, in_order[1], "incorrect", other_digit)
    vote(store, in_order[2], "junk", reason="a scribble")
    vote(store, in_order[4], "correct")  # held out (every 5th person's); 9 and 14 are too, but nobody voted on them
    vote(store, in_order[5], "incorrect", in_order[5].prediction)  # the model was right after all
    store.close()

    out = tmp_path / "release"
    assert main(["--state-dir", str(fresh_state), "--validation-votes", "1", "--out", str(out)]) == 0
    assert "3 train, 1 test examples" in capsys.readouterr().out
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # the folder as a user loads it
    train, test = ds["train"], ds["test"]
    assert train["id"] == [in_order[i].id for i in (0, 1, 5)] and test["id"] == [in_order[4].id]
    assert train["label"] == [in_order[0].label, other_digit, in_order[5].prediction]
    assert train["verdict"] == ["correct", "incorrect", "incorrect"] and train["fooled"] == [True, True, False]
    assert train["author_label"] == [in_order[i].label for i in (0, 1, 5)]
    assert train.features["label"].names == [str(d) for d in range(10)]
    shard = fresh_state / "flags" / "data" / in_order[4].shard
    with open(shard / in_order[4].model_input_file_name, "rb") as f:
        assert test[0]["image"].size == (28, 28) and test.with_format(None).cast_column("image", datasets.Image(decode=False))[0]["image"]["bytes"] == f.read()
    card = (out / "README.md").read_text()
    assert "(1 agreeing vote, or a maintainer's)" in card and "3 training and 1 test examples, 3 of which fooled the model" in card
    assert f'datasets.load_dataset("{out.as_posix()}", split="test")' in card  # not pushed: its snippet loads the folder

    # again after more votes: the release is replaced whole, no leftovers
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    vote(store, store.records[in_order[9].id], "correct")
    store.close()
    assert main(["--state-dir", str(fresh_state), "--validation-votes", "1", "--out", str(out)]) == 0
    assert datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["test"]["id"] == [in_order[4].id, in_order[9].id]  # not the cached first release
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "release", "state"]

    # a folder that is not a release is never replaced: --out state would otherwise delete the state
    before = sorted(p.relative_to(fresh_state) for p in fresh_state.rglob("*"))
    with pytest.raises(SystemExit):
        main(["--state-dir", str(fresh_state), "--out", str(fresh_state)])
    assert "holds files that are not a release" in capsys.readouterr().err
    # nor written into the flag store: pushed with the flags, it would make the app take its own repo for another dataset's
    with pytest.raises(SystemExit):
        main(["--state-dir", str(fresh_state), "--out", str(fresh_state / "flags" / "release")])
    assert f"{fresh_state / 'flags' / 'release'} is inside the flag store" in capsys.readouterr().err
    assert sorted(p.relative_to(fresh_state) for p in fresh_state.rglob("*")) == before


def test_a_release_without_held_out_examples_still_loads_and_an_empty_one_is_refused(fresh_state, hard_examples, tmp_path, capsys):
    flag_as_people_would(fresh_state, hard_examples, 4)  # 4 people: the 5th person, the first held out, has not come yet
    out = tmp_path / "release"
    assert main(["--state-dir", str(fresh_state), "--out", str(out)]) == 0
    assert "4 train, 0 test examples" in capsys.readouterr().out
    ds = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))  # an empty test file would make this refuse the folder
    assert list(ds) == ["train"] and ds["train"]["label"] == hard_examples[1][:4].tolist()
    card = (out / "README.md").read_text()
    assert "There is no `test` split yet" in card and 'split="train"' in card and 'split="test"' not in card
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    # nothing verified (validation on, nobody voted): refused, and the earlier release stays as it was
    assert main(["--state-dir", str(fresh_state), "--validation-votes", "1", "--out", str(out)]) == 2
    assert "nothing to release: no verified, non-junk examples yet" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert main(["--state-dir", str(fresh_state), "--validation-votes", "1", "--out", str(tmp_path / "new")]) == 2
    assert not (tmp_path / "new").exists()


def test_a_release_is_pushed_to_a_hub_dataset_repo_and_loads_from_there(fresh_state, hard_examples, tmp_path):
    flag_as_people_would(fresh_state, hard_examples, 10)
    out = tmp_path / "release"
    command = [sys.executable, "-m", "flagging.release", "--state-dir", str(fresh_state), "--out", str(out), "--push", "dadc/digits-verified"]
    with LocalHub() as hub:
        refused = subprocess.run(command + ["--hub-endpoint", hub.url], cwd=REPO_ROOT, env={**os.environ, "HF_TOKEN": ""}, capture_output=True, text=True, timeout=300)
        assert refused.returncode == 2 and "--push needs HF_TOKEN" in refused.stderr and not out.exists()

        hub.fail_with = 500  # the Hub is down: the local release is written, the push says why
        failed = subprocess.run(command + ["--hub-endpoint", hub.url], cwd=REPO_ROOT, env={**os.environ, "HF_TOKEN": "hf_release_token"}, capture_output=True, text=True, timeout=300)
        assert failed.returncode == 1 and "error: could not push to dadc/digits-verified" in failed.stderr and (out / "data" / "train.parquet").is_file()
        assert "hf_release_token" not in failed.stdout + failed.stderr
        hub.fail_with = None

        # The app's collected flags, in a repo named much like the release's: a push there would have deleted them.
        from huggingface_hub import HfApi

        flags_repo = HfApi(endpoint=hub.url, token="hf_release_token")
        flags_repo.create_repo("dadc/digits", repo_type="dataset")
        flags_repo.upload_file(path_or_fileobj=b'{"id": "x"}\n', path_in_repo="data/shard-1/metadata.jsonl", repo_id="dadc/digits", repo_type="dataset")
        before = dict(hub.files["datasets/dadc/digits"])
        wrong_repo = subprocess.run(command[:-1] + ["dadc/digits", "--hub-endpoint", hub.url], cwd=REPO_ROOT, env={**os.environ, "HF_TOKEN": "hf_release_token"}, capture_output=True, text=True, timeout=300)
        assert wrong_repo.returncode == 2 and "error: dadc/digits holds files no release has (data/shard-1/metadata.jsonl)" in wrong_repo.stderr, wrong_repo.stderr
        assert "e.g. dadc/digits-verified; nothing was pushed" in wrong_repo.stderr and hub.files["datasets/dadc/digits"] == before

        pushed = subprocess.run(command + ["--hub-endpoint", hub.url], cwd=REPO_ROOT, env={**os.environ, "HF_TOKEN": "hf_release_token"}, capture_output=True, text=True, timeout=300)
        assert pushed.returncode == 0, pushed.stderr
        assert "hf_release_token" not in pushed.stdout + pushed.stderr and "Bearer hf_release_token" in hub.auth_headers
        assert sorted(hub.files["datasets/dadc/digits-verified"]) == ["README.md", "data/test.parquet", "data/train.parquet"]
        # someone else finds it on the Hub and runs the card's snippet as written, outside this project
        card = hub.files["datasets/dadc/digits-verified"]["README.md"].decode()
        snippet = card.split("```python\n")[1].split("```")[0]
        check = "import json\nprint(json.dumps({'train': list(datasets.load_dataset('dadc/digits-verified', split='train')['label']), 'test': labels.tolist(), 'images': images.tolist()}))\n"
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "PYTHONPATH")} | {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home")}
        loaded = subprocess.run([sys.executable, "-c", snippet + check], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
        assert loaded.returncode == 0, loaded.stderr

        # a maintainer junks both held-out examples: the next release has no test split, and neither has the Hub copy
        store = FlagStore(fresh_state / "flags", fresh_state / "locks")
        in_order = sorted(store.records.values(), key=lambda r: (r.created_at, r.id))
        for record in (in_order[4], in_order[9]):
            vote(store, record, "junk", reason="a scribble", maintainer=True)
        store.close()
        again = subprocess.run(command + ["--hub-endpoint", hub.url], cwd=REPO_ROOT, env={**os.environ, "HF_TOKEN": "hf_release_token"}, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "8 train, 0 test examples" in again.stdout, again.stderr
        assert sorted(hub.files["datasets/dadc/digits-verified"]) == ["README.md", "data/train.parquet"]
    images, labels = hard_examples[0][:10], hard_examples[1][:10].tolist()
    got = json.loads(loaded.stdout.strip().splitlines()[-1])  # validation off: all 10, every 5th person's in test
    assert got["train"] == [labels[i] for i in range(10) if i % 5 != 4] and got["test"] == [labels[4], labels[9]]
    # the images come out as the model's input: (N, 1, 28, 28) in [0, 1], exactly the stored 28×28 images
    assert torch.equal(torch.tensor(got["images"]), torch.from_numpy(images[[4, 9]]).float().unsqueeze(1) / 255)
