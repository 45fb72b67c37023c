"""Train a model on MNIST: the round-0 model, or a robustness experiment (--method, --architecture).

    python -m training.train                 # writes <state>/checkpoints/round-0
    python -m training.train --architecture robust --method pgd   # writes <state>/checkpoints/pgd-robust
    python -m training.train --dry-run       # one step, for smoke tests: writes <state>/checkpoints/dry-run

The whole training set lives on the training device as one tensor; batches are sliced
from it and augmented in place (no DataLoader, no per-image Python), which is what makes
an epoch fast on both a 2-core CPU and a GPU. Importable without gradio or datasets.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from data.mnist import load_mnist
from data.state_dir import checkpoints_dir, in_flag_store_problem, later_round_dirs, resolve_state_dir, round0_checkpoint_dir
from model.checkpoint import data_hash, replace_problem, save_checkpoint
from model.network import build_model
from training.attacks import fgsm, pgd
from training.augment import AugmentConfig, augment
from training.evaluate import accuracy_report, fgsm_accuracy, split_tensors


@dataclass
class TrainConfig:
    epochs: int = 4  # enough for ≥99.0% on the MNIST test set with OneCycle (measured: 99.2%)
    batch_size: int = 128  # small batches converge in fewer epochs for this tiny net
    lr: float = 0.003  # peak learning rate of the one-cycle schedule (Adam)
    optimizer: str = "adam"  # adam (one-cycle) | sgd (momentum 0.5, constant lr: the 2018 pytorch/examples recipe)
    augment: bool = True  # rotation/scale/shift/thickness: prepares the model for canvas drawings
    seed: int = 0
    architecture: str = "reference"
    dropout: float = 0.1  # of both dropout layers; the reference's 0.5 needs 2× the epochs for 99%
    device: str = "auto"  # "auto" picks CUDA when present
    method: str = "standard"  # standard | adv-reg | pgd | fast | distill (see training_loss)
    adv_multiplier: float = 0.2  # adv-reg: weight of the adversarial-neighbour loss (NSL default)
    adv_step: float = 0.2  # adv-reg: L∞ step that makes the neighbour (NSL default)
    eps: float = 0.3  # pgd / fast: L∞ radius of the training attack (Madry et al.'s MNIST ε)
    pgd_steps: int = 40  # pgd: attack steps per batch
    pgd_step_size: float = 0.01  # pgd: attack step size
    eps_warmup_epochs: float = 0.0  # pgd / fast: ramp ε (and the step size with it) from 0 over this many epochs
    temperature: float = 20.0  # distill: softmax temperature of teacher and student (Papernot et al.)
    max_steps: int | None = None  # stop after this many steps (--dry-run uses 1)
    target_accuracy: float | None = None  # stop at the end of the first epoch that reaches it


def select_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


METHODS = ("standard", "adv-reg", "pgd", "fast", "distill")


def training_loss(model, xb, yb, cfg: TrainConfig, generator: torch.Generator, teacher: torch.nn.Module | None = None) -> torch.Tensor:
    """The batch loss of the chosen training method."""
    if cfg.method == "standard":
        return F.nll_loss(model(xb), yb)
    # The model outputs log-probabilities, which differ from logits by a per-example constant:
    # log_softmax(log_probs / T) is exactly the temperature-T softmax of the logits.
    if cfg.method == "distill-teacher":  # step 1 of distillation: hard labels at temperature T
        return F.nll_loss(F.log_softmax(model(xb) / cfg.temperature, dim=1), yb)
    if cfg.method == "distill":  # step 2: the student matches the teacher's soft labels at T
        with torch.no_grad():
            soft = F.softmax(teacher(xb) / cfg.temperature, dim=1)
        return -(soft * F.log_softmax(model(xb) / cfg.temperature, dim=1)).sum(1).mean()
    if cfg.method == "adv-reg":
        # NSL adversarial regularisation: CE(clean) + multiplier × CE(one-gradient-step neighbour).
        neighbour = fgsm(model, xb, yb, cfg.adv_step)
        return F.nll_loss(model(xb), yb) + cfg.adv_multiplier * F.nll_loss(model(neighbour), yb)
    if cfg.method == "pgd":  # Madry et al.: train on the PGD adversary only
        return F.nll_loss(model(pgd(model, xb, yb, cfg.eps, steps=cfg.pgd_steps, step_size=cfg.pgd_step_size, generator=generator)), yb)
    if cfg.method == "fast":  # Wong, Rice & Kolter: FGSM from a random start, step 1.25 ε
        return F.nll_loss(model(fgsm(model, xb, yb, cfg.eps, rand_init=True, step_size=1.25 * cfg.eps, generator=generator)), yb)
    raise ValueError(f"unknown training method {cfg.method!r}; choose one of {METHODS}")


def warmed_up(cfg: TrainConfig, step: int, steps_per_epoch: int) -> TrainConfig:
    """`cfg` with ε (and the PGD step size, in proportion) ramped linearly from 0 over the warm-up.

    A full-ε adversary from the first step can keep a fresh network stuck near chance for an
    epoch or more; a short ramp lets it learn the digits first (as in IBP and CROWN-IBP training).
    """
    warmup_steps = cfg.eps_warmup_epochs * steps_per_epoch
    if step >= warmup_steps:
        return cfg
    scale = (step + 1) / warmup_steps
    return replace(cfg, eps=cfg.eps * scale, pgd_step_size=cfg.pgd_step_size * scale)


ADVERSARIAL_METHODS = ("pgd", "fast")
CHECK_IMAGES = 1000  # training images of the epoch-end PGD check
CHECK_STEPS = 10


def pgd_check(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int) -> float:
    """Accuracy under PGD-10 (step 2.5 ε / 10) at the training ε on fixed training images.

    Wong, Rice & Kolter's detector of catastrophic overfitting: FGSM training can suddenly
    learn to mask its gradients, after which FGSM barely moves the loss while PGD still
    fools the model. A multi-step attack with a step large enough to cross the ball shows it.
    """
    model.eval()
    generator = torch.Generator(device=x.device).manual_seed(seed)
    adversarial = pgd(model, x, y, eps, steps=CHECK_STEPS, generator=generator)
    return accuracy_report(model, adversarial, y)["accuracy"]


def fit(
    model: torch.nn.Module,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    cfg: TrainConfig,
    test_x: torch.Tensor | None = None,
    test_y: torch.Tensor | None = None,
    progress: bool = True,
    teacher: torch.nn.Module | None = None,
) -> list[dict]:
    """Train `model` in place on tensors already on the device; returns one record per epoch.

    train_x: (N, 1, 28, 28) float in [0, 1]; train_y: (N,) int64. When test tensors are
    given, the model is evaluated after each epoch: test accuracy (which drives
    `target_accuracy`) and, for pgd and fast, `pgd_check` on training images. Without
    them (retraining rounds, benchmarks) no time goes to either.
    """
    device = train_x.device
    n = len(train_x)
    # channels_last makes this net's convolutions and max-pools ~30% faster on the CPU.
    model.to(memory_format=torch.channels_last)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    if cfg.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.5)
        schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=cfg.epochs * steps_per_epoch)
    shuffle_gen = torch.Generator().manual_seed(cfg.seed)
    augment_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    augment_cfg = AugmentConfig()

    # Robustness is checked where the model is evaluated anyway, on the same training images every
    # epoch, so that the check's accuracies compare epoch to epoch.
    checked = test_x is not None and cfg.method in ADVERSARIAL_METHODS
    check = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed + 2))[:CHECK_IMAGES].to(device) if checked else None

    history, step, start, evaluation_s = [], 0, time.perf_counter(), 0.0
    for epoch in range(cfg.epochs):
        model.train()
        order = torch.randperm(n, generator=shuffle_gen).to(device)
        # In a log (not a terminal), redraw the bar every 5 s instead of several times a second.
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not progress, leave=False, mininterval=0.1 if sys.stderr.isatty() else 5)
        loss_sum = torch.zeros((), device=device)
        for i in bar:
            idx = order[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            xb, yb = train_x[idx], train_y[idx]
            if cfg.augment:
                xb = augment(xb, augment_cfg, augment_gen)
            loss = training_loss(model, xb, yb, warmed_up(cfg, step, steps_per_epoch), augment_gen, teacher)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_sum += loss.detach()
            step += 1
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        train_loss = round(loss_sum.item() / (i + 1), 5)  # .item() waits for the device: time is taken after it
        evaluating = time.perf_counter()
        # Training time since the start; the evaluations below are left out of it.
        record = {"epoch": epoch + 1, "train_loss": train_loss, "seconds": round(evaluating - start - evaluation_s, 2)}
        if test_x is not None:
            record["test_accuracy"] = accuracy_report(model, test_x, test_y)["accuracy"]
        if checked:
            record["train_pgd10_accuracy"] = pgd_check(model, train_x[check], train_y[check], cfg.eps, cfg.seed)
        evaluation_s += time.perf_counter() - evaluating
        history.append(record)
        if progress:
            tqdm.write(" ".join(f"{k}={v}" for k, v in record.items()))
        if cfg.max_steps is not None and step >= cfg.max_steps:
            break
        if cfg.target_accuracy is not None and record.get("test_accuracy", 0) >= cfg.target_accuracy:
            break
    model.to(memory_format=torch.contiguous_format)  # safetensors wants plain contiguous weights
    return history


def default_checkpoint_dir(state_dir: Path, cfg: TrainConfig) -> Path:
    """The round-0 model for standard training; robustness experiments never overwrite it."""
    if cfg.method == "standard" and cfg.architecture == "reference":
        return round0_checkpoint_dir(state_dir)
    return state_dir / "checkpoints" / f"{cfg.method}-{cfg.architecture}"


def train_round0(state_dir: Path, cfg: TrainConfig, out: Path | None = None, progress: bool = True) -> tuple[Path, dict]:
    """Train on the 60,000 MNIST training images and save the checkpoint; returns (path, metadata)."""
    seed_everything(cfg.seed)
    device = select_device(cfg.device)
    mnist = load_mnist(state_dir)
    train_x, train_y = split_tensors(mnist, "train", device)
    test_x, test_y = split_tensors(mnist, "test", device)

    teacher = None
    if cfg.method == "distill":  # defensive distillation: a teacher at T first, then the student
        teacher = build_model(cfg.architecture, cfg.dropout).to(device)
        fit(teacher, train_x, train_y, replace(cfg, method="distill-teacher"), progress=progress)
        teacher.eval()
    model = build_model(cfg.architecture, cfg.dropout).to(device)
    history = fit(model, train_x, train_y, cfg, test_x, test_y, progress=progress, teacher=teacher)
    report = accuracy_report(model, test_x, test_y)
    robust = fgsm_accuracy(model, test_x, test_y, 0.1)
    metadata = {
        "round": 0,
        "parent": None,
        "architecture": cfg.architecture,
        "train_config": asdict(cfg),
        "training_data": {"source": mnist.source, "n": len(train_y), "sha256": data_hash(mnist.train_images, mnist.train_labels)},
        "metrics": {"mnist_test_accuracy": report["accuracy"], "per_class_accuracy": report["per_class_accuracy"], "fgsm_0.1_accuracy": robust},
        "history": history,
        "device": str(device),
        "cpu_threads": torch.get_num_threads(),  # on the CPU the weights depend on it (the order of float sums)
    }
    path = save_checkpoint(model.cpu(), out or default_checkpoint_dir(state_dir, cfg), metadata)
    return path, metadata


def bounded(kind: type, low: float, high: float | None = None, low_allowed: bool = True):
    """An argparse type: a finite `kind` (int or float) from `low` (or above it) to below `high`,
    so that a bad option is refused with its name before anything runs or is written."""
    above = f">= {low}" if low_allowed else f"> {low}"
    wanted = f"a{'n integer' if kind is int else ' number'} {above}" + (f" and < {high}" if high is not None else "")

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}") from None
        if not math.isfinite(value) or value < low or (value == low and not low_allowed) or (high is not None and value >= high):
            raise argparse.ArgumentTypeError(f"must be {wanted}, not {text!r}")
        return value

    return parse


def device_option(text: str) -> str:
    """An argparse type for --device: auto, cpu, cuda or cuda:N, a GPU refused at once where PyTorch sees
    none (rather than as a driver error once the data is loaded, or a checkpoint said to be damaged)."""
    name = text.strip().lower()
    if name in ("auto", "cpu"):
        return name
    if not re.fullmatch(r"cuda(:\d+)?", name):
        raise argparse.ArgumentTypeError(f"must be cpu, cuda, cuda:N or auto, not {text!r}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if int(name.partition(":")[2] or 0) >= count:
        raise argparse.ArgumentTypeError(f"{text!r}: PyTorch sees {count} CUDA GPU{'' if count == 1 else 's'} on this machine (use cpu or auto)")
    return name


def add_config_arguments(p: argparse.ArgumentParser, d: TrainConfig) -> None:
    """The options that make a TrainConfig, with `d` as their defaults (a recipe other than the default one)."""
    p.add_argument("--epochs", type=bounded(int, 1), default=d.epochs, help=f"epochs (default {d.epochs})")
    p.add_argument("--batch-size", type=bounded(int, 1), default=d.batch_size, help=f"batch size (default {d.batch_size})")
    p.add_argument("--lr", type=bounded(float, 0, low_allowed=False), default=d.lr, help=f"peak one-cycle learning rate (default {d.lr})")
    p.add_argument("--optimizer", choices=["adam", "sgd"], default=d.optimizer, help=f"adam with a one-cycle schedule, or sgd (momentum 0.5, constant lr) (default {d.optimizer})")
    p.add_argument("--no-augment", action="store_true", help=f"train on plain MNIST (default: {'augment' if d.augment else 'plain already'})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    p.add_argument("--architecture", choices=["reference", "robust"], default=d.architecture, help=f"network size (default {d.architecture})")
    p.add_argument("--dropout", type=bounded(float, 0, 1), default=d.dropout, help=f"dropout probability of both dropout layers (default {d.dropout})")
    p.add_argument("--method", choices=METHODS, default=d.method, help=f"training method (default {d.method})")
    p.add_argument("--adv-multiplier", type=bounded(float, 0), default=d.adv_multiplier, help=f"adv-reg: neighbour loss weight (default {d.adv_multiplier})")
    p.add_argument("--adv-step", type=bounded(float, 0), default=d.adv_step, help=f"adv-reg: L-inf neighbour step (default {d.adv_step})")
    p.add_argument("--eps", type=bounded(float, 0), default=d.eps, help=f"pgd/fast: L-inf attack radius (default {d.eps})")
    p.add_argument("--eps-warmup-epochs", type=bounded(float, 0), default=d.eps_warmup_epochs, help=f"pgd/fast: ramp ε linearly from 0 over this many epochs (default {d.eps_warmup_epochs})")
    p.add_argument("--pgd-steps", type=bounded(int, 1), default=d.pgd_steps, help=f"pgd: attack steps (default {d.pgd_steps})")
    p.add_argument("--pgd-step-size", type=bounded(float, 0, low_allowed=False), default=d.pgd_step_size, help=f"pgd: attack step size (default {d.pgd_step_size})")
    p.add_argument("--temperature", type=bounded(float, 0, low_allowed=False), default=d.temperature, help=f"distill: softmax temperature (default {d.temperature})")
    p.add_argument("--device", type=device_option, default=d.device, help="cpu, cuda, cuda:N or auto (default auto: CUDA when present)")


def config_from_args(args: argparse.Namespace, d: TrainConfig) -> TrainConfig:
    """The TrainConfig that `add_config_arguments`' options describe (fields without an option keep `d`'s value)."""
    options = {name: getattr(args, name) for name in vars(d) if hasattr(args, name)}
    return replace(d, **options, augment=d.augment and not args.no_augment)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(p, TrainConfig())
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--out", default=None, help="checkpoint directory (default <state>/checkpoints/round-0; other methods and architectures <state>/checkpoints/METHOD-ARCHITECTURE, --dry-run <state>/checkpoints/dry-run); replaces a checkpoint there, never a file or another folder")
    p.add_argument("--target-accuracy", type=bounded(float, 0), default=None, help="stop after the first epoch reaching it (default: off)")
    p.add_argument("--dry-run", action="store_true", help="train one step and save it (to <state>/checkpoints/dry-run unless --out says where), for smoke tests (default off)")
    p.add_argument("--quiet", action="store_true", help="no progress bars (default: show them)")
    return p.parse_args(argv)


def out_problem(out: Path, state_dir: Path) -> str | None:
    """Why the checkpoint may not go to `out`, found before minutes of training rather than after them."""
    if problem := in_flag_store_problem(out, state_dir):
        return problem
    if out == round0_checkpoint_dir(state_dir) and (later := later_round_dirs(state_dir)):
        return (
            f"{out} is round 0 of {state_dir}, and {len(later)} later round(s) were trained from it (up to {later[-1].name}): "
            "a new round 0 would rewrite their history on the dashboard. Use --out for another folder, or a new --state-dir"
        )
    if problem := replace_problem(out):
        return problem
    try:  # a folder this user may not write to, or a path under /proc, fails here and not after the training
        out.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryDirectory(dir=out.parent).cleanup()
    except (FileExistsError, NotADirectoryError):
        return f"cannot write into {out.parent}: a file is in the way of that folder"
    except OSError as e:
        return f"cannot write into {out.parent}: {e.strerror or e}"
    return None


def main(argv=None) -> int:
    args = parse_args(argv)
    cfg = replace(config_from_args(args, TrainConfig()), max_steps=1 if args.dry_run else None)
    try:
        state_dir = resolve_state_dir(args.state_dir)
    except OSError as e:  # a file in the way, a folder this user may not create
        print(f"error: --state-dir: cannot use {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    # A one-step model never lands where the app or a robustness report would load a real one.
    default_out = checkpoints_dir(state_dir) / "dry-run" if args.dry_run else default_checkpoint_dir(state_dir, cfg)
    out = Path(args.out).expanduser().resolve() if args.out else default_out
    if problem := out_problem(out, state_dir):
        print(f"error: --out: {problem}", file=sys.stderr)
        return 2
    path, metadata = train_round0(state_dir, cfg, out, progress=not args.quiet)
    acc = metadata["metrics"]["mnist_test_accuracy"]
    print(f"saved {path} (MNIST test accuracy {acc:.4f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
