"""Pick adversarial-regularisation hyper-parameters on a validation split, not on the test set.

    python -m bench.adv_reg_sweep --adv-steps 0.2 0.25 --seeds 0 1
trains the reference model with `--method adv-reg` (multiplier 2.0, lr 0.006, 15 epochs, no
augmentation, as the README's recipe) on MNIST training images 0-54,999 for each neighbour step and
seed, and prints one JSON line per run: clean and white-box FGSM accuracy (ε 0.1/0.2/0.3) on the
held-out training images 55,000-59,999 ("val_*", what the choice is made on) and on the test set
("test_*", reported only), plus PGD-20 at ε = 0.2 on the first 1000 test images, which shows whether
a higher FGSM figure is real robustness or masking.
"""

import argparse
import json
import time

import torch

from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from model.network import build_model
from training.attacks import pgd
from training.evaluate import accuracy_report, fgsm_accuracy, split_tensors
from training.train import TrainConfig, bounded, fit, seed_everything

VALIDATION = 5000  # the last 5,000 training images


def scores(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, prefix: str) -> dict:
    out = {f"{prefix}_clean": accuracy_report(model, x, y)["accuracy"]}
    for eps in (0.1, 0.2, 0.3):
        out[f"{prefix}_fgsm{eps}"] = fgsm_accuracy(model, x, y, eps)
    return out


def run(adv_step: float, seed: int, epochs: int, x, y, test_x, test_y) -> dict:
    cfg = TrainConfig(method="adv-reg", adv_multiplier=2.0, adv_step=adv_step, lr=0.006, epochs=epochs, augment=False, seed=seed, device="cpu")
    seed_everything(seed)
    split = len(x) - VALIDATION
    model = build_model("reference", cfg.dropout)
    start = time.perf_counter()
    fit(model, x[:split], y[:split], cfg, progress=False)
    result = {"adv_step": adv_step, "seed": seed, "epochs": epochs, "train_seconds": round(time.perf_counter() - start)}
    result |= scores(model, x[split:], y[split:], "val") | scores(model, test_x, test_y, "test")
    model.eval()
    adversarial = pgd(model, test_x[:1000], test_y[:1000], 0.2, steps=20, step_size=0.02, generator=torch.Generator().manual_seed(0))
    result["test1000_pgd20_0.2"] = accuracy_report(model, adversarial, test_y[:1000])["accuracy"]
    return result


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--adv-steps", type=float, nargs="+", default=[0.2, 0.25], help="neighbour steps to compare (default 0.2 0.25)")
    p.add_argument("--seeds", type=bounded(int, 0), nargs="+", default=[0, 1], help="seeds (default 0 1)")
    p.add_argument("--epochs", type=bounded(int, 1), default=15, help="epochs (default 15)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    mnist = load_mnist(resolve_state_dir(args.state_dir))
    data = split_tensors(mnist, "train") + split_tensors(mnist, "test")
    for adv_step in args.adv_steps:
        for seed in args.seeds:
            print(json.dumps(run(adv_step, seed, args.epochs, *data)), flush=True)


if __name__ == "__main__":
    main()
