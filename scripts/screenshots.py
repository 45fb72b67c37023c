"""The README's screenshots of the app, taken from a real app and browser.

    .venv/bin/python scripts/screenshots.py [--out docs]

Starts the app on a fresh state directory holding a copy of the round-0 model, then:
app.png: a person draws a 1 with a long up-stroke (as much of Europe writes it), the model
reads a 7, and the person flags it as a 1; validate.png: someone else is asked "Is this a 1?";
adversary.png: the person draws a 7 and looks at its FGSM twin at ε = 0.25 and the smallest ε
that fools the model; remove.png: a maintainer signed in with Hugging Face about to remove the 1 for good. Prints what the model said
on each, for the captions.
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import expect  # noqa: E402

from data.state_dir import resolve_state_dir  # noqa: E402
from tests.app_process import running_app  # noqa: E402
from tests.browser import browser, draw_with_mouse, open_maintainer_panel, ready_to_draw, sign_in, top_guess  # noqa: E402
from tests.conftest import copy_of_round0_state  # noqa: E402
from tests.oauth_provider import OAuthProvider  # noqa: E402
from training.prepare import ensure_round0  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("docs"), help="folder for the PNGs (default docs)")
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    ensure_round0(resolve_state_dir())
    with tempfile.TemporaryDirectory(prefix="dadc-screenshots-") as tmp:
        state = copy_of_round0_state(resolve_state_dir(), Path(tmp) / "state")
        with running_app(state) as url, browser(width=1200, height=900) as new_page:
            person = new_page(url)
            ready_to_draw(person)
            draw_with_mouse(person, "european 1")
            expect(person.locator("#guess [data-testid=label-output-value]")).not_to_have_text("", timeout=15_000)
            guess = top_guess(person)
            person.locator('#digit input[value="1"]').check()
            person.locator("#flag").click()
            expect(person.locator("#flag-result")).to_contain_text("model", timeout=15_000)
            person.screenshot(path=str(args.out / "app.png"))
            print(f"app.png: a European 1, read as {guess}: {person.locator('#flag-result').inner_text()}")

            validator = new_page(url)
            validator.get_by_role("tab", name="Validate").click()
            expect(validator.locator("#question")).to_contain_text("Is this", timeout=15_000)
            validator.screenshot(path=str(args.out / "validate.png"))
            print(f"validate.png: {validator.locator('#question').inner_text()}")

            person.get_by_role("button", name="Clear", exact=True).click()
            ready_to_draw(person)
            draw_with_mouse(person, 7)
            expect(person.locator("#guess [data-testid=label-output-value]")).to_have_text("7", timeout=15_000)
            person.get_by_role("tab", name="Machine adversary").click()
            twin_image = person.locator("#adversarial-view img")
            expect(twin_image).to_be_visible(timeout=15_000)  # the twin at the default ε
            twin_at_default = twin_image.get_attribute("src")
            epsilon = person.locator("#eps input[type=number]")
            epsilon.fill("0.25")
            epsilon.press("Enter")
            # The twin follows ε: wait for it (a fixed wait once caught the default ε's twin on a busy machine).
            expect(twin_image).not_to_have_attribute("src", twin_at_default, timeout=30_000)
            person.wait_for_timeout(500)  # the label beside it came in the same answer; let its bars finish growing
            person.screenshot(path=str(args.out / "adversary.png"))
            twin = person.locator("#adversarial-label [data-testid=label-output-value]").inner_text()
            print(f"adversary.png: a 7 and its FGSM twin at ε = 0.25, read as {twin}; {person.locator('#smallest-eps').inner_text()}")

        # remove.png: the same state (the European 1 is there to validate), served as on a Space whose
        # maintainer, mia, signs in with Hugging Face (a local OpenID provider) and opens the removal panel.
        with OAuthProvider("mia") as provider, running_app(state, "--maintainers", "mia", env=provider.space_env()) as url, browser(width=1200, height=1000) as new_page:
            maintainer = new_page(url)
            sign_in(maintainer)
            open_maintainer_panel(maintainer, "Validate", "remove-panel", "Maintainers: remove a drawing for good")
            maintainer.locator("#remove-reason textarea, #remove-reason input").first.fill("its author asked")
            maintainer.screenshot(path=str(args.out / "remove.png"), full_page=True)
            print(f"remove.png: {maintainer.locator('#question').inner_text().splitlines()[0]}, drawing {maintainer.locator('#remove-id textarea, #remove-id input').first.input_value()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
