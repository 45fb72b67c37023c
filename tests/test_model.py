"""The reference network and its checkpoints."""

import json

import pytest
import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from model.network import MNIST_Model, build_model


def test_reference_architecture_layers():
    m = build_model()
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes == {
        "conv1.weight": (10, 1, 5, 5), "conv1.bias": (10,),
        "conv2.weight": (20, 10, 5, 5), "conv2.bias": (20,),
        "fc1.weight": (50, 320), "fc1.bias": (50,),
        "fc2.weight": (10, 50), "fc2.bias": (10,),
    }  # fmt: skip
    assert isinstance(m.conv2_drop, torch.nn.Dropout2d)
    out = m.eval()(torch.rand(3, 1, 28, 28))
    assert out.shape == (3, 10)
    torch.testing.assert_close(out.exp().sum(1), torch.ones(3))  # log_softmax


def test_robust_architecture_is_wider():
    m = build_model("robust")
    assert m.conv1.out_channels == 32 and m.conv2.out_channels == 64 and m.fc1.out_features == 1024
    with pytest.raises(ValueError, match="unknown architecture 'huge'"):
        build_model("huge")


def test_checkpoint_round_trip_in_hub_mixin_layout(tmp_path):
    model = build_model().eval()
    path = save_checkpoint(model, tmp_path / "round-3", {"round": 3, "parent": "round-2", "metrics": {"mnist_test_accuracy": 0.99}})
    assert sorted(p.name for p in path.iterdir()) == ["README.md", "config.json", "metadata.json", "model.safetensors"]  # README: the model card
    assert json.loads((path / "config.json").read_text())["conv1_channels"] == 10
    loaded, meta = load_checkpoint(path)
    assert meta["round"] == 3 and meta["parent"] == "round-2"
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(loaded(x), model(x))
    # The same directory loads with the Hub mixin directly, as it would from a Hub model repo.
    direct = MNIST_Model.from_pretrained(str(path))
    torch.testing.assert_close(direct.eval()(x), model(x))


def test_overwriting_a_checkpoint_leaves_no_temp_dirs(tmp_path):
    save_checkpoint(build_model(), tmp_path / "round-0", {"round": 0})
    save_checkpoint(build_model(), tmp_path / "round-0", {"round": 0, "note": "second"})
    assert [p.name for p in tmp_path.iterdir()] == ["round-0"]
    assert load_checkpoint(tmp_path / "round-0")[1]["note"] == "second"


def test_a_saved_checkpoint_is_flushed_to_the_disk_before_save_returns(tmp_path, monkeypatch):
    """The rounds log names a checkpoint as soon as it is saved: its files, and the rename that puts them in
    place, must be on the disk by then, or a power cut leaves a logged round the app cannot load. (A power
    cut cannot be staged here, so this watches the real fsync calls go by.)"""
    import os

    synced, real_fsync = [], os.fsync

    def watching_fsync(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watching_fsync)
    path = save_checkpoint(build_model(), tmp_path / "round-1", {"round": 1})
    written = {p.name for p in path.iterdir()}
    in_temporary_folder = {os.path.basename(s) for s in synced if os.path.basename(os.path.dirname(s)).startswith(".round-1.tmp")}
    assert written <= in_temporary_folder  # every file, before the rename
    assert synced[-1] == str(tmp_path)  # last, the folder holding the renamed checkpoint
    assert load_checkpoint(path)[1]["round"] == 1


def test_a_damaged_checkpoint_is_refused_with_its_folder_named(tmp_path):
    from model.checkpoint import CheckpointError

    path = save_checkpoint(build_model(), tmp_path / "round-2", {"round": 2})
    weights = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(weights[: len(weights) // 2])  # cut short, as by a full disk
    with pytest.raises(CheckpointError, match=f"the checkpoint in {path} cannot be read, damaged or not this model's"):
        load_checkpoint(path)
    save_checkpoint(build_model("robust"), path, {"round": 2})
    (path / "config.json").write_text(json.dumps({}))  # the wider network's weights, the reference's config
    with pytest.raises(CheckpointError, match="RuntimeError"):
        load_checkpoint(path)


def test_missing_checkpoint_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m training.train"):
        load_checkpoint(tmp_path)


def test_batch_predictions_are_the_models_own_and_leave_the_live_model_as_it_is(round0, state_dir):
    """predict_classes runs a channels-last copy (about 3× faster on the CPU): the classes must be the ones
    the model itself gives, and the model that serves single drawings must not change layout under it."""
    from data.mnist import load_mnist
    from training.evaluate import images_to_tensor, predict_classes

    model = round0[0]
    x = images_to_tensor(load_mnist(state_dir).test_images[:3000])
    with torch.no_grad():
        expected = model.eval()(x).argmax(1)
    assert torch.equal(predict_classes(model, x), expected)
    assert all(p.is_contiguous() for p in model.parameters())  # still channels-first, as loaded
