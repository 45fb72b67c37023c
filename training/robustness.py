"""Robustness report: white-box and transfer attacks on the MNIST test set, with sanity checks.

    python -m training.robustness --model state/checkpoints/round-0 [--base PATH] [--n 1000] [--json]
        [--restarts 10] [--grid report.png]

White-box rows attack the evaluated model itself (the headline). The transfer column applies
perturbations computed on `--base` (default: the round-0 model), which is how the NSL
tutorial measured its figure. The last row is the worst case: an image counts only if it
survives every attack above. The sanity checks catch gradient masking: FGSM accuracy falling
as ε grows, PGD never weaker than FGSM, more steps or restarts never raising accuracy, the
strongest attack taking accuracy to ~0 as ε grows large, white-box attacks never weaker than
the same attacks transferred from the base. A warning says when the margin loss finds much
more than cross-entropy (cross-entropy gradients masked: trust the worst case).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from data.mnist import load_mnist
from data.state_dir import resolve_state_dir, round0_checkpoint_dir
from model.checkpoint import CheckpointError, load_checkpoint
from training.attacks import fgsm, pgd
from training.evaluate import predict_classes, split_tensors
from training.train import bounded, device_option, select_device


@dataclass(frozen=True)
class AttackSpec:
    name: str
    kind: str  # "clean" | "fgsm" | "pgd"
    eps: float = 0.0
    steps: int = 0
    restarts: int = 1
    loss: str = "ce"


# The PGD rows of the table, named once: `with_restarts(PGD40, 10)` is "PGD-40 ε=0.3, 10 restarts".
PGD40, PGD100, PGD40_MARGIN = "PGD-40 ε=0.3, {restarts}", "PGD-100 ε=0.3, {restarts}", "PGD-40 margin loss ε=0.3, {restarts}"


def with_restarts(label: str, n: int) -> str:
    """A row's name with its number of restarts filled in (names without one are returned as they are)."""
    return label.format(restarts="1 restart" if n == 1 else f"{n} restarts")


def standard_attacks(restarts: int) -> list[AttackSpec]:
    return [
        AttackSpec("clean", "clean"),
        AttackSpec("FGSM ε=0.1", "fgsm", 0.1),
        AttackSpec("FGSM ε=0.2", "fgsm", 0.2),
        AttackSpec("FGSM ε=0.3", "fgsm", 0.3),
        AttackSpec(with_restarts(PGD40, restarts), "pgd", 0.3, 40, restarts),
        AttackSpec(with_restarts(PGD100, restarts), "pgd", 0.3, 100, restarts),
        AttackSpec(with_restarts(PGD40_MARGIN, restarts), "pgd", 0.3, 40, restarts, "margin"),
    ]


# The targets, by (training method, architecture) as recorded in the checkpoint metadata.
# Each is (row of the table, "min", "max" or "range", bound(s), where the figure comes from).
TARGETS = {
    ("standard", "reference"): [("FGSM ε=0.2", "range", (0.43, 0.50), "published for this architecture (PyTorch FGSM tutorial 43%, NSL ~50%)")],
    ("adv-reg", "reference"): [
        ("FGSM ε=0.2", "min", 0.95, "issue target, white-box (the NSL tutorial's 95% is a transfer figure)"),
        ("clean", "min", 0.985, "issue target"),
    ],
    ("pgd", "robust"): [
        (PGD100, "min", 0.896, "Madry et al. 89.62% (50 restarts)"),
        ("clean", "min", 0.985, "issue target"),
    ],
    ("fast", "robust"): [
        (PGD100, "min", 0.896, "the PGD-trained model's target, for comparison"),
        ("clean", "min", 0.985, "issue target"),
    ],
    ("distill", "reference"): [
        (PGD40_MARGIN, "max", 0.0, "Carlini & Wagner: 100% attack success at T = 1"),
    ],
}


def target_results(train_config: dict, rows: list[dict], restarts: int) -> list[dict]:
    """Each target that applies to this model, with the measured white-box figure beside it."""
    measured = {r["attack"]: r["white_box_accuracy"] for r in rows}
    out = []
    for attack, kind, bound, source in TARGETS.get((train_config.get("method"), train_config.get("architecture")), []):
        attack = with_restarts(attack, restarts)
        value = measured[attack]
        if kind == "range":
            met, text = bound[0] <= value <= bound[1], f"{bound[0]:.0%}–{bound[1]:.0%}"
        elif kind == "min":
            met, text = value >= bound, f"≥ {bound:.1%}"
        else:
            met, text = value <= bound, f"≤ {bound:.1%}"
        out.append({"attack": attack, "target": text, "measured": value, "met": met, "source": source})
    return out


def perturb(model, x, y, spec: AttackSpec, seed: int, batch_size: int = 2000) -> torch.Tensor:
    """Adversarial examples for `spec`, in batches; the same seed gives the same random starts."""
    if spec.kind == "clean":
        return x
    out = []
    for i in range(0, len(x), batch_size):
        gen = torch.Generator(device=x.device).manual_seed(seed + i)
        xb, yb = x[i : i + batch_size], y[i : i + batch_size]
        if spec.kind == "fgsm":
            out.append(fgsm(model, xb, yb, spec.eps, loss=spec.loss))
        else:
            out.append(pgd(model, xb, yb, spec.eps, steps=spec.steps, step_size=0.01, restarts=spec.restarts, loss=spec.loss, generator=gen))
    return torch.cat(out)


def pgd100x10_correct(model, x, y, eps: float = 0.3, seed: int = 0) -> int:
    """How many of (x, y) survive the headline attack, white-box PGD-100 with 10 restarts (step 0.01)."""
    adversarial = perturb(model, x, y, AttackSpec("", "pgd", eps, 100, 10), seed)
    return int((predict_classes(model, adversarial) == y).sum())


WORST_CASE = "worst case of the attacks above"


def correct(model, x, y) -> torch.Tensor:
    return predict_classes(model, x) == y


def rate(correct_mask: torch.Tensor) -> float:
    return round(correct_mask.float().mean().item(), 4)


def converged(pgd100: float, pgd40: float, tolerance: float) -> bool:
    return pgd40 - pgd100 <= 0.02 + tolerance or pgd100 < 0.05


TRANSFER_CHECK = "white-box never weaker than transfer from the base model (every attack, within 1 point)"


def transfer_check(rows: list[dict]) -> dict | None:
    """A white-box attack follows the model's own gradients, so perturbations made on another model should
    never fool it more often; when they do, its gradients mislead the attack (gradient masking: the mark of
    single-step adversarial training, Tramèr et al. 2018, and of defensive distillation). None without a base."""
    gaps = [(r["white_box_accuracy"] - r["transfer_from_base_accuracy"], r) for r in rows if r["attack"] != "clean" and r["transfer_from_base_accuracy"] is not None]
    if not gaps:
        return None
    gap, row = max(gaps, key=lambda g: g[0])
    # One point of slack: a single FGSM step on the model itself can trail a transferred one by noise.
    return {"check": TRANSFER_CHECK, "passed": gap <= 0.01, "values": [row["attack"], row["white_box_accuracy"], row["transfer_from_base_accuracy"]]}


def evaluate_robustness(model, base, x, y, restarts: int = 10, seed: int = 0) -> dict:
    """Table rows (white-box, and transfer from `base` unless None), sanity checks and warnings for `model` on (x, y)."""
    model.eval()
    if base is not None:
        base.eval()
    rows, white_masks, transfer_masks = [], [], []
    for spec in standard_attacks(restarts):
        white = correct(model, perturb(model, x, y, spec, seed), y)
        transfer = correct(model, perturb(base, x, y, spec, seed), y) if base is not None else None
        rows.append({"attack": spec.name, "white_box_accuracy": rate(white), "transfer_from_base_accuracy": None if transfer is None else rate(transfer)})
        if spec.kind != "clean":
            white_masks.append(white)
            transfer_masks.append(transfer)
    # Per image, not the minimum of the rows: an image fooled by any attack within ε = 0.3 is not robust.
    worst_transfer = None if base is None else rate(torch.stack(transfer_masks).all(0))
    rows.append({"attack": WORST_CASE, "white_box_accuracy": rate(torch.stack(white_masks).all(0)), "transfer_from_base_accuracy": worst_transfer})
    acc = {r["attack"]: r["white_box_accuracy"] for r in rows}

    def pgd_correct(eps, steps, restarts_, loss="ce"):
        return correct(model, perturb(model, x, y, AttackSpec("", "pgd", eps, steps, restarts_, loss), seed), y)

    pgd10, pgd40_1 = rate(pgd_correct(0.3, 10, 1)), rate(pgd_correct(0.3, 40, 1))
    pgd40_r, pgd100_r, margin_r = (acc[with_restarts(label, restarts)] for label in (PGD40, PGD100, PGD40_MARGIN))
    # At a large ε the strongest attack must win; cross-entropy alone stalls on a saturated softmax.
    large_eps = rate(pgd_correct(0.5, 40, 1) & pgd_correct(0.5, 40, 1, "margin"))
    tolerance = 2 / len(y)  # one or two examples either way is noise, not masking
    fgsm_curve = [acc["FGSM ε=0.1"], acc["FGSM ε=0.2"], acc["FGSM ε=0.3"]]
    checks = [
        # A model that resists FGSM better at a larger ε is hiding its gradient (e.g. label leaking).
        {"check": "FGSM accuracy falls as ε grows (0.1 ≥ 0.2 ≥ 0.3)", "passed": all(a + tolerance >= b for a, b in zip(fgsm_curve, fgsm_curve[1:])), "values": fgsm_curve},
        {"check": "PGD-40 (ε=0.3) no weaker than FGSM (ε=0.3)", "passed": pgd40_r <= acc["FGSM ε=0.3"] + tolerance, "values": [pgd40_r, acc["FGSM ε=0.3"]]},
        {"check": "more steps never raise accuracy (PGD-40 ≤ PGD-10)", "passed": pgd40_1 <= pgd10 + tolerance, "values": [pgd40_1, pgd10]},
        {"check": "more steps never raise accuracy (PGD-100 ≤ PGD-40, with restarts)", "passed": pgd100_r <= pgd40_r + tolerance, "values": [pgd100_r, pgd40_r]},
        # If 100 steps still find much more than 40 did, the attack has not converged and even PGD-100 may flatter.
        {"check": "the attack has converged (PGD-100 within 2 points of PGD-40, or below 5%)", "passed": converged(pgd100_r, pgd40_r, tolerance), "values": [pgd100_r, pgd40_r]},
        {"check": f"more restarts never raise accuracy ({restarts} ≤ 1)", "passed": pgd40_r <= pgd40_1 + tolerance, "values": [pgd40_r, pgd40_1]},
        {"check": "accuracy → ~0 as ε grows (PGD-40 at ε=0.5, cross-entropy and margin loss, < 5%)", "passed": large_eps < 0.05, "values": [large_eps]},
    ]
    checks += [c for c in [transfer_check(rows)] if c is not None]
    warnings = []
    if margin_r < pgd40_r - 0.02:
        warnings.append(
            f"cross-entropy gradients are masked: margin-loss PGD-40 leaves {margin_r:.1%}, cross-entropy PGD-40 {pgd40_r:.1%}; "
            f"the cross-entropy rows overstate robustness, the worst case ({acc[WORST_CASE]:.1%}) does not"
        )
    return {"n": len(y), "rows": rows, "sanity_checks": checks, "warnings": warnings}


def format_table(report: dict) -> str:
    lines = [f"MNIST test set, first {report['n']} images", "", "| attack | white-box accuracy | transfer from base |", "| --- | --- | --- |"]
    for r in report["rows"]:
        transfer = "—" if r["transfer_from_base_accuracy"] is None else f"{r['transfer_from_base_accuracy']:.2%}"
        lines.append(f"| {r['attack']} | {r['white_box_accuracy']:.2%} | {transfer} |")
    if report.get("targets"):
        lines += ["", "Targets (white-box):"]
        for t in report["targets"]:
            lines.append(f"  [{'met' if t['met'] else 'NOT MET'}] {t['attack']}: measured {t['measured']:.2%}, target {t['target']} ({t['source']})")
    lines += ["", "Sanity checks (gradient masking):"]
    for c in report["sanity_checks"]:
        lines.append(f"  [{'ok' if c['passed'] else 'FAIL'}] {c['check']}: {c['values']}")
    for w in report.get("warnings", []):
        lines.append(f"  [warning] {w}")
    return "\n".join(lines)


def save_grid(model, base, x, y, path: Path, eps: float = 0.2, count: int = 10) -> None:
    """A PNG like the NSL tutorial's: FGSM-perturbed images with true label, base and model predictions."""
    from PIL import Image, ImageDraw

    adv = perturb(base, x[:count], y[:count], AttackSpec("", "fgsm", eps), 0)
    base_pred, model_pred = predict_classes(base, adv), predict_classes(model, adv)
    cell, scale = 120, 4
    grid = Image.new("RGB", (cell * count, cell + 10), "white")
    draw = ImageDraw.Draw(grid)
    for i in range(count):
        img = Image.fromarray((adv[i, 0].cpu().numpy() * 255).astype("uint8")).resize((28 * scale, 28 * scale), Image.NEAREST)
        grid.paste(img, (i * cell + 4, 0))
        draw.text((i * cell + 4, 28 * scale + 1), f"y={y[i].item()} base={base_pred[i].item()} rob={model_pred[i].item()}", fill="black")
    grid.save(path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint directory to evaluate (required)")
    p.add_argument("--base", default=None, help="checkpoint for transfer attacks (default: the round-0 model)")
    p.add_argument("--n", type=bounded(int, 1, 10_001), default=1000, help="test images to attack, of MNIST's 10,000 (default 1000; 10000 = all)")
    p.add_argument("--restarts", type=bounded(int, 1), default=10, help="PGD restarts (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random starts (default 0)")
    p.add_argument("--device", type=device_option, default="auto", help="cpu, cuda, cuda:N or auto (default auto: CUDA when present)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--grid", default=None, help="also write a PNG grid of perturbed images here (default: none)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table (default: table)")
    args = p.parse_args(argv)
    if args.grid:  # checked now, not after minutes of attacks
        from PIL import Image

        grid = Path(args.grid)
        if grid.suffix.lower() not in Image.registered_extensions():
            p.error(f"--grid: {grid.name} needs an image file extension, such as .png")
        if not grid.parent.is_dir():
            p.error(f"--grid: there is no folder {grid.parent} to write {grid.name} in")
    device = select_device(args.device)
    state_dir = resolve_state_dir(args.state_dir, create=False)
    base_path = Path(args.base or round0_checkpoint_dir(state_dir))
    try:
        model, meta = load_checkpoint(args.model, device)
        # Transfer from the model to itself is the white-box figure again: skip it.
        base = None if base_path.resolve() == Path(args.model).resolve() else load_checkpoint(base_path, device)[0]
    except (FileNotFoundError, CheckpointError) as e:
        p.error(str(e))
    mnist = load_mnist(state_dir)
    x, y = split_tensors(mnist, "test", device, slice(args.n))
    report = evaluate_robustness(model, base, x, y, args.restarts, args.seed)
    report["model"], report["base"] = str(args.model), str(base_path)
    report["train_config"] = meta.get("train_config", {})
    report["targets"] = target_results(report["train_config"], report["rows"], args.restarts)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    if args.grid:
        try:
            save_grid(model, base or model, x, y, Path(args.grid))
        except OSError as e:  # the table above still stands: minutes of attacks are not lost to a bad path
            print(f"error: could not write the grid {args.grid}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 0 if all(c["passed"] for c in report["sanity_checks"]) else 1


if __name__ == "__main__":
    sys.exit(main())
