"""Get everything the app needs into the state directory: MNIST in the cache, a round-0 model.

    python -m training.prepare [--state-dir DIR]
Does nothing that is already done.
"""

import argparse
import sys

from data.mnist import load_mnist
from data.state_dir import resolve_state_dir, round0_checkpoint_dir
from training.train import TrainConfig, train_round0


def ensure_round0(state_dir, progress: bool = True):
    """Return the round-0 checkpoint directory, training it first if there is none."""
    checkpoint = round0_checkpoint_dir(state_dir)
    if not (checkpoint / "model.safetensors").exists():
        print("training the round-0 model on MNIST (about 25 s on 2 CPU cores)", flush=True)
        _, metadata = train_round0(state_dir, TrainConfig(), progress=progress)
        print(f"MNIST test accuracy {metadata['metrics']['mnist_test_accuracy']:.4f}", flush=True)
    return checkpoint


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir)
    mnist = load_mnist(state_dir)
    print(f"MNIST: {len(mnist.train_labels)} train / {len(mnist.test_labels)} test images ({mnist.source})")
    print(f"round-0 model: {ensure_round0(state_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
