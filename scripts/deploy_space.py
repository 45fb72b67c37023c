"""Deploy the app to a Hugging Face Space in one command.

    HF_TOKEN=hf_... .venv/bin/python scripts/deploy_space.py you/fool-the-digits \\
        --hub-dataset you/dadc-digits --hub-model you/dadc-mnist [--maintainers you] [--persistent-dir /data/dadc]
    .venv/bin/python scripts/deploy_space.py you/fool-the-digits --out DIR     # only write the Space's folder

Writes the Space's folder: the app and its packages as committed at git HEAD (never the state
directory, a virtual environment or uncommitted changes), requirements.txt, and a README whose
header makes it a Gradio Space with "Sign in with Hugging Face". Then checks the settings as the
app would at start (a bad one stops here, before anything is created), creates the Space, sets
its variables (DADC_*) and its HF_TOKEN secret, and uploads the folder as one commit; a later
deploy replaces the Space's code and leaves its settings' other variables alone.

The Space's token is $DADC_SPACE_TOKEN when set (best: a fine-grained token that can write only
the dataset and model repos), else $HF_TOKEN. It is only ever sent as the Space's secret: never
written to a file, a variable or the output.
"""

from __future__ import annotations

import argparse
import io
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from flagging.hub_sync import check_repo_id, files_in_repo, first_few, hub_endpoint  # noqa: E402

# What the Space runs: app.py imports only these packages (tests, benchmarks and scripts stay here).
SPACE_PATHS = ("app.py", "requirements.txt", "data", "model", "flagging", "serving", "training")
HUB_URL = "https://huggingface.co"
SPACE_README = """---
title: {title}
sdk: gradio
sdk_version: {gradio_version}
python_version: "3.11"
app_file: app.py
hf_oauth: true
{links}---
# {title}

Draw a digit and try to make the model read it wrong. When it does, say which digit you drew and
press **Flag**: the drawings that fool it are checked by other people (the **Validate** tab) and
the model is retrained on them, round after round (the **Rounds** tab). The **Machine adversary**
tab shows how little a machine needs to change your drawing to fool it.

Dynamic adversarial data collection on handwritten digits; deployed with `scripts/deploy_space.py`.
{repos}"""


def space_readme(title: str, gradio_version: str, hub_url: str, dataset: str = "", model: str = "") -> str:
    """The Space's README: its header, and the repos it pushes to, named in the header's `datasets` and
    `models` (the Hub then lists the Space on those repos' pages, and them on the Space's) and linked below."""
    links = "".join(f"{kind}:\n  - {repo}\n" for kind, repo in (("datasets", dataset), ("models", model)) if repo)
    repos = []
    if dataset:
        repos.append(f"The drawings collected here, every attempt with its votes: [{dataset}]({hub_url}/datasets/{dataset}).")
    if model:
        repos.append(f"Every round's model, tagged `round-N`, with the rounds' scores on its card: [{model}]({hub_url}/{model}).")
    return SPACE_README.format(title=title, gradio_version=gradio_version, links=links, repos="".join(f"\n{line}\n" for line in repos))


def pinned_gradio_version(requirements: str) -> str:
    """The Space must run the Gradio that requirements.txt pins (its header's sdk_version installs it)."""
    found = re.search(r"^gradio==(\S+)", requirements, re.MULTILINE)
    if not found:
        raise ValueError("requirements.txt pins no gradio version (gradio==X.Y.Z)")
    return found[1]


def committed_files(root: Path, out: Path) -> tuple[str, list[str]]:
    """Extract SPACE_PATHS as committed at HEAD of the git checkout `root` into `out`: (commit, paths)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "archive", "--format=tar", "HEAD", "--", *SPACE_PATHS], cwd=root, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError(f"{root} is not a git checkout with a commit: the Space gets the committed files only") from e
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        files = sorted(m.name for m in tar.getmembers() if m.isfile())
        tar.extractall(out, filter="data")
    return commit, files


def write_space_folder(root: Path, out: Path, title: str, hub_url: str = HUB_URL, dataset: str = "", model: str = "") -> tuple[str, list[str]]:
    """Write the Space's files into the empty or new folder `out`: (the commit they come from, their paths).
    `dataset` and `model`: the repos the Space pushes to, named in its README."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} must be a new or empty folder")
    out.mkdir(parents=True, exist_ok=True)
    commit, files = committed_files(root, out)
    gradio_version = pinned_gradio_version((out / "requirements.txt").read_text())
    (out / "README.md").write_text(space_readme(title, gradio_version, hub_url, dataset, model))
    return commit, [*files, "README.md"]


def app_settings() -> set[str]:
    """The environment variables the app reads its settings from: each `env("DADC_...")` of the app's
    parse_args (serving/settings.py), and the state directory's. A --set of any other name would be silently ignored."""
    from data.state_dir import ENV_VAR

    return set(re.findall(r'env\("(DADC_[A-Z_]+)"', (REPO_ROOT / "serving" / "settings.py").read_text())) | {ENV_VAR}


def space_variables(args) -> dict[str, str]:
    """The app's settings as the Space's variables (each is the environment variable of an app option)."""
    chosen = {
        "DADC_HUB_DATASET": args.hub_dataset,
        "DADC_HUB_MODEL": args.hub_model,
        "DADC_MAINTAINERS": args.maintainers,
        "DADC_VALIDATION_VOTES": None if args.validation_votes is None else str(args.validation_votes),
        "DADC_STATE_DIR": args.persistent_dir,
    }
    for setting in args.set:
        key, _, value = setting.partition("=")
        chosen[key] = value
    return {k: v for k, v in chosen.items() if v}


def persistent_dir_problem(state_dir: str | None) -> str | None:
    """A state directory off the Space's persistent volume, /data, is on the disk it loses at every restart:
    a relative one lands in the app's folder, so the flags the maintainer meant to keep would go."""
    if state_dir and not PurePosixPath(posixpath.normpath(state_dir)).is_relative_to("/data"):
        return f"--persistent-dir (DADC_STATE_DIR) {state_dir!r} is not on the Space's persistent storage, which Spaces mount at /data: use e.g. /data/dadc"
    return None


def check_settings(variables: dict[str, str]) -> argparse.Namespace:
    """Parse the settings as the app will on the Space (its own messages; exits 2 on a bad one); returns them."""
    from serving.settings import parse_args

    saved = dict(os.environ)
    # Only the Space's settings: none of this shell's own DADC_* or GRADIO_SERVER_* variables.
    os.environ.clear()
    os.environ.update({k: v for k, v in saved.items() if not k.startswith(("DADC_", "GRADIO_SERVER_"))})
    # What the Space sets: SYSTEM, and with hf_oauth: true in its README an OAuth client (the sign-in button).
    os.environ.update(variables | {"SYSTEM": "spaces", "OAUTH_CLIENT_ID": "set-by-the-space"})
    try:
        return parse_args([])
    finally:
        os.environ.clear()
        os.environ.update(saved)


class AnotherApp(ValueError):
    """The Space runs code this command did not deploy, which a deploy would replace."""


def another_apps_code(api, space: str) -> list[str]:
    """The Python files of an existing Space that runs another app ([] for a new Space, one with only its
    README, or one this command deployed before: it has this app's own flagging/store.py)."""
    files = files_in_repo(api, space, "space")
    return [] if "flagging/store.py" in files else sorted(f for f in files if f.endswith(".py"))


def deploy(folder: Path, commit: str, space: str, variables: dict[str, str], space_token: str | None, *, token: str, private: bool, endpoint: str | None) -> str:
    """Create the Space (if new), set its variables and secret, upload `folder` as one commit; returns the commit id."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    if code := another_apps_code(api, space):  # before its settings are touched
        raise AnotherApp(f"{space} runs another app ({first_few(code)}), whose code and settings a deploy would replace: deploy to a new Space, or to one this command deployed")
    api.create_repo(space, repo_type="space", space_sdk="gradio", private=private, exist_ok=True)
    # Settings first: the Space builds on the upload, and should start with them.
    for key, value in variables.items():
        api.add_space_variable(space, key, value)
    if space_token:
        api.add_space_secret(space, "HF_TOKEN", space_token, description="pushes flags and rounds to the Hub")
    # Python files the code no longer has are deleted, so the Space runs exactly this code.
    uploaded = api.upload_folder(folder_path=folder, repo_id=space, repo_type="space", commit_message=f"Deploy the DADC digits app (git {commit})", delete_patterns=["*.py"])
    return uploaded.oid


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("space", help="the Space, 'namespace/name' (created if new)")
    p.add_argument("--title", default="Fool the digit model", help="the Space's title (default 'Fool the digit model')")
    p.add_argument("--hub-dataset", default="", help="dataset repo the Space pushes flags to (variable DADC_HUB_DATASET; default none)")
    p.add_argument("--hub-model", default="", help="model repo the Space publishes rounds to (variable DADC_HUB_MODEL; default none)")
    p.add_argument("--maintainers", default="", help="comma-separated usernames whose vote decides alone (default none)")
    p.add_argument("--validation-votes", type=int, default=None, help="agreeing votes that verify an example (default: the app's, 0 = off)")
    p.add_argument("--persistent-dir", default="", help="state directory on the Space's persistent storage, under /data, e.g. /data/dadc (default: the Space's disk, lost at restarts)")
    p.add_argument("--set", action="append", default=[], metavar="DADC_NAME=VALUE", help="any other app setting by its environment variable, e.g. DADC_RETRAIN_THRESHOLD=20 (repeatable)")
    p.add_argument("--private", action="store_true", help="create the Space private (default public)")
    p.add_argument("--hub-endpoint", type=hub_endpoint, default=os.environ.get("HF_ENDPOINT") or None, help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")
    p.add_argument("--out", type=Path, default=None, help="only write the Space's folder here (new or empty); deploy nothing")
    args = p.parse_args(argv)
    try:
        check_repo_id(args.space)  # the repos the Space pushes to are checked with its other settings
    except ValueError as e:
        p.error(f"space: {e}")
    known = app_settings()
    for setting in args.set:
        if not re.fullmatch(r"DADC_[A-Z_]+=.*", setting):
            p.error(f"--set takes DADC_NAME=VALUE (an app setting's environment variable), not {setting!r}")
        if setting.partition("=")[0] not in known:
            p.error(f"--set {setting!r}: the app has no setting {setting.partition('=')[0]}; it reads {', '.join(sorted(known))}")
    token = os.environ.get("HF_TOKEN")
    space_token = os.environ.get("DADC_SPACE_TOKEN") or token
    if args.out is None and not token:
        p.error("deploying needs HF_TOKEN in the environment (or --out DIR to only write the folder)")
    variables = space_variables(args)
    if problem := persistent_dir_problem(variables.get("DADC_STATE_DIR")):
        p.error(problem)
    settings = check_settings(variables)
    from serving.settings import public_dataset_repo  # with the settings: importing them loads torch

    needs_token = bool(args.hub_dataset or args.hub_model)
    hub_url = (args.hub_endpoint or HUB_URL).rstrip("/")
    with tempfile.TemporaryDirectory() as staging:
        folder = args.out or Path(staging)
        try:
            commit, files = write_space_folder(REPO_ROOT, folder, args.title, hub_url, public_dataset_repo(settings), settings.hub_model)
        except (FileExistsError, RuntimeError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        if args.out is not None:
            print(f"wrote {len(files)} files of git {commit} to {args.out}")
            return 0
        try:
            uploaded = deploy(folder, commit, args.space, variables, space_token if needs_token else None, token=token, private=args.private, endpoint=args.hub_endpoint)
        except AnotherApp as e:
            print(f"error: {e}; nothing was changed", file=sys.stderr)
            return 2
        except Exception as e:  # the Hub's errors, said plainly (they never contain the token)
            print(f"error: could not deploy to {args.space}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
    print(f"deployed git {commit} to {hub_url}/spaces/{args.space} (Hub commit {uploaded})")
    print("variables: " + (", ".join(f"{k}={v}" for k, v in variables.items()) or "none"))
    print("secret HF_TOKEN: " + ("set" if needs_token else "not set (no --hub-dataset or --hub-model)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
