"""Attack throughput and adversarial-training speed.

    python -m bench.attack_throughput [--n 2000] [--device auto]

FGSM and PGD-40 (L∞, ε = 0.3) images/s against the round-0 model; then one full training
epoch with each cheap adversarial method (adv-reg, fast) and a timed slice of PGD-40
training (`--pgd-steps-timed` batches), reference architecture, batch 128.
"""

import argparse
import time

from bench.stats import sync, write_result
from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from model.checkpoint import load_checkpoint
from model.network import build_model
from training.attacks import fgsm, pgd
from training.evaluate import split_tensors
from training.prepare import ensure_round0
from training.train import TrainConfig, bounded, device_option, fit, select_device


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=bounded(int, 1), default=2000, help="images attacked (default 2000)")
    p.add_argument("--device", type=device_option, default="auto", help="cpu, cuda, cuda:N or auto (default auto: CUDA when present)")
    p.add_argument("--pgd-steps-timed", type=bounded(int, 1), default=30, help="PGD-training batches timed (default 30)")
    args = p.parse_args(argv)
    device = select_device(args.device)
    state_dir = resolve_state_dir()
    model = load_checkpoint(ensure_round0(state_dir), device)[0]
    mnist = load_mnist(state_dir)
    x, y = split_tensors(mnist, "test", device, slice(args.n))
    results = {}
    for name, attack in (("FGSM", lambda: fgsm(model, x, y, 0.3)), ("PGD-40", lambda: pgd(model, x, y, 0.3, steps=40, step_size=0.01))):
        attack()  # warm-up
        sync(device)
        start = time.perf_counter()
        attack()
        sync(device)
        results[f"{name} images/s"] = round(args.n / (time.perf_counter() - start), 1)

    train_x, train_y = split_tensors(mnist, "train", device)
    for method in ("standard", "adv-reg", "fast"):
        history = fit(build_model().to(device), train_x, train_y, TrainConfig(epochs=1, method=method), progress=False)
        results[f"{method} training, s per epoch"] = history[-1]["seconds"]
    steps = args.pgd_steps_timed
    history = fit(build_model().to(device), train_x, train_y, TrainConfig(epochs=1, method="pgd", max_steps=steps), progress=False)
    results[f"PGD-40 training, s per batch of 128 (mean of {steps})"] = round(history[-1]["seconds"] / steps, 3)
    write_result(f"attack_throughput_{device.type}", {"n": args.n, "results": results})


if __name__ == "__main__":
    main()
