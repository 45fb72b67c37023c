"""White-box PGD-100 × 10 restarts (ε = 0.3, step 0.01) on a slice of the MNIST test set: the report's
headline attack alone, to extend a robustness figure beyond the report's first N images.

    python -m bench.pgd100_slice --model state/checkpoints/pgd10-robust --start 1000 --stop 3000
prints JSON (correct, n, accuracy, seconds). Same attack and seeding as `training.robustness`.
`--eps 0.2` runs the same attack at another radius (the adversarially regularised model's ε).
"""

import argparse
import json
import time

from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from model.checkpoint import load_checkpoint
from training.evaluate import split_tensors
from training.robustness import pgd100x10_correct


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="checkpoint directory (required)")
    p.add_argument("--start", type=int, default=0, help="first test image (default 0)")
    p.add_argument("--stop", type=int, default=1000, help="one past the last test image (default 1000)")
    p.add_argument("--eps", type=float, default=0.3, help="L∞ radius (default 0.3)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    if not 0 <= args.start < args.stop <= 10_000:  # a slice past the end would be recorded as asked, not as measured
        p.error(f"--start {args.start} --stop {args.stop}: need 0 <= start < stop <= 10000 (MNIST's test images)")
    mnist = load_mnist(resolve_state_dir(args.state_dir))
    model, _ = load_checkpoint(args.model)
    x, y = split_tensors(mnist, "test", rows=slice(args.start, args.stop))
    t = time.perf_counter()
    correct = pgd100x10_correct(model, x, y, args.eps, seed=args.start)
    print(json.dumps({"model": args.model, "eps": args.eps, "images": [args.start, args.stop], "pgd100x10_correct": correct, "n": len(y), "accuracy": correct / len(y), "seconds": round(time.perf_counter() - t)}))


if __name__ == "__main__":
    main()
