"""Evaluate a checkpoint on the MNIST test set.

    python -m training.evaluate --model state/checkpoints/round-0
prints JSON with `mnist_test_accuracy` and `per_class_accuracy`.
"""

import argparse
import copy
import json
import sys

import numpy as np
import torch

from data.mnist import MnistArrays, load_mnist
from data.state_dir import resolve_state_dir
from model.checkpoint import CheckpointError, load_checkpoint
from training.attacks import fgsm


def images_to_tensor(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [0, 1] on `device`."""
    return torch.from_numpy(images).to(device).unsqueeze(1).float().div_(255)


def split_tensors(
    mnist: MnistArrays, split: str, device: torch.device | str = "cpu", rows: slice = slice(None)
) -> tuple[torch.Tensor, torch.Tensor]:
    """An MNIST split, "train" or "test" (its `rows`, all by default), as images (N, 1, 28, 28) in [0, 1] and
    int64 labels (N,) on `device`."""
    if split == "train":
        images, labels = mnist.train_images, mnist.train_labels
    elif split == "test":
        images, labels = mnist.test_images, mnist.test_labels
    else:
        raise ValueError(f"unknown MNIST split {split!r}; choose 'train' or 'test'")
    return images_to_tensor(images[rows], device), torch.from_numpy(labels[rows]).long().to(device)


@torch.no_grad()
def predict_classes(model: torch.nn.Module, x: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """The class `model` predicts for each of `x` (N, 1, 28, 28), in batches. On a channels-last copy: a
    checkpoint loads channels-first, and this net's convolutions and max-pools then run about 3× slower
    on the CPU (4,000 images on one thread: 0.58 s, channels-last 0.15 s); the caller's model, the live
    one serving single drawings say, is left as it is."""
    model.eval()
    model = copy.deepcopy(model).to(memory_format=torch.channels_last)
    return torch.cat([model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)])


def accuracy_report(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Overall and per-class accuracy of `model` on (x, y)."""
    pred = predict_classes(model, x)
    correct = (pred == y).float()
    per_class = {str(c): round(correct[y == c].mean().item(), 5) for c in range(10)}
    return {"accuracy": round(correct.mean().item(), 5), "per_class_accuracy": per_class, "n": len(y)}


def fgsm_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float = 0.1) -> float:
    """Accuracy under white-box FGSM at `eps`: the dashboard's robustness column."""
    model.eval()
    # Batches of 1000 are ~1.5× faster than one batch of 10,000 on a CPU.
    adversarial = torch.cat([fgsm(model, x[i : i + 1000], y[i : i + 1000], eps) for i in range(0, len(x), 1000)])
    return accuracy_report(model, adversarial, y)["accuracy"]


def evaluate_on_mnist_test(model: torch.nn.Module, state_dir, device="cpu") -> dict:
    x, y = split_tensors(load_mnist(state_dir), "test", device)
    report = accuracy_report(model.to(device), x, y)
    return {"mnist_test_accuracy": report["accuracy"], "per_class_accuracy": report["per_class_accuracy"], "n": report["n"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="checkpoint directory (required)")
    parser.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = parser.parse_args(argv)
    try:
        model, metadata = load_checkpoint(args.model)
    except (FileNotFoundError, CheckpointError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = evaluate_on_mnist_test(model, resolve_state_dir(args.state_dir, create=False))
    result["model"] = str(args.model)
    result["round"] = metadata.get("round")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
