import os
import sys
from pathlib import Path

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


@pytest.fixture(scope="session")
def app_url(state_dir, round0):
    """A real app server on the shared state directory (round-0 model), for the whole session."""
    from tests.app_process import running_app

    with running_app(state_dir) as url:
        yield url


@pytest.fixture()
def fresh_state(tmp_path, state_dir, round0):
    """An empty state directory holding only a copy of the round-0 model: one per test."""
    import shutil

    fresh = tmp_path / "state"
    shutil.copytree(state_dir / "checkpoints" / "round-0", fresh / "checkpoints" / "round-0")
    (fresh / "mnist").symlink_to(state_dir / "mnist")  # the MNIST cache, read-only here (retraining reads it)
    return fresh
