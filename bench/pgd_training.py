"""PGD adversarial training of the robust architecture: time per epoch, whole-run time, and the result.

    python -m bench.pgd_training --timed-epochs 1      # CPU: the time of one epoch of the recipe
    python -m bench.pgd_training --device cuda         # GPU: the whole recipe, then PGD-100 × 10 on all 10,000 test images

The recipe is the README's (PGD-10, step 0.047, trained at ε = 0.35 ramped up over 2 epochs,
12 epochs, batch 128, no augmentation); every option of it can be changed. `--timed-epochs N`
stops after N epochs of the unchanged recipe (the same schedule, so the same cost per epoch).
A whole run is saved to <state>/checkpoints/pgd-bench-<device> and evaluated: clean accuracy on
the test set and white-box PGD-100 × 10 restarts at ε = 0.3 (step 0.01, as in the robustness
report) on the first `--eval-n` test images. Results go to bench/results/pgd_training_<device>.json.
Targets (issue 4): the whole run ≤ 10 min on one H100; PGD-100 × 10 at ε = 0.3 ≥ 89.6%; clean ≥ 98.5%.
"""

import argparse
import math
import time
from dataclasses import replace

from bench.stats import sync, write_result
from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from model.checkpoint import save_checkpoint
from model.network import build_model
from training.evaluate import accuracy_report, split_tensors
from training.robustness import pgd100x10_correct
from training.train import TrainConfig, add_config_arguments, bounded, config_from_args, fit, seed_everything, select_device

RECIPE = TrainConfig(architecture="robust", method="pgd", epochs=12, pgd_steps=10, pgd_step_size=0.047, eps=0.35, eps_warmup_epochs=2, augment=False)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, RECIPE)
    p.add_argument("--timed-epochs", type=bounded(int, 1), default=None, help="stop after this many epochs, for the time per epoch (default: the whole run)")
    p.add_argument("--eval-n", type=bounded(int, 0, 10_001), default=10000, help="test images attacked after a whole run (default 10000; 0 skips the attack)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    device = select_device(args.device)
    cfg = replace(config_from_args(args, RECIPE), device=device.type)
    whole_run = args.timed_epochs is None or args.timed_epochs >= cfg.epochs
    if not whole_run:  # the recipe unchanged (same schedule, same cost per epoch), stopped early
        cfg = replace(cfg, max_steps=args.timed_epochs * math.ceil(60000 / cfg.batch_size))

    state_dir = resolve_state_dir(args.state_dir)
    mnist = load_mnist(state_dir)
    seed_everything(cfg.seed)
    start = time.perf_counter()  # the run as a user waits for it: data onto the device, model, training
    train_x, train_y = split_tensors(mnist, "train", device)
    model = build_model(cfg.architecture, cfg.dropout).to(device)
    history = fit(model, train_x, train_y, cfg, progress=False)
    sync(device)
    run_s = time.perf_counter() - start
    epoch_s = [round(b["seconds"] - a["seconds"], 2) for a, b in zip([{"seconds": 0.0}] + history, history)]
    result = {
        "recipe": {k: v for k, v in vars(cfg).items() if k not in ("max_steps", "target_accuracy")},
        "epochs_run": len(history),
        "seconds_per_epoch": epoch_s,
        "train_seconds": history[-1]["seconds"],
        "run_seconds": round(run_s, 2),
        "whole_run": whole_run,
    }
    if whole_run:
        test_x, test_y = split_tensors(mnist, "test", device)
        result["clean_accuracy"] = accuracy_report(model, test_x, test_y)["accuracy"]
        if args.eval_n:
            x, y = test_x[: args.eval_n], test_y[: args.eval_n]
            t = time.perf_counter()
            correct = pgd100x10_correct(model, x, y)
            result["pgd100x10_eps0.3"] = {"correct": correct, "n": len(y), "accuracy": round(correct / len(y), 4), "seconds": round(time.perf_counter() - t, 1)}
        metrics = {"mnist_test_accuracy": result["clean_accuracy"]}
        save_checkpoint(model.cpu(), state_dir / "checkpoints" / f"pgd-bench-{device.type}",
                        {"round": None, "architecture": cfg.architecture, "train_config": result["recipe"], "metrics": metrics, "history": history, "device": str(device)})
    write_result(f"pgd_training_{device.type}", result)


if __name__ == "__main__":
    main()
