"""Publish accepted rounds to a Hugging Face model repo.

    HF_TOKEN=hf_... python -m training.publish --repo me/dadc-mnist [--state-dir DIR] [--endpoint URL]

The repo's main branch holds the live model (the last accepted round) with a model card
listing every round's metrics, and each round is one commit tagged `round-N`, so any round
loads back with `download_round(repo, N)` (or `MNIST_Model.from_pretrained(repo,
revision="round-N")`); each commit also carries `network.py`, so the card's snippet loads a round
without this project's code. Publishing is idempotent: rounds already tagged are skipped, so a
failed push is simply retried. The app does this in the background after each accepted round
when started with --hub-model. The token is passed to the client, never logged or stored.
Importable without gradio or datasets.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, snapshot_download

import model.network as network_module
from data.mnist import HUB_REPO as MNIST_REPO
from data.state_dir import checkpoints_dir, resolve_state_dir, round0_checkpoint_dir
from flagging.hub_sync import check_repo_id, files_in_repo, first_few, hub_endpoint, hub_error
from flagging.store import write_durably
from model.checkpoint import METADATA_FILE, WEIGHTS_FILE
from training.rounds import ROUNDS_LOG, metrics_by_round, read_rounds_log, rollbacks, round_label

log = logging.getLogger("dadc.publish")

CHECKPOINT_FILES = ["config.json", WEIGHTS_FILE, METADATA_FILE]
# The architecture travels with the weights (it imports only torch and huggingface_hub), so a round
# loads from the Hub without this project's code; the model card shows how.
NETWORK_SOURCE = Path(network_module.__file__)


def round_tag(round_: int) -> str:
    return f"round-{round_}"


def accepted_rounds(state_dir: Path) -> list[tuple[int, Path]]:
    """(round, checkpoint directory) of round 0 and every accepted round, oldest first."""
    out = [(0, round0_checkpoint_dir(state_dir))]
    out += [(e["round"], state_dir / e["checkpoint"]) for e in read_rounds_log(state_dir) if e.get("accepted")]
    return [(r, path) for r, path in out if (path / WEIGHTS_FILE).is_file()]


def published_rounds(api: HfApi, repo_id: str) -> set[int]:
    tags = api.list_repo_refs(repo_id, repo_type="model").tags
    return {int(t.name.removeprefix("round-")) for t in tags if t.name.startswith("round-") and t.name.removeprefix("round-").isdigit()}


def percent(value) -> str:
    return "—" if value is None else f"{value:.2%}"


def held_out_cell(m: dict) -> str:
    """"91.10% of 79": an accuracy on a few dozen examples means little without its count."""
    n = m.get("held_out_examples")
    return percent(m.get("held_out_accuracy")) + (f" of {n}" if n else "")


def model_card(metrics: dict[int, dict], repo_id: str, up_to_round: int, restored: dict[int, dict] | None = None, dataset_repo: str = "") -> str:
    """README.md of the model repo: what the model is, how to load a round, and the rounds so far;
    `restored` (`rollbacks` of the rounds log) marks the rollbacks; `dataset_repo`, the Hub copy of the
    flags the rounds learned from, is named with MNIST in the header (the Hub links the two repos)."""
    restored = restored or {}
    trained_on = [MNIST_REPO, *([dataset_repo] if dataset_repo else [])]
    rows = [
        f"| {round_label(r, restored)} | {percent(m.get('mnist_test_accuracy'))} | {held_out_cell(m)} | {percent(m.get('fgsm_0.1_accuracy'))} | {m.get('trained', '—')} |"
        for r, m in sorted(metrics.items())
        if r <= up_to_round
    ]
    return "\n".join(
        [
            "---",
            "library_name: pytorch",
            "pipeline_tag: image-classification",
            "tags: [mnist, dadc, adversarial, pytorch_model_hub_mixin]",
            f"datasets: [{', '.join(trained_on)}]",
            "---",
            "",
            f"# {repo_id.split('/')[1]}",
            "",
            "An MNIST digit classifier (`MNIST_Model`) retrained round by round on drawings that people made to fool it",
            "(dynamic adversarial data collection). The main branch holds the live model, round "
            f"{up_to_round}; each round is tagged `round-N`."
            + (f" The drawings the rounds learned from, with people's votes: [{dataset_repo}](/datasets/{dataset_repo})." if dataset_repo else ""),
            "",
            "## Use",
            "",
            "With `torch` and `huggingface_hub` alone: the architecture, `network.py`, comes with the weights.",
            "",
            "```python",
            "import sys",
            "",
            "import torch",
            "from huggingface_hub import snapshot_download",
            "",
            f'folder = snapshot_download("{repo_id}", revision="{round_tag(up_to_round)}")  # any round-N; without revision, the live model',
            "sys.path.insert(0, folder)",
            "from network import MNIST_Model",
            "",
            "model = MNIST_Model.from_pretrained(folder).eval()",
            "digits = torch.zeros(1, 1, 28, 28)  # replace with your 28×28 digits (see Input)",
            "print(model(digits).argmax(1))  # the model returns log-probabilities of 0–9",
            "```",
            "",
            "**Input**: a batch of 28×28 images, shape (B, 1, 28, 28), floats in [0, 1] with the ink at 1 on a",
            "background of 0, made as MNIST was: the digit's longest side scaled to 20 px and its centre of mass",
            "at the centre. The normalisation is inside the model. The app turns canvas drawings into this",
            "(`model/preprocess.py` of the app's code); with its code, `load_checkpoint(download_round(repo, N))`",
            "(`model.checkpoint`, `training.publish`) also returns the round's metadata.",
            "",
            "## Rounds",
            "",
            "| round | MNIST test accuracy | held-out people's examples | FGSM ε=0.1 accuracy | trained (people's examples) |",
            "| --- | --- | --- | --- | --- |",
            *rows,
            "",
            "MNIST test accuracy: on the 10,000 MNIST test images. Held-out people's examples: accuracy on the",
            "examples of every 5th person to flag, whom no round trained on, measured when the round was trained",
            "(how many examples that was follows the figure). FGSM ε=0.1: white-box, on the MNIST test images.",
            "Trained: round 0 on MNIST alone; a later round fine-tuned the model before it or trained a new one",
            "from scratch, on MNIST and that many people's examples.",
            f"Every retraining attempt, accepted or rejected, is a line of `{ROUNDS_LOG}`.",
            *(
                [
                    "A round marked *round K again* is a rollback: it holds round K's weights, unchanged, put back live by",
                    f"a maintainer after a bad round (why is in its line of `{ROUNDS_LOG}`), and measured anew.",
                ]
                if any(r <= up_to_round for r in restored)
                else []
            ),
            "",
        ]
    )


class NotRoundsRepo(ValueError):
    """The model repo holds another model, which publishing would overwrite."""


def another_models_files(api: HfApi, repo_id: str) -> list[str]:
    """The files that show `repo_id` holds another model: any this app never publishes, or weights
    without the `network.py` every published round carries; [] for a new, empty or rounds repo."""
    files = set(files_in_repo(api, repo_id, "model")) - {".gitattributes", "README.md"}
    ours = {*CHECKPOINT_FILES, NETWORK_SOURCE.name, ROUNDS_LOG}
    if files and NETWORK_SOURCE.name not in files:
        return sorted(files)
    return sorted(files - ours)


def publish_pending(api: HfApi, repo_id: str, state_dir: Path, dataset_repo: str = "") -> list[int]:
    """Push every accepted round not yet tagged on the Hub, oldest first; returns the rounds pushed.
    `dataset_repo`: the flags' dataset repo, for the card (see `model_card`)."""
    if foreign := another_models_files(api, repo_id):
        raise NotRoundsRepo(f"{repo_id} holds another model ({first_few(foreign)}), which publishing would overwrite: set --hub-model to a repo of its own")
    api.create_repo(repo_id, repo_type="model", exist_ok=True)
    done = published_rounds(api, repo_id)
    log_entries = read_rounds_log(state_dir)  # read once: the card and the commit messages share it
    metrics, restored = metrics_by_round(state_dir, log_entries), rollbacks(log_entries)
    pushed = []
    for round_, path in accepted_rounds(state_dir):
        if round_ in done:
            continue
        operations = [CommitOperationAdd(name, str(path / name)) for name in CHECKPOINT_FILES if (path / name).is_file()]
        operations.append(CommitOperationAdd("README.md", model_card(metrics, repo_id, round_, restored, dataset_repo).encode()))
        operations.append(CommitOperationAdd(NETWORK_SOURCE.name, str(NETWORK_SOURCE)))
        if (state_dir / ROUNDS_LOG).is_file():
            operations.append(CommitOperationAdd(ROUNDS_LOG, (state_dir / ROUNDS_LOG).read_bytes()))
        accuracy = metrics.get(round_, {}).get("mnist_test_accuracy")
        message = f"Round {round_}: MNIST test accuracy {percent(accuracy)}"
        if round_ in restored:
            message = f"Round {round_}: round {restored[round_]['restores']}'s model again (rolled back: {restored[round_]['reason']}), MNIST test accuracy {percent(accuracy)}"
        info = api.create_commit(repo_id, operations, commit_message=message, repo_type="model")
        # The commit is the round; the tag names it. A crash in between is healed next time (same files, then the tag).
        api.create_tag(repo_id, tag=round_tag(round_), revision=info.oid, repo_type="model", exist_ok=True)
        log.info("published round %d to %s", round_, repo_id)
        pushed.append(round_)
    return pushed


def download_round(repo_id: str, round_: int, *, endpoint: str | None = None, token: str | None = None, cache_dir: str | None = None) -> Path:
    """Download round `round_` of a published model repo; returns a checkpoint directory for `load_checkpoint`."""
    folder = snapshot_download(check_repo_id(repo_id), revision=round_tag(round_), allow_patterns=CHECKPOINT_FILES, endpoint=endpoint, token=token, cache_dir=cache_dir)
    return Path(folder)


def restore_rounds(api: HfApi, repo_id: str, state_dir: Path) -> list[int]:
    """Download every published round missing here, and the Hub's rounds log where it extends ours; returns the rounds restored.

    For a Space without persistent storage: after a restart it serves the last published round (not
    a retrained round 0) and numbers the next round after it, so the tags on the Hub stay one lineage.
    """
    if not api.repo_exists(repo_id, repo_type="model"):
        return []
    restored = []
    for round_ in sorted(published_rounds(api, repo_id)):
        target = checkpoints_dir(state_dir) / round_tag(round_)
        if (target / WEIGHTS_FILE).is_file():
            continue
        staging = target.with_name(f".{target.name}-restore")
        shutil.rmtree(staging, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        api.snapshot_download(repo_id, revision=round_tag(round_), allow_patterns=CHECKPOINT_FILES, local_dir=staging)
        shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping of the download
        shutil.rmtree(target, ignore_errors=True)  # an incomplete folder (no weights) from an interrupted run
        os.replace(staging, target)
        restored.append(round_)
    if api.file_exists(repo_id, ROUNDS_LOG, repo_type="model"):
        with tempfile.TemporaryDirectory(dir=state_dir) as staging:
            remote = Path(api.hf_hub_download(repo_id, ROUNDS_LOG, local_dir=staging)).read_bytes()
        local_path = state_dir / ROUNDS_LOG
        local = local_path.read_bytes() if local_path.is_file() else b""
        if len(remote) > len(local) and remote.startswith(local):  # the log is append-only: ours is a prefix of it
            write_durably(local_path, remote)
    if restored:
        log.info("restored rounds %s from %s", restored, repo_id)
    return restored


class ModelPublisher:
    """The app's publishing: pushes pending rounds at start and after each accepted round, in a
    background thread; a failed push is retried every `retry_seconds`. Never blocks serving."""

    def __init__(self, state_dir: Path, repo_id: str, token: str, *, endpoint: str | None = None, retry_seconds: float = 60, dataset_repo: str = ""):
        self.state_dir, self.repo_id, self.retry_seconds = state_dir, check_repo_id(repo_id), retry_seconds
        self.dataset_repo = dataset_repo  # named on the card; "" for none (or a private one)
        self._api = HfApi(endpoint=endpoint, token=token)
        self._wake, self._stopped = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self.published: set[int] = set()
        self.last_error = ""  # shown to maintainers; never contains the token
        self.refused = ""  # why nothing is ever published to this repo: it holds another model

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="model-publisher", daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Publish what is pending now (called after a round is accepted)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                publish_pending(self._api, self.repo_id, self.state_dir, self.dataset_repo)
                self.published = published_rounds(self._api, self.repo_id)
                self.last_error = ""
                retry = None
            except NotRoundsRepo as e:  # a setting to fix, not an outage to wait out
                self.refused = str(e)
                log.error("not publishing: %s", e)
                return
            except Exception as e:  # the Hub is down or refuses: the app keeps serving, we retry
                self.last_error = f"{hub_error(e)}: could not publish to {self.repo_id}"
                log.warning("%s; retrying in %s s", self.last_error, self.retry_seconds)
                retry = self.retry_seconds
            self._wake.wait(retry)

    def status(self) -> str:
        if self.refused:
            return f"Models are not published: {self.refused}."
        if self.last_error:
            return f"Publishing models to {self.repo_id} failed ({self.last_error}); retrying."
        if not self.published:
            return f"Publishing models to {self.repo_id}…"
        return f"Models are published to {self.repo_id}: rounds {', '.join(map(str, sorted(self.published)))} (tags round-N)."

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", required=True, help="model repo 'namespace/name' (created if missing; required)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--dataset", default="", help="dataset repo of the flags the rounds learned from, named and linked on the card (default none)")
    p.add_argument("--endpoint", type=hub_endpoint, default=os.environ.get("HF_ENDPOINT") or None, help="Hub URL (default: huggingface.co, env HF_ENDPOINT)")
    args = p.parse_args(argv)
    token = os.environ.get("HF_TOKEN", "")
    if not token:
        print("error: set HF_TOKEN to a write token to publish", file=sys.stderr)
        return 2
    try:
        check_repo_id(args.repo)
        if args.dataset:
            check_repo_id(args.dataset)
    except ValueError as e:
        p.error(str(e))
    state_dir = resolve_state_dir(args.state_dir, create=False)
    if not accepted_rounds(state_dir):
        print(f"error: no checkpoints under {state_dir} (train round 0 with python -m training.train)", file=sys.stderr)
        return 2
    try:
        pushed = publish_pending(HfApi(endpoint=args.endpoint, token=token), args.repo, state_dir, args.dataset)
    except NotRoundsRepo as e:
        print(f"error: {e}; nothing was published", file=sys.stderr)
        return 2
    except Exception as e:  # the message of a Hub error never holds the token
        print(f"error: publishing to {args.repo} failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"published rounds {pushed} to {args.repo}" if pushed else f"{args.repo} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
