"""Round-0 training and evaluation."""

import json
import shutil
import subprocess
import sys

import pytest
import torch

from model.checkpoint import load_checkpoint, save_checkpoint
from tests.conftest import REPO_ROOT, copy_of_round0_state
from training.augment import AugmentConfig, augment, thicken
from training.evaluate import evaluate_on_mnist_test
from training.train import TrainConfig, fit, warmed_up


def run_module(*args, env_state=None):
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_round0_model_reaches_99_percent_on_mnist_test(round0, state_dir):
    model, metadata = round0
    result = evaluate_on_mnist_test(model, state_dir)
    assert result["mnist_test_accuracy"] >= 0.99
    assert min(result["per_class_accuracy"].values()) > 0.97
    assert metadata["round"] == 0 and metadata["parent"] is None
    assert len(metadata["training_data"]["sha256"]) == 64


def test_evaluate_cli_prints_json(state_dir, round0):
    out = run_module("training.evaluate", "--model", str(state_dir / "checkpoints" / "round-0"))
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout[out.stdout.index("{") :])
    assert result["mnist_test_accuracy"] >= 0.99
    assert set(result["per_class_accuracy"]) == {str(c) for c in range(10)}


def test_evaluate_cli_explains_a_missing_model_or_a_file_given_for_its_folder(tmp_path, state_dir, round0):
    out = run_module("training.evaluate", "--model", str(tmp_path / "nothing"))
    assert out.returncode == 2 and "not a checkpoint" in out.stderr
    weights = state_dir / "checkpoints" / "round-0" / "model.safetensors"  # what a file browser's "copy path" gives
    out = run_module("training.evaluate", "--model", str(weights))
    assert out.returncode == 2 and f"{weights} is a file of a checkpoint: give its folder, {weights.parent}" in out.stderr, out.stderr


def test_evaluation_clis_explain_a_damaged_model(tmp_path, state_dir, round0):
    damaged = tmp_path / "damaged"
    shutil.copytree(state_dir / "checkpoints" / "round-0", damaged)
    (damaged / "model.safetensors").write_bytes(b"not weights")
    for module in ("training.evaluate", "training.robustness"):
        out = run_module(module, "--model", str(damaged))
        assert out.returncode == 2 and f"the checkpoint in {damaged} cannot be read" in out.stderr, (module, out.stderr)
        assert "Traceback" not in out.stderr


def test_train_cli_dry_run_writes_a_loadable_checkpoint(tmp_path):
    out = run_module("training.train", "--dry-run", "--quiet", "--out", str(tmp_path / "ckpt"))
    assert out.returncode == 0, out.stderr
    model, meta = load_checkpoint(tmp_path / "ckpt")
    assert meta["train_config"]["max_steps"] == 1 and meta["round"] == 0
    assert model(torch.rand(1, 1, 28, 28)).shape == (1, 10)


def test_train_cli_never_replaces_a_file_another_folder_or_a_round_0_later_rounds_grew_from(tmp_path, state_dir, round0):
    """`--out /etc/passwd` once replaced the file with a checkpoint folder, and `--dry-run` replaced round 0."""
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me")
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("keep me too")
    for target, message in ((precious, "is a file, not a checkpoint folder"), (notes, "holds other files and none of a checkpoint's")):
        out = run_module("training.train", "--quiet", "--out", str(target))
        assert out.returncode == 2 and f"error: --out: {target} {message}" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert precious.read_text() == "keep me" and [p.name for p in notes.iterdir()] == ["todo.txt"]
    with pytest.raises(FileExistsError, match="not a checkpoint folder"):  # every other caller of save_checkpoint too
        save_checkpoint(round0[0], precious, {})
    assert precious.read_text() == "keep me"
    damaged = shutil.copytree(state_dir / "checkpoints" / "round-0", tmp_path / "damaged")
    (damaged / "model.safetensors").unlink()  # a checkpoint that lost its weights is still replaced, as set-up does
    assert load_checkpoint(save_checkpoint(round0[0], damaged, {"round": 0}))[1]["round"] == 0

    state = copy_of_round0_state(state_dir, tmp_path / "state")
    shutil.copytree(state / "checkpoints" / "round-0", state / "checkpoints" / "round-1")  # a round trained from it
    weights = (state / "checkpoints" / "round-0" / "model.safetensors").read_bytes()
    out = run_module("training.train", "--quiet", "--state-dir", str(state))
    assert out.returncode == 2 and "1 later round(s) were trained from it (up to round-1)" in out.stderr, out.stderr
    out = run_module("training.train", "--quiet", "--dry-run", "--state-dir", str(state))
    assert out.returncode == 0, out.stderr
    assert load_checkpoint(state / "checkpoints" / "dry-run")[1]["train_config"]["max_steps"] == 1
    assert (state / "checkpoints" / "round-0" / "model.safetensors").read_bytes() == weights
    # inside the flag store it would be pushed to the Hub as flags, and the next start refuse the repo as another dataset's
    out = run_module("training.train", "--quiet", "--dry-run", "--state-dir", str(state), "--out", str(state / "flags" / "model"))
    assert out.returncode == 2 and f"{state / 'flags' / 'model'} is inside the flag store" in out.stderr and not (state / "flags").exists(), out.stderr


def tiny_run(seed):
    torch.manual_seed(seed)
    from model.network import build_model

    model = build_model()
    x, y = torch.rand(256, 1, 28, 28), torch.randint(0, 10, (256,))
    history = fit(model, x, y, TrainConfig(epochs=2, batch_size=64, seed=seed), progress=False)
    return model, history


def test_training_is_reproducible_with_a_seed():
    (a, ha), (b, hb) = tiny_run(7), tiny_run(7)
    assert [h["train_loss"] for h in ha] == [h["train_loss"] for h in hb]
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)
    _, hc = tiny_run(8)
    assert [h["train_loss"] for h in hc] != [h["train_loss"] for h in ha]


def test_eps_warmup_ramps_the_training_adversary_then_leaves_it_alone():
    cfg = TrainConfig(method="pgd", eps=0.3, pgd_step_size=0.04, eps_warmup_epochs=2)
    first, middle, done = (warmed_up(cfg, step, steps_per_epoch=100) for step in (0, 99, 200))
    assert first.eps == pytest.approx(0.3 / 200) and first.pgd_step_size == pytest.approx(0.04 / 200)
    assert middle.eps == pytest.approx(0.15) and middle.pgd_step_size == pytest.approx(0.02)
    assert done is cfg
    assert warmed_up(TrainConfig(method="pgd", eps=0.3), 0, 100).eps == 0.3  # no warm-up by default


def test_augmentation_keeps_pixels_in_range_and_changes_images(state_dir):
    from data.mnist import load_mnist
    from training.evaluate import images_to_tensor

    x = images_to_tensor(load_mnist(state_dir).test_images[:64])
    out = augment(x, AugmentConfig(), torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
    assert (out - x).abs().mean() > 0.01
    # Ink is neither created from nothing nor wiped out.
    ratio = out.sum((1, 2, 3)) / x.sum((1, 2, 3))
    assert ratio.min() > 0.25 and ratio.max() < 3


def test_thicken_grows_and_erodes_strokes():
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 5:23, 13:15] = 1  # a vertical bar 2 px wide
    out = thicken(x, torch.tensor([1.0, -1.0]))
    assert out[0].sum() > x[0].sum() * 1.5
    assert out[1].sum() < x[1].sum() * 0.5


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_both_optimizers_learn_real_digits(state_dir, optimizer):
    from data.mnist import load_mnist
    from model.network import build_model
    from training.evaluate import accuracy_report, split_tensors
    from training.train import TrainConfig, fit

    mnist = load_mnist(state_dir)
    x, y = split_tensors(mnist, "train", rows=slice(4096))
    torch.manual_seed(0)
    model = build_model(dropout=0.0)
    lr = 0.003 if optimizer == "adam" else 0.05
    fit(model, x, y, TrainConfig(epochs=2, batch_size=64, lr=lr, optimizer=optimizer, augment=False), progress=False)
    test_x, test_y = split_tensors(mnist, "test", rows=slice(1000))
    assert accuracy_report(model, test_x, test_y)["accuracy"] > 0.85


def test_adversarial_training_checks_itself_with_pgd_after_each_epoch(state_dir):
    """Each evaluated epoch of an adversarial method records PGD-10 accuracy on fixed training images (Wong et al.'s
    detector of catastrophic overfitting); it is what the history shows when FGSM training masks gradients."""
    from data.mnist import load_mnist
    from model.network import build_model
    from training.evaluate import accuracy_report, split_tensors
    from training.train import CHECK_IMAGES, TrainConfig, fit, pgd_check

    mnist = load_mnist(state_dir)
    x, y = split_tensors(mnist, "train", rows=slice(2048))
    torch.manual_seed(0)
    model = build_model(dropout=0.0)
    test_x, test_y = split_tensors(mnist, "test", rows=slice(500))
    history = fit(model, x, y, TrainConfig(method="fast", eps=0.1, epochs=2, batch_size=64, augment=False), test_x, test_y, progress=False)
    checks = [h["train_pgd10_accuracy"] for h in history]
    assert len(checks) == 2 and all(0 <= c <= 1 for c in checks)
    # PGD can only lower accuracy: the check is at most the clean accuracy, and it falls as ε grows.
    assert checks[-1] <= accuracy_report(model, x, y)["accuracy"] + 0.05
    assert pgd_check(model, x[:CHECK_IMAGES], y[:CHECK_IMAGES], 0.3, seed=0) < pgd_check(model, x[:CHECK_IMAGES], y[:CHECK_IMAGES], 0.05, seed=0)
    plain = fit(build_model(dropout=0.0), x, y, TrainConfig(epochs=1, batch_size=64, augment=False), test_x, test_y, progress=False)
    assert "train_pgd10_accuracy" not in plain[0]  # standard training pays nothing for it
    unwatched = fit(build_model(dropout=0.0), x, y, TrainConfig(method="fast", eps=0.1, epochs=1, batch_size=64, augment=False), progress=False)
    assert "train_pgd10_accuracy" not in unwatched[0]  # nor do retraining rounds and benchmarks, which evaluate nothing


@pytest.mark.parametrize("option, value", [("--epochs", "0"), ("--eps", "-0.1"), ("--lr", "0"), ("--dropout", "1"), ("--pgd-steps", "2.5"), ("--eps", "nan")])
def test_train_cli_refuses_a_bad_option_by_name_and_writes_nothing(tmp_path, option, value):
    out = run_module("training.train", "--dry-run", "--quiet", "--out", str(tmp_path / "ckpt"), option, value)
    assert out.returncode == 2 and f"argument {option}: must be" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "ckpt").exists()


def test_robustness_cli_refuses_zero_images_or_restarts_or_more_images_than_the_test_set(tmp_path):
    for option in ("--n", "--restarts"):
        out = run_module("training.robustness", "--model", str(tmp_path), option, "0")
        assert out.returncode == 2 and f"argument {option}: must be an integer >= 1" in out.stderr
    # not a report on the 10,000 there are, after minutes of attacks, under the 20,000 asked for
    out = run_module("training.robustness", "--model", str(tmp_path), "--n", "20000")
    assert out.returncode == 2 and "argument --n: must be an integer >= 1 and < 10001, not '20000'" in out.stderr
    for start, stop in (("9990", "20000"), ("500", "100")):  # the slices of the full-test-set PGD-100 figures
        out = run_module("bench.pgd100_slice", "--model", str(tmp_path), "--start", start, "--stop", stop)
        assert out.returncode == 2 and f"--start {start} --stop {stop}: need 0 <= start < stop <= 10000" in out.stderr, out.stderr


@pytest.mark.parametrize("module", ["training.train", "training.robustness"])
def test_a_device_this_machine_lacks_is_refused_by_name_before_anything_runs(tmp_path, module):
    """Not a driver's traceback once MNIST is loaded, nor (as the report said) a checkpoint 'damaged'."""
    for device, message in (("tpu", "must be cpu, cuda, cuda:N or auto, not 'tpu'"), ("cuda:99", "'cuda:99': PyTorch sees")):
        out = run_module(module, "--device", device, "--model" if module == "training.robustness" else "--out", str(tmp_path / "ckpt"))
        assert out.returncode == 2 and f"argument --device: {message}" in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert list(tmp_path.iterdir()) == []


def test_robustness_grid_a_bad_path_is_refused_first_or_costs_only_the_grid(state_dir, round0, tmp_path):
    model = str(state_dir / "checkpoints" / "round-0")
    out = run_module("training.robustness", "--model", model, "--grid", str(tmp_path / "missing" / "grid.png"))
    assert out.returncode == 2 and f"--grid: there is no folder {tmp_path / 'missing'}" in out.stderr and not out.stdout
    out = run_module("training.robustness", "--model", model, "--grid", str(tmp_path / "grid"))
    assert out.returncode == 2 and "--grid: grid needs an image file extension, such as .png" in out.stderr and not out.stdout
    # A path that cannot be written once the attacks ran (here a folder): the table is printed all the same.
    (tmp_path / "grid.png").mkdir()
    out = run_module("training.robustness", "--model", model, "--n", "20", "--restarts", "1", "--grid", str(tmp_path / "grid.png"))
    assert out.returncode == 2 and f"could not write the grid {tmp_path / 'grid.png'}" in out.stderr and "Traceback" not in out.stderr
    assert "PGD-40" in out.stdout and "sanity checks" in out.stdout.lower(), out.stdout


@pytest.mark.parametrize("bench, option", [("bench.rounds_view", "--records"), ("bench.predict_latency", "--n"), ("bench.attack_throughput", "--n")])
def test_a_benchmark_refuses_an_empty_run_and_keeps_its_stored_result(bench, option):
    """A run on nothing either crashed or (bench.rounds_view --records 0) wrote its figures over the
    stored result the README's table is made from."""
    results = REPO_ROOT / "bench" / "results"
    before = {path.name: path.read_bytes() for path in results.glob("*.json")}
    out = run_module(bench, option, "0")
    assert out.returncode == 2 and f"argument {option}: must be an integer >= 1, not '0'" in out.stderr, out.stderr
    assert {path.name: path.read_bytes() for path in results.glob("*.json")} == before
