"""One command deploys the app to a Space: a self-contained folder of the committed code, the Space's
settings and secret, against a local Hub; nothing is created when a setting is bad."""

import os
import subprocess
import sys
import urllib.request

import gradio
from huggingface_hub import HfApi
from huggingface_hub.repocard import metadata_load

from scripts.deploy_space import write_space_folder
from tests.app_process import REPO_ROOT, running_app
from tests.hub_server import LocalHub

SPACE = "spaces/dadc/fool-the-digits"


def deploy(*args, env=None):
    command = [sys.executable, "scripts/deploy_space.py", "dadc/fool-the-digits", *args]
    return subprocess.run(command, cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


def git(checkout, *args) -> str:
    return subprocess.run(["git", *args], cwd=checkout, capture_output=True, text=True, check=True).stdout


def test_the_space_folder_holds_only_committed_code_and_serves_on_its_own(tmp_path, fresh_state):
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(checkout)], check=True)
    (checkout / "model" / "scratch.py").write_text("raise SystemExit('an uncommitted file was deployed')\n")
    with open(checkout / "model" / "network.py", "a") as f:
        f.write("raise SystemExit('an uncommitted change was deployed')\n")
    (checkout / "state").mkdir()
    (checkout / "state" / "token.txt").write_text("hf_never_deployed")
    out = tmp_path / "space"
    out.mkdir()
    commit, files = write_space_folder(checkout, out, "Fool the digit model")

    assert "app.py" in files and "model/network.py" in files and "requirements.txt" in files
    assert not [f for f in files if f.startswith(("tests/", "bench/", "scripts/", "state/", ".venv/", "docs/")) or f == "model/scratch.py"]
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == sorted(files)
    assert commit == git(checkout, "rev-parse", "--short", "HEAD").strip()
    assert (out / "model" / "network.py").read_text() == git(checkout, "show", "HEAD:model/network.py")  # committed, not changed since
    readme = (out / "README.md").read_text()
    # the header that makes it a Gradio Space with sign-in, running the Gradio that requirements.txt pins
    assert readme.startswith("---\ntitle: Fool the digit model\nsdk: gradio\n")
    assert f"sdk_version: {gradio.__version__}\n" in readme and "hf_oauth: true\n" in readme and "app_file: app.py\n" in readme
    # the folder serves by itself (its own packages, not this checkout's)
    with running_app(fresh_state, script=str(out / "app.py")) as url:
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200 and "Fool the model" in page.read().decode()


def test_deploy_creates_the_space_with_its_settings_and_keeps_the_token_secret(tmp_path):
    env = {"HF_TOKEN": "hf_deployer_token", "DADC_SPACE_TOKEN": "hf_space_token"}
    args = ["--hub-dataset", "dadc/digits", "--hub-model", "dadc/mnist", "--maintainers", "alice", "--persistent-dir", "/data/dadc", "--set", "DADC_RETRAIN_THRESHOLD=20", "--set", "DADC_REQUIRE_SIGN_IN=vote"]
    with LocalHub() as hub:
        done = deploy(*args, env=env | {"HF_ENDPOINT": hub.url, "DADC_RETRAIN_METHOD": "not-a-method"})
        assert done.returncode == 0, done.stderr
        assert hub.created[SPACE]["type"] == "space" and hub.created[SPACE]["sdk"] == "gradio"
        assert hub.space_variables[SPACE] == {
            "DADC_HUB_DATASET": "dadc/digits",
            "DADC_HUB_MODEL": "dadc/mnist",
            "DADC_MAINTAINERS": "alice",
            "DADC_STATE_DIR": "/data/dadc",
            "DADC_RETRAIN_THRESHOLD": "20",
            "DADC_REQUIRE_SIGN_IN": "vote",  # the Space has the sign-in button (hf_oauth: true), so this is allowed
        }
        assert hub.space_secrets[SPACE] == {"HF_TOKEN": "hf_space_token"}  # the Space's own token, as a secret only
        deployed = hub.files[SPACE]
        head = git(REPO_ROOT, "rev-parse", "--short", "HEAD").strip()
        assert deployed["app.py"].decode() == git(REPO_ROOT, "show", "HEAD:app.py") and deployed["README.md"].startswith(b"---\ntitle:")
        card = tmp_path / "space-README.md"
        card.write_bytes(deployed["README.md"])
        header = metadata_load(card)  # as the Hub reads it: the Space is listed on both repos' pages, and they on its
        assert (header["datasets"], header["models"], header["hf_oauth"]) == (["dadc/digits"], ["dadc/mnist"], True)
        assert f"]({hub.url}/datasets/dadc/digits)" in card.read_text() and f"]({hub.url}/dadc/mnist)" in card.read_text()
        assert hub.commits[-1]["message"] == f"Deploy the DADC digits app (git {head})" and f"deployed git {head} to {hub.url}/spaces/dadc/fool-the-digits" in done.stdout
        assert "Bearer hf_deployer_token" in hub.auth_headers
        for secret in ("hf_deployer_token", "hf_space_token"):
            assert secret not in done.stdout + done.stderr
            assert not any(secret.encode() in content for content in deployed.values())

        # A later deploy replaces the code: a module the code no longer has is deleted, other files stay.
        api = HfApi(endpoint=hub.url, token="hf_deployer_token")
        for path, content in (("training/removed_since.py", b""), ("notes.md", b"kept")):
            api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id="dadc/fool-the-digits", repo_type="space")
        again = deploy(env={"HF_TOKEN": "hf_deployer_token", "HF_ENDPOINT": hub.url})
        assert again.returncode == 0, again.stderr
        assert "training/removed_since.py" not in hub.files[SPACE] and hub.files[SPACE]["notes.md"] == b"kept"
        assert "secret HF_TOKEN: not set" in again.stdout


def test_a_private_dataset_repo_is_not_named_on_the_space_page(tmp_path):
    done = deploy("--hub-dataset", "dadc/secret-digits", "--hub-model", "dadc/mnist", "--set", "DADC_HUB_DATASET_PRIVATE=1", "--out", str(tmp_path / "space"))
    assert done.returncode == 0, done.stderr
    card = tmp_path / "space" / "README.md"
    assert "secret-digits" not in card.read_text()
    assert "datasets" not in metadata_load(card) and metadata_load(card)["models"] == ["dadc/mnist"]


def test_a_bad_setting_or_a_failing_hub_is_reported_and_creates_nothing(tmp_path):
    with LocalHub() as hub:
        env = {"HF_TOKEN": "hf_deployer_token", "HF_ENDPOINT": hub.url}
        # this shell's own settings are not the Space's: only what the deploy sets is checked
        bad = deploy("--set", "DADC_RETRAIN_THRESHOLD=0", env=env | {"DADC_RETRAIN_METHOD": "not-a-method"})
        assert bad.returncode == 2 and "--retrain-threshold must be at least 1, not 0" in bad.stderr
        not_a_setting = deploy("--set", "HF_TOKEN=hf_in_a_variable", env=env)
        assert not_a_setting.returncode == 2 and "--set takes DADC_NAME=VALUE" in not_a_setting.stderr
        typo = deploy("--set", "DADC_RETRAN_THRESHOLD=20", env=env)
        assert typo.returncode == 2 and "the app has no setting DADC_RETRAN_THRESHOLD" in typo.stderr and "DADC_RETRAIN_THRESHOLD" in typo.stderr
        for off_the_volume in (("--persistent-dir", "state"), ("--persistent-dir", "/data/../tmp"), ("--set", "DADC_STATE_DIR=/tmp/dadc")):
            lost_at_restart = deploy(*off_the_volume, env=env)  # a state directory the Space's restarts would wipe
            assert lost_at_restart.returncode == 2 and "is not on the Space's persistent storage, which Spaces mount at /data" in lost_at_restart.stderr
        no_token = deploy(env={"HF_TOKEN": "", "HF_ENDPOINT": hub.url})
        assert no_token.returncode == 2 and "needs HF_TOKEN" in no_token.stderr
        assert hub.requests == []  # the settings are checked before anything is created

        # Someone's other Space under that name: its code and settings stay as they are.
        from huggingface_hub import HfApi

        theirs = HfApi(endpoint=hub.url, token="hf_deployer_token")
        theirs.create_repo("dadc/fool-the-digits", repo_type="space", space_sdk="gradio")
        theirs.upload_file(path_or_fileobj=b"import gradio\n", path_in_repo="app.py", repo_id="dadc/fool-the-digits", repo_type="space")
        before, requests = dict(hub.files[SPACE]), len(hub.requests)
        other = deploy("--hub-dataset", "dadc/digits", env=env)
        assert other.returncode == 2 and "error: dadc/fool-the-digits runs another app (app.py), whose code and settings a deploy would replace" in other.stderr, other.stderr
        assert hub.files[SPACE] == before and SPACE not in hub.space_variables
        assert {method for method, _ in hub.requests[requests:]} <= {"GET", "HEAD"}, hub.requests[requests:]  # it only looked

        hub.fail_with = 500
        failed = deploy("--hub-dataset", "dadc/digits", env=env)
        assert failed.returncode == 1 and "error: could not deploy to dadc/fool-the-digits" in failed.stderr
        assert "hf_deployer_token" not in failed.stdout + failed.stderr
