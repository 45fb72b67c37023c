"""What one retraining round learns, and what it costs, per fine-tuning recipe.

    python -m bench.round_recipe [--examples 72 250 727] [--recipes 16x300 32x300 32x600 scratch] [--seeds 0 1] [--name round_recipe]

Each recipe is "people's examples per batch x steps", a fine-tuning of round 0 with
`training.rounds.fine_tune` (the rest of RoundConfig as the app has it), or "scratch", a new model
trained with `training.rounds.train_from_scratch` (round 0's recipe on MNIST plus the people's
examples, each repeated 20 times per epoch: `--retrain-from scratch`). On two kinds of data:
- clean and many: scripts/demo_rounds.py's simulated people (MNIST training digits 50,000 on,
  tilted 20-35 degrees, made thinner or bolder), the first N of their drawings, fooling or not,
  as the app trains on every verified example. Measured on 10,000 fresh drawings of that kind
  (digits 40,000-49,999, other tilts): the error rate, what the next round's model error rate
  would be; and MNIST test accuracy, which the round's gate bounds.
- few and noisy: the 32 training examples of tests/test_rounds.py, MNIST training images round 0
  gets wrong (some of them mislabelled or barely legible). Measured: MNIST test accuracy and
  whether the default gate (at most 0.3 points lost) passes.
"""

import argparse
import copy
import statistics
import time
from dataclasses import replace

import torch

from bench.stats import write_result
from data.mnist import load_mnist
from data.state_dir import resolve_state_dir
from model.checkpoint import load_checkpoint
from scripts.demo_rounds import PEOPLE_POOL, tilted
from training.evaluate import images_to_tensor, predict_classes, split_tensors
from training.prepare import ensure_round0
from training.rounds import Examples, RoundConfig, fine_tune, train_from_scratch
from training.train import bounded, seed_everything

FRESH = slice(40_000, 50_000)


def parse_recipe(text: str) -> tuple[int, int]:
    per_batch, steps = text.split("x")
    return int(per_batch), int(steps)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--examples", type=bounded(int, 1), nargs="+", default=[72, 250, 727], help="people's drawings trained on (default 72 250 727)")
    p.add_argument("--recipes", nargs="+", default=["16x300", "32x300", "32x600", "scratch"], help="people per batch x steps, or scratch (default 16x300 32x300 32x600 scratch)")
    p.add_argument("--seeds", type=bounded(int, 0), nargs="+", default=[0, 1], help="fine-tuning seeds (default 0 1)")
    p.add_argument("--name", default="round_recipe", help="result file, bench/results/NAME.json: another name keeps the README's table's run (default round_recipe)")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    state_dir = resolve_state_dir()
    parent, parent_meta = load_checkpoint(ensure_round0(state_dir))
    mnist = load_mnist(state_dir)
    mnist_x, mnist_y = split_tensors(mnist, "train")
    test_x, test_y = split_tensors(mnist, "test")
    people_x = tilted(images_to_tensor(mnist.train_images[PEOPLE_POOL]), torch.Generator().manual_seed(0))
    people_y = mnist_y[PEOPLE_POOL]
    fresh_x = tilted(images_to_tensor(mnist.train_images[FRESH]), torch.Generator().manual_seed(123))
    fresh_y = mnist_y[FRESH]
    # tests/test_rounds.py's round: the first 40 images round 0 gets wrong, every 5th (each its own person) held out
    wrong = torch.nonzero(predict_classes(parent, mnist_x) != mnist_y).flatten()[:40]
    trained = wrong[[i for i in range(40) if i % 5 != 4]]
    hard = Examples(mnist_x[trained], mnist_y[trained], [])
    cfg = RoundConfig()

    def measure(model) -> dict:
        return {
            "fresh_error_rate": round(1 - (predict_classes(model, fresh_x) == fresh_y).float().mean().item(), 5),
            "mnist_test_accuracy": round((predict_classes(model, test_x) == test_y).float().mean().item(), 5),
        }

    def fine_tuned(examples: Examples, recipe: str, seed: int):
        start = time.perf_counter()
        if recipe == "scratch":
            seed_everything(seed)
            model, _ = train_from_scratch(parent_meta, mnist_x, mnist_y, examples, replace(cfg, start="scratch", seed=seed))
        else:
            per_batch, steps = parse_recipe(recipe)
            model = copy.deepcopy(parent)
            fine_tune(model, mnist_x, mnist_y, examples, replace(cfg, new_per_batch=per_batch, steps=steps, seed=seed))
        return model.eval(), round(time.perf_counter() - start, 2)

    def summary(runs: list[dict]) -> dict:
        return {f"mean_{k}": round(statistics.mean(r[k] for r in runs), 5) for k in runs[0] if k not in ("seed", "fine_tune_s", "passes_mnist_gate")}

    results = {"round 0": measure(parent)}
    print("round 0", results["round 0"], flush=True)
    for n in args.examples:
        people = Examples(people_x[:n], people_y[:n], [str(i) for i in range(n)])
        for recipe in args.recipes:
            runs = []
            for seed in args.seeds:
                model, seconds = fine_tuned(people, recipe, seed)
                runs.append({"seed": seed, "fine_tune_s": seconds, **measure(model)})
            results[f"simulated people, {n} examples, {recipe}"] = {"runs": runs, **summary(runs)}
            print(f"simulated people, {n} examples, {recipe}", summary(runs), flush=True)
    for recipe in args.recipes:
        runs = []
        for seed in args.seeds:
            model, seconds = fine_tuned(hard, recipe, seed)
            accuracy = round((predict_classes(model, test_x) == test_y).float().mean().item(), 5)
            passes = results["round 0"]["mnist_test_accuracy"] - accuracy <= cfg.max_mnist_drop
            runs.append({"seed": seed, "fine_tune_s": seconds, "mnist_test_accuracy": accuracy, "passes_mnist_gate": passes})
        results[f"32 hard MNIST examples, {recipe}"] = {"runs": runs, **summary(runs), "rounds_passing_mnist_gate": sum(r["passes_mnist_gate"] for r in runs)}
        print(f"32 hard MNIST examples, {recipe}", summary(runs), flush=True)
    write_result(args.name, {"examples": args.examples, "recipes": args.recipes, "seeds": args.seeds, "results": results})


if __name__ == "__main__":
    main()
