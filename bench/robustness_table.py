"""Print the README's robustness table from docs/robustness/*.json (written by training.robustness --json).

    python -m bench.robustness_table
"""

import json
from pathlib import Path

REPORTS = Path(__file__).resolve().parent.parent / "docs" / "robustness"
MODELS = {
    "round-0": "round-0 (standard training, augmentation, dropout 0.1)",
    "reference-sgd": "reference recipe, 2018 (SGD lr 0.01 momentum 0.5, batch 64, 10 epochs, dropout 0.5)",
    "reference-dropout0.5": "reference architecture, Adam one-cycle (dropout 0.5, no augmentation)",
    "adv-reg-reference": "adversarial regularisation (multiplier 2.0, step 0.2, lr 0.006, 15 epochs)",
    "pgd-robust": "PGD adversarial training, robust architecture (CPU recipe: PGD-10, 12 epochs)",
    "pgd-robust-e20": "PGD adversarial training, robust architecture (CPU recipe: PGD-10, 20 epochs)",
    "fast-robust": "fast adversarial training (FGSM, random start), robust architecture",
    "distill-reference": "defensive distillation (T = 20), deployed at T = 1",
}


def main():
    columns = None
    for name, title in MODELS.items():
        path = REPORTS / f"{name}.json"
        if not path.exists():
            continue
        report = json.loads(path.read_text())
        if columns is None:
            columns = [r["attack"] for r in report["rows"]]
            print("| model | " + " | ".join(columns) + " | FGSM ε=0.2 transfer from round-0 | targets | sanity checks |")
            print("| --- " * (len(columns) + 4) + "|")
        rows = {r["attack"]: r for r in report["rows"]}
        cells = [f"{rows[c]['white_box_accuracy']:.1%}" if c in rows else "—" for c in columns]
        transfer = rows["FGSM ε=0.2"]["transfer_from_base_accuracy"]
        targets = "; ".join(f"{t['attack']} {t['target']}: {'met' if t['met'] else '**not met**'}" for t in report.get("targets", [])) or "—"
        failed = [c["check"] for c in report["sanity_checks"] if not c["passed"]]
        sanity = "all pass" if not failed else "FAIL: " + "; ".join(failed)
        sanity += "".join(f"; **warning**: {w.split(':')[0]}" for w in report.get("warnings", []))  # the report has the figures
        print(f"| {title} | " + " | ".join(cells) + f" | {'—' if transfer is None else f'{transfer:.1%}'} | {targets} | {sanity} |")
    print(f"\nWhite-box unless stated; first {report['n']} MNIST test images; PGD step size 0.01.")


if __name__ == "__main__":
    main()
