"""The attacks: they raise the loss, stay inside the ε-ball and [0, 1], and match the analytic FGSM."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from training.attacks import attack_loss, fgsm, pgd, smallest_fooling_eps
from training.evaluate import split_tensors


@pytest.fixture(scope="module")
def batch(state_dir):
    from data.mnist import load_mnist

    m = load_mnist(state_dir)
    return split_tensors(m, "test", rows=slice(200))


@pytest.fixture(scope="module")
def model(round0):
    return round0[0].eval()


def test_fgsm_on_a_linear_model_is_the_analytic_sign_of_the_gradient():
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), nn.LogSoftmax(dim=1))
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    w, b = linear[1].weight, linear[1].bias
    p = F.softmax(x.flatten(1) @ w.T + b, dim=1)
    grad = ((p - F.one_hot(y, 10)) @ w).view_as(x)  # d CE / d x for a linear softmax model
    expected = (x + 0.1 * grad.sign()).clamp(0, 1)
    torch.testing.assert_close(fgsm(linear, x, y, 0.1), expected.detach())


@pytest.mark.parametrize("norm,eps", [("linf", 0.3), ("l2", 2.0)])
@pytest.mark.parametrize("loss", ["ce", "margin"])
def test_attacks_raise_the_loss_and_stay_in_the_ball_and_in_pixel_range(model, batch, norm, eps, loss):
    x, y = batch
    clean = attack_loss(model(x), y, loss).mean()
    for x_adv in (fgsm(model, x, y, eps, norm=norm, loss=loss), pgd(model, x, y, eps, steps=10, norm=norm, loss=loss, generator=torch.Generator().manual_seed(0))):
        with torch.no_grad():
            assert attack_loss(model(x_adv), y, loss).mean() > clean
        delta = (x_adv - x).flatten(1)
        size = delta.abs().amax(1) if norm == "linf" else delta.norm(dim=1)
        assert size.max() <= eps + 1e-5
        assert x_adv.min() >= 0 and x_adv.max() <= 1


def test_pgd_is_stronger_than_fgsm_and_restarts_only_help(model, batch):
    x, y = batch
    acc = lambda x_adv: (model(x_adv).argmax(1) == y).float().mean().item()  # noqa: E731
    with torch.no_grad():
        clean = acc(x)
    f = acc(fgsm(model, x, y, 0.15))
    one = acc(pgd(model, x, y, 0.15, steps=20, restarts=1, generator=torch.Generator().manual_seed(1)))
    three = acc(pgd(model, x, y, 0.15, steps=20, restarts=3, generator=torch.Generator().manual_seed(1)))
    assert clean > 0.95 and one < f < clean and three <= one


def test_random_starts_are_seeded(model, batch):
    x, y = batch
    a = pgd(model, x[:20], y[:20], 0.3, steps=3, generator=torch.Generator().manual_seed(5))
    b = pgd(model, x[:20], y[:20], 0.3, steps=3, generator=torch.Generator().manual_seed(5))
    c = pgd(model, x[:20], y[:20], 0.3, steps=3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_the_smallest_fooling_eps_is_where_fgsm_first_changes_the_models_answer(model, batch):
    x, _ = batch
    reads = lambda image, eps: int(model(fgsm(model, image, model(image).argmax(1), eps)).argmax(1))  # noqa: E731
    found = [smallest_fooling_eps(model, x[i, 0].numpy()) for i in range(10)]
    assert all(f is not None for f in found)  # a standard model: every drawing falls below ε = 0.5
    assert len({eps for eps, _ in found}) > 3  # one ε per drawing, not one for all
    for i, (eps, other) in enumerate(found):
        image = x[i : i + 1]
        read = int(model(image).argmax(1))
        assert other != read and reads(image, eps) == other
        assert all(reads(image, k / 100) == read for k in range(1, round(eps * 100)))  # no smaller ε on the grid fools it
        # Looked for only up to just below it: nothing found, said as None.
        assert smallest_fooling_eps(model, x[i, 0].numpy(), max_eps=eps - 0.01) is None


def test_bad_attack_settings_are_refused(model, batch):
    x, y = batch
    with pytest.raises(ValueError, match="unknown norm 'l1'"):
        fgsm(model, x, y, 0.1, norm="l1")
    with pytest.raises(ValueError, match="unknown attack loss 'hinge'"):
        pgd(model, x, y, 0.1, loss="hinge")
    with pytest.raises(ValueError, match="eps must be >= 0"):
        fgsm(model, x, y, -0.1)


@pytest.mark.parametrize("method", ["standard", "adv-reg", "pgd", "fast"])
def test_every_training_method_takes_a_step_that_lowers_its_loss(method):
    from model.network import build_model
    from training.train import TrainConfig, training_loss

    torch.manual_seed(0)
    model = build_model(dropout=0.0)
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))
    cfg = TrainConfig(method=method, pgd_steps=3, eps=0.1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(5):
        loss = training_loss(model, x, y, cfg, torch.Generator().manual_seed(0))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses))) and losses[-1] < losses[0]


def test_unknown_training_method_is_refused():
    from model.network import build_model
    from training.train import TrainConfig, training_loss

    with pytest.raises(ValueError, match="unknown training method 'magic'"):
        training_loss(build_model(), torch.rand(2, 1, 28, 28), torch.tensor([1, 2]), TrainConfig(method="magic"), torch.Generator())


def test_robustness_report_cli_prints_the_table_and_passes_its_sanity_checks(state_dir, round0, tmp_path):
    import json
    import subprocess
    import sys

    from PIL import Image

    from tests.conftest import REPO_ROOT

    grid = tmp_path / "grid.png"
    out = subprocess.run(
        [sys.executable, "-m", "training.robustness", "--model", str(state_dir / "checkpoints" / "round-0"), "--n", "100", "--restarts", "2", "--json", "--grid", str(grid)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout[out.stdout.index("{") :])
    rows = {r["attack"]: r["white_box_accuracy"] for r in report["rows"]}
    assert rows["clean"] > 0.95 and rows["FGSM ε=0.3"] < rows["FGSM ε=0.1"] < rows["clean"]
    assert rows["PGD-100 ε=0.3, 2 restarts"] <= rows["FGSM ε=0.3"]
    # the worst case counts an image only if it survives every attack, so it is at most the strongest row
    attacked = [v for k, v in rows.items() if k not in ("clean", "worst case of the attacks above")]
    assert rows["worst case of the attacks above"] <= min(attacked)
    assert all(c["passed"] for c in report["sanity_checks"]) and report["warnings"] == []
    # round-0 is a standard-trained reference model: its published FGSM ε=0.2 range sits beside the measured figure
    (target,) = report["targets"]
    assert target["attack"] == "FGSM ε=0.2" and target["measured"] == rows["FGSM ε=0.2"] and target["target"] == "43%–50%"
    assert target["met"] == (0.43 <= rows["FGSM ε=0.2"] <= 0.50)
    assert Image.open(grid).size[0] > 500


class Saturated(torch.nn.Module):
    """`inner` with its logits × 10⁴: the same predictions, cross-entropy gradients of zero (distillation's trick)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return torch.log_softmax(self.inner(x) * 1e4, dim=1)


def test_report_sees_through_a_saturated_softmax(round0):
    """Defensive distillation's trick, made directly: logits × 10⁴ leave cross-entropy with zero gradient.

    Cross-entropy attacks then stall and flatter the model; the margin loss does not. The report must say
    so, and its worst case and large-ε check must use the attack that works."""
    from data.mnist import load_mnist
    from data.state_dir import resolve_state_dir
    from training.robustness import WORST_CASE, evaluate_robustness

    mnist = load_mnist(resolve_state_dir())
    x, y = split_tensors(mnist, "test", rows=slice(100))
    report = evaluate_robustness(Saturated(round0[0]), None, x, y, restarts=1)
    rows = {r["attack"]: r["white_box_accuracy"] for r in report["rows"]}
    assert rows["PGD-40 ε=0.3, 1 restart"] > 0.5  # cross-entropy is fooled by the masking
    assert rows["PGD-40 margin loss ε=0.3, 1 restart"] < 0.05 and rows[WORST_CASE] < 0.05
    (warning,) = report["warnings"]
    assert "cross-entropy gradients are masked" in warning
    large_eps = next(c for c in report["sanity_checks"] if "as ε grows (PGD-40 at ε=0.5" in c["check"])
    assert large_eps["passed"]


def test_report_fails_a_model_whose_own_gradients_fool_it_less_than_another_models(round0):
    """The saturated model reads exactly like round-0, so perturbations made on round-0 fool it as often as they
    fool round-0; its own (masked) gradients fool it far less. Swapped, the check has nothing to object to."""
    from data.mnist import load_mnist
    from data.state_dir import resolve_state_dir
    from training.robustness import TRANSFER_CHECK, evaluate_robustness

    mnist = load_mnist(resolve_state_dir())
    x, y = split_tensors(mnist, "test", rows=slice(100))
    model, saturated = round0[0], Saturated(round0[0])

    masked = evaluate_robustness(saturated, model, x, y, restarts=1)
    check = next(c for c in masked["sanity_checks"] if c["check"] == TRANSFER_CHECK)
    attack, white_box, transfer = check["values"]
    assert not check["passed"] and white_box > transfer + 0.3, check
    honest = evaluate_robustness(model, saturated, x, y, restarts=1)
    assert next(c for c in honest["sanity_checks"] if c["check"] == TRANSFER_CHECK)["passed"]


def test_report_puts_each_target_beside_the_measured_figure():
    from training.robustness import format_table, target_results

    rows = [{"attack": "clean", "white_box_accuracy": 0.99, "transfer_from_base_accuracy": None},
            {"attack": "FGSM ε=0.2", "white_box_accuracy": 0.94, "transfer_from_base_accuracy": 0.96}]  # fmt: skip
    targets = target_results({"method": "adv-reg", "architecture": "reference"}, rows, restarts=10)
    assert [(t["attack"], t["met"]) for t in targets] == [("FGSM ε=0.2", False), ("clean", True)]
    text = format_table({"n": 1000, "rows": rows, "targets": targets, "sanity_checks": []})
    assert "[NOT MET] FGSM ε=0.2: measured 94.00%, target ≥ 95.0%" in text
    assert "[met] clean: measured 99.00%, target ≥ 98.5%" in text
    # a model no target speaks of (e.g. a retrained round) gets none, rather than a wrong one
    assert target_results({"method": "standard", "architecture": "robust"}, rows, restarts=10) == []
