import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from data.state_dir import resolve_state_dir, round0_checkpoint_dir  # noqa: E402


@pytest.fixture(scope="session")
def state_dir() -> Path:
    """The shared state directory: MNIST cache and the round-0 model made by the set-up step."""
    return resolve_state_dir()


@pytest.fixture(scope="session")
def round0(state_dir):
    """(model, metadata) of the round-0 checkpoint; trained here if the set-up step did not."""
    from model.checkpoint import load_checkpoint
    from training.train import TrainConfig, train_round0

    path = round0_checkpoint_dir(state_dir)
    if not (path / "model.safetensors").exists():
        train_round0(state_dir, TrainConfig(), progress=False)
    return load_checkpoint(path)
