"""Build a state directory that has been through several DADC rounds, from simulated people.

    .venv/bin/python scripts/demo_rounds.py --out /tmp/dadc-demo [--rounds 3] [--fooling 30] [--screenshot docs/rounds.png]
        [--rollback-screenshot docs/rollback.png]
    .venv/bin/python app.py --state-dir /tmp/dadc-demo     # then look at the Rounds tab

The simulated people draw MNIST training digits tilted 20-35 degrees and made thinner or
bolder than round 0 ever trained on: digits a person reads at once, which the model gets
wrong more often. Each round, their attempts are stored against the live model, as the app
stores them (fooling or not), until `--fooling` of them fooled it; then a retraining round is
run with the app's own code (`training.rounds`), gates included. `--screenshot` starts the
app on the result and saves the Rounds tab as a PNG; `--rollback-screenshot`, a maintainer's Rounds
tab after rolling back to round 1 on the page, on a copy of the result (both need requirements-test.txt:
Playwright).
"""

import argparse
import io
import math
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from PIL import Image  # noqa: E402

from data.mnist import load_mnist  # noqa: E402
from data.state_dir import flags_dir, resolve_state_dir, round0_checkpoint_dir  # noqa: E402
from flagging.store import FlagStore  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from training import rounds  # noqa: E402
from training.augment import thicken  # noqa: E402
from training.evaluate import images_to_tensor, predict_classes  # noqa: E402
from training.prepare import ensure_round0  # noqa: E402

PEOPLE_POOL = slice(50_000, 60_000)  # the MNIST training digits the simulated people start from


def tilted(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Digits tilted 20-35 degrees either way and made thinner or bolder: (B, 1, 28, 28) in [0, 1]."""
    b = len(x)
    angle = (torch.rand(b, generator=generator) * 15 + 20) * torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0) * (math.pi / 180)
    cos, sin, zero = torch.cos(angle), torch.sin(angle), torch.zeros(b)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    x = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=False), align_corners=False)
    return thicken(x, torch.rand(b, generator=generator) * 2 - 1).clamp_(0, 1)


def png(pixels: np.ndarray, scale: int = 1) -> bytes:
    image = Image.fromarray(pixels)
    if scale > 1:  # the "drawing": dark ink on white paper, as a canvas would send it
        image = Image.fromarray(255 - pixels).resize((28 * scale, 28 * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def collect_round(store: FlagStore, model, model_round: int, images: np.ndarray, labels: np.ndarray, fooling: int, generator, start: int) -> int:
    """Store attempts against `model` until `fooling` of them fooled it; returns where the next round starts."""
    fooled = 0
    while fooled < fooling:
        batch = slice(start, start + 64)
        x = tilted(images_to_tensor(images[batch]), generator)
        predictions = predict_classes(model, x).numpy()
        for pixels, label, prediction in zip((x[:, 0] * 255).round().byte().numpy(), labels[batch], predictions):
            if fooled == fooling:
                break
            fields = {"label": int(label), "prediction": int(prediction), "probabilities": [float(d == prediction) for d in range(10)]}
            fields |= {"model_round": model_round, "fooled": bool(label != prediction), "session_hash": f"person-{start}", "username": ""}
            store.append(fields, png(pixels, scale=10), png(pixels))
            fooled += label != prediction
            start += 1
        if start >= len(labels):
            raise RuntimeError("the pool of simulated drawings ran out: ask for fewer fooling examples")
    return start


def build(out: Path, n_rounds: int, fooling: int, retrain_from: str = "auto", seed: int = 0) -> None:
    source = resolve_state_dir()  # the app's own state: its MNIST cache and round-0 model (trained now if missing)
    shutil.copytree(ensure_round0(source), round0_checkpoint_dir(out))
    (out / "mnist").symlink_to(source / "mnist")
    mnist = load_mnist(out)
    images, labels = mnist.train_images[PEOPLE_POOL], mnist.train_labels[PEOPLE_POOL]
    generator, start = torch.Generator().manual_seed(seed), 0
    store = FlagStore(flags_dir(out), out / "locks")
    try:
        for _ in range(n_rounds):
            model, metadata = load_checkpoint(rounds.latest_model_dir(out))
            start = collect_round(store, model, int(metadata["round"]), images, labels, fooling, generator, start)
            rounds.main(["--state-dir", str(out), "--start", retrain_from])
        # A third of a round against the last model: the app, at --retrain-threshold N, waits for more.
        model, metadata = load_checkpoint(rounds.latest_model_dir(out))
        collect_round(store, model, int(metadata["round"]), images, labels, fooling // 3, generator, start)
    finally:
        store.close()


def screenshot(state: Path, path: Path, fooling: int, retrain_from: str) -> None:
    from tests.app_process import running_app
    from tests.browser import browser_page

    with running_app(state, "--retrain-threshold", str(fooling), "--retrain-from", retrain_from) as url, browser_page(url, width=1280, height=1000) as page:
        page.get_by_role("tab", name="Rounds").click()
        page.get_by_text("fooled round 0").first.wait_for(timeout=30_000)
        page.wait_for_timeout(1500)  # the plot draws itself after the data arrives
        page.screenshot(path=str(path), full_page=True)


def rollback_screenshot(state: Path, path: Path, fooling: int, retrain_from: str, to_round: int, reason: str) -> str:
    """The Rounds tab of a maintainer (mia, signed in with Hugging Face through a local OpenID provider, as
    on a Space) who has just rolled back to `to_round`, on a copy of the state; returns the status shown."""
    import tempfile

    from playwright.sync_api import expect

    from tests.app_process import running_app
    from tests.browser import browser, open_maintainer_panel, sign_in
    from tests.oauth_provider import OAuthProvider

    with tempfile.TemporaryDirectory(prefix="dadc-rollback-") as tmp:
        copy = Path(tmp) / "state"
        shutil.copytree(state, copy, ignore=shutil.ignore_patterns("locks"))
        app_args = ("--retrain-threshold", str(fooling), "--retrain-from", retrain_from, "--maintainers", "mia")
        with OAuthProvider("mia") as provider, running_app(copy, *app_args, env=provider.space_env()) as url, browser(width=1280, height=1000) as new_page:
            page = new_page(url)
            sign_in(page)
            open_maintainer_panel(page, "Rounds", "rollback-panel", "Maintainers: roll back to an earlier round")
            page.locator("#rollback-to input").fill(str(to_round))
            page.locator("#rollback-reason textarea, #rollback-reason input").first.fill(reason)
            page.locator("#rollback").click()
            expect(page.locator("#rounds-status")).to_contain_text(f"round {to_round}'s model again", timeout=60_000)
            page.locator(".toast-close").first.click()  # the confirmation would cover the table below; the status says it too
            expect(page.locator(".toast-body")).to_have_count(0)
            page.wait_for_timeout(1500)  # the plot draws itself after the data arrives
            page.screenshot(path=str(path), full_page=True)
            return page.locator("#rounds-status").inner_text()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="the state directory to create (must not exist)")
    p.add_argument("--rounds", type=int, default=3, help="retraining rounds (default 3)")
    p.add_argument("--fooling", type=int, default=30, help="fooling examples collected per round (default 30)")
    p.add_argument("--retrain-from", choices=rounds.RETRAIN_STARTS, default="auto", help="how each round trains (the app's --retrain-from; default auto, as the app)")
    p.add_argument("--screenshot", type=Path, default=None, help="save the Rounds tab as this PNG")
    p.add_argument(
        "--rollback-screenshot", type=Path, default=None, help="save as this PNG a signed-in maintainer's Rounds tab after rolling back to round 1 (on a copy: --out is left as built)"
    )
    args = p.parse_args(argv)
    if args.rollback_screenshot and args.rounds < 2:
        p.error("--rollback-screenshot rolls back to round 1: give --rounds 2 or more")
    if args.out.exists():
        p.error(f"{args.out} exists: give a new directory")
    build(args.out, args.rounds, args.fooling, args.retrain_from)
    if args.screenshot:
        screenshot(args.out, args.screenshot, args.fooling, args.retrain_from)
    if args.rollback_screenshot:
        status = rollback_screenshot(args.out, args.rollback_screenshot, args.fooling, args.retrain_from, 1, "round 2 learned a batch of vandalised labels")
        print(f"{args.rollback_screenshot}: {status}")
    print(f"done: .venv/bin/python app.py --state-dir {args.out} --retrain-threshold {args.fooling} --retrain-from {args.retrain_from}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
