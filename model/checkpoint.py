"""Checkpoints: safetensors weights + config.json (PyTorchModelHubMixin layout) + metadata.json.

A checkpoint directory can be pushed to a Hub model repo unchanged and loaded back with
`MNIST_Model.from_pretrained`. Only safetensors are ever loaded: no pickle.
"""

import contextlib
import hashlib
import io
import json
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from data.state_dir import fsync_path
from model.network import MNIST_Model

WEIGHTS_FILE = "model.safetensors"
METADATA_FILE = "metadata.json"
# What save_checkpoint writes: a folder holding one of them is a checkpoint, if a damaged one, and may be replaced.
CHECKPOINT_FILES = (WEIGHTS_FILE, "config.json", METADATA_FILE)


def data_hash(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 over the training images and labels: which data a model saw, in one string."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.ascontiguousarray(labels).tobytes())
    return h.hexdigest()


class CheckpointError(ValueError):
    """A checkpoint folder whose files cannot be read back: damaged, cut short, or another model's."""


def replace_problem(directory: Path) -> str | None:
    """Why a checkpoint may not be written to `directory`, or None: it replaces a checkpoint folder, an
    empty folder or nothing, never a file or a folder of other files (an `--out` mistyped as /etc/passwd)."""
    directory = Path(directory)
    if directory.is_symlink() or (directory.exists() and not directory.is_dir()):
        return f"{directory} is a file, not a checkpoint folder: it is left as it is"
    if directory.is_dir() and any(directory.iterdir()) and not any((directory / name).is_file() for name in CHECKPOINT_FILES):
        return f"{directory} holds other files and none of a checkpoint's: not a checkpoint folder, so it is left as it is"
    return None


def save_checkpoint(model: MNIST_Model, directory: Path, metadata: dict) -> Path:
    """Write weights, config and metadata into `directory`, replacing it atomically and durably.

    Durably: the rounds log names a round's checkpoint once this returns, and an app restarted after a
    power cut loads it; renamed files whose data never reached the disk would be empty, and the app
    could not start."""
    directory = Path(directory)
    if problem := replace_problem(directory):
        raise FileExistsError(problem)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp"))
    try:
        model.save_pretrained(tmp)  # model.safetensors + config.json
        full = {"created_at": datetime.now(timezone.utc).isoformat(), "torch_version": torch.__version__, **metadata}
        (tmp / METADATA_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
        for path in (*tmp.iterdir(), tmp):
            fsync_path(path)
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            directory.rename(old)
            tmp.rename(directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(directory)
        fsync_path(directory.parent)  # the rename itself
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def load_checkpoint(directory: Path, device: str | torch.device = "cpu") -> tuple[MNIST_Model, dict]:
    """Load a checkpoint directory; returns the model in eval mode and its metadata."""
    directory = Path(directory)
    weights = directory / WEIGHTS_FILE
    if directory.is_file() and (directory.parent / WEIGHTS_FILE).is_file():  # one of a checkpoint's files
        raise FileNotFoundError(f"{directory} is a file of a checkpoint: give its folder, {directory.parent}")
    if not weights.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_FILE} in {directory}: not a checkpoint (train one with python -m training.train)")
    meta_path = directory / METADATA_FILE
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the mixin prints "Loading weights..." to stdout
            model = MNIST_Model.from_pretrained(str(directory), map_location=str(device), strict=True)
        metadata = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except Exception as e:  # safetensors, the config, the state dict and JSON each raise their own kind
        raise CheckpointError(f"the checkpoint in {directory} cannot be read, damaged or not this model's ({type(e).__name__}: {e})") from e
    return model.eval(), metadata
