import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the local test Hub speaks the plain (non-Xet) upload protocol
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from data.state_dir import resolve_state_dir  # noqa: E402


@pytest.fixture(scope="session")
def state_dir() -> Path:
    """The shared state directory: MNIST cache and the round-0 model made by the set-up step."""
    return resolve_state_dir()


@pytest.fixture(scope="session")
def round0(state_dir):
    """(model, metadata) of the round-0 checkpoint; trained here if the set-up step did not."""
    from model.checkpoint import load_checkpoint
    from training.prepare import ensure_round0

    return load_checkpoint(ensure_round0(state_dir, progress=False))


def copy_of_round0_state(state_dir: Path, fresh: Path) -> Path:
    """A new state directory holding only a copy of the round-0 model and a link to the MNIST cache."""
    import shutil

    shutil.copytree(state_dir / "checkpoints" / "round-0", fresh / "checkpoints" / "round-0")
    (fresh / "mnist").symlink_to(state_dir / "mnist")  # read-only here (retraining reads it)
    return fresh


@pytest.fixture(scope="session")
def app_url(state_dir, round0, tmp_path_factory):
    """A real app server with the round-0 model and an empty store, for the whole session.

    Never the developer's own state: examples flagged there could start a retraining round."""
    from tests.app_process import running_app

    with running_app(copy_of_round0_state(state_dir, tmp_path_factory.mktemp("shared") / "state")) as url:
        yield url


@pytest.fixture()
def fresh_state(tmp_path, state_dir, round0):
    """An empty state directory holding only a copy of the round-0 model: one per test."""
    return copy_of_round0_state(state_dir, tmp_path / "state")


@pytest.fixture(scope="session")
def hard_examples(state_dir, round0):
    """MNIST training images the round-0 model gets wrong: (images uint8 (N, 28, 28), labels, round-0 predictions)."""
    from data.mnist import load_mnist
    from training.evaluate import images_to_tensor, predict_classes

    mnist = load_mnist(state_dir)
    predictions = predict_classes(round0[0], images_to_tensor(mnist.train_images)).numpy()
    wrong = np.flatnonzero(predictions != mnist.train_labels)
    return mnist.train_images[wrong], mnist.train_labels[wrong], predictions[wrong]


def flag_as_people_would(state, hard_examples, n, model_round=0, drawings_per_person=1):
    """Store the first n of (images, labels, predictions) as examples flagged against `model_round`'s model,
    as if people had drawn them, `drawings_per_person` each in a row (fooling ones when the predictions
    are that model's and wrong)."""
    import io

    from PIL import Image

    from flagging.store import FlagStore

    images, labels, predictions = hard_examples
    store = FlagStore(state / "flags", state / "locks")
    try:
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(images[i]).save(buf, format="PNG")
            probabilities = [1.0 if d == predictions[i] else 0.0 for d in range(10)]
            fields = {"label": int(labels[i]), "prediction": int(predictions[i]), "probabilities": probabilities, "model_round": model_round, "fooled": bool(labels[i] != predictions[i]), "session_hash": f"person-{model_round}-{i // drawings_per_person}", "username": ""}
            store.append(fields, buf.getvalue(), buf.getvalue())
    finally:
        store.close()


@pytest.fixture(scope="session")
def round1_template(state_dir, round0, hard_examples, tmp_path_factory):
    """A state directory where a real retraining round (round 1) was accepted, made once per session:
    fourteen tests start from one, and a round costs 10-40 s. Tests get copies (`state_with_round1`)."""
    from training.rounds import main as run_round_cli

    template = copy_of_round0_state(state_dir, tmp_path_factory.mktemp("round1-template") / "state")
    flag_as_people_would(template, hard_examples, 40)  # as in test_rounds: enough for a round that passes its gates
    assert run_round_cli(["--state-dir", str(template)]) == 0
    return template


@pytest.fixture()
def state_with_round1(round1_template, tmp_path):
    """A copy of `round1_template` of this test's own (its flag store reads its new path into its card
    when it opens, as a moved store does)."""
    import shutil

    return Path(shutil.copytree(round1_template, tmp_path / "state", symlinks=True))
