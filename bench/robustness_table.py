"""Print the README's robustness table from docs/robustness/*.json (written by training.robustness --json).

    python -m bench.robustness_table

A model's PGD-100 figure is extended past the report's first N images by the slices that
`bench.pgd100_slice` measured (docs/robustness/NAME-pgd100-images*.json, same attack and seeds), and its
PGD-100 target is judged on all the images measured.
"""

import json
from pathlib import Path

from training.robustness import PGD100 as PGD100_ROW, TRANSFER_CHECK, target_results, transfer_check, with_restarts

REPORTS = Path(__file__).resolve().parent.parent / "docs" / "robustness"
MODELS = {
    "round-0": "round-0 (standard training, augmentation, dropout 0.1)",
    "reference-sgd": "reference recipe, 2018 (SGD lr 0.01 momentum 0.5, batch 64, 10 epochs, dropout 0.5)",
    "reference-dropout0.5": "reference architecture, Adam one-cycle (dropout 0.5, no augmentation)",
    "adv-reg-reference": "adversarial regularisation (multiplier 2.0, step 0.25, lr 0.006, 15 epochs)",
    "pgd-robust": "PGD adversarial training, robust architecture (CPU recipe: PGD-10, 12 epochs)",
    "pgd-robust-e20": "PGD adversarial training, robust architecture (CPU recipe: PGD-10, 20 epochs)",
    "pgd-robust-eps0.35": "PGD adversarial training, robust architecture (CPU recipe: PGD-10 at training ε 0.35, ε warm-up 2 epochs, 12 epochs)",
    "fast-robust": "fast adversarial training (FGSM, random start), robust architecture",
    "fast-robust-warmup3": "fast adversarial training (FGSM, random start), robust architecture, ε warm-up 3 epochs",
    "distill-reference": "defensive distillation (T = 20), deployed at T = 1",
}


RESTARTS = 10
PGD100 = with_restarts(PGD100_ROW, RESTARTS)


def pgd100_all_measured(name: str, report: dict) -> tuple[int, int]:
    """(correct, n) under PGD-100 × 10 over the report's first images plus every measured slice after them."""
    correct, n = round(next(r["white_box_accuracy"] for r in report["rows"] if r["attack"] == PGD100) * report["n"]), report["n"]
    for path in sorted(REPORTS.glob(f"{name}-pgd100-images*.json")):
        piece = json.loads(path.read_text())
        # Slices are disjoint from the report's first n images; older slices are all at ε = 0.3.
        if piece["images"][0] >= report["n"] and piece.get("eps", 0.3) == 0.3:
            correct, n = correct + piece["pgd100x10_correct"], n + piece["n"]
    return correct, n


def markdown() -> str:
    """The table (one row per stored report) and the note under it."""
    lines, columns = [], None
    for name, title in MODELS.items():
        path = REPORTS / f"{name}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        if columns is None:
            columns = [r["attack"] for r in report["rows"]]
            lines.append("| model | " + " | ".join(columns) + " | PGD-100 ε=0.3, 10 restarts, all images measured | FGSM ε=0.2 transfer from round-0 | targets | sanity checks |")
            lines.append("| --- " * (len(columns) + 5) + "|")
        rows = {r["attack"]: r for r in report["rows"]}
        cells = [f"{rows[c]['white_box_accuracy']:.1%}" if c in rows else "—" for c in columns]
        transfer = rows["FGSM ε=0.2"]["transfer_from_base_accuracy"]
        pgd100_correct, pgd100_n = pgd100_all_measured(name, report)
        pgd100 = pgd100_correct / pgd100_n
        wider = f"{pgd100:.1%} of {pgd100_n:,}"
        # The report's own targets, judged again with PGD-100 over every image measured.
        judged_rows = [dict(r, white_box_accuracy=pgd100) if r["attack"] == PGD100 else r for r in report["rows"]]
        targets = "; ".join(f"{t['attack']} {t['target']}: {'met' if t['met'] else '**not met**'}" for t in target_results(report.get("train_config", {}), judged_rows, RESTARTS)) or "—"
        checks = report["sanity_checks"]
        if not any(c["check"] == TRANSFER_CHECK for c in checks):  # reports written before that check: it needs only the rows
            checks = checks + [c for c in [transfer_check(report["rows"])] if c is not None]
        failed = [c["check"] for c in checks if not c["passed"]]
        sanity = "all pass" if not failed else "FAIL: " + "; ".join(failed)
        sanity += "".join(f"; **warning**: {w.split(':')[0]}" for w in report.get("warnings", []))  # the report has the figures
        lines.append(f"| {title} | " + " | ".join(cells) + f" | {wider} | {'—' if transfer is None else f'{transfer:.1%}'} | {targets} | {sanity} |")
    lines.append(f"\nWhite-box unless stated; first {report['n']} MNIST test images except the \"all images measured\" column (`python -m bench.pgd100_slice`, same attack and seeds), on which the PGD-100 target is judged; PGD step size 0.01.")
    return "\n".join(lines)


def main():
    print(markdown())


if __name__ == "__main__":
    main()
