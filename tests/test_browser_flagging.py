"""Two people in real browsers: one fools the model and flags, another validates; the record and
the vote are in the store and load with `datasets`."""

from playwright.sync_api import expect

from flagging.dataset import load_flags
from flagging.store import FlagStore
from tests.app_process import running_app
from tests.browser import ERROR_BADGE, browser, draw_and_flag


def test_draw_flag_then_someone_else_validates(fresh_state):
    with running_app(fresh_state) as url, browser() as new_page:
        author = new_page(url)
        expect(author.locator("#sign-in")).to_have_count(0)  # no sign-in button off a Space (local defaults)
        picked = author.locator("#digit input:checked")
        # A refused flag (nothing drawn yet) stores nothing and keeps the digit picked.
        author.locator('#digit input[value="1"]').check()
        author.locator("#flag").click()
        expect(author.get_by_text("Draw a digit first")).to_be_visible(timeout=15_000)
        expect(picked).to_have_value("1")

        draw_and_flag(author, 7, 1)  # "I drew a 1" (the model says 7)
        expect(author.locator("#flag-result")).to_contain_text("You fooled the model!", timeout=15_000)
        expect(author.locator("#flag-result")).to_contain_text("1 of 10")
        # The stored flag used up the pick: the next drawing is not flagged with it by mistake.
        expect(picked).to_have_count(0)
        author.locator("#flag").click()
        expect(author.get_by_text("Choose the digit you drew")).to_be_visible(timeout=15_000)
        author.screenshot(path=str(fresh_state / "flagged.png"))

        # The author is never asked to validate their own drawing.
        author.get_by_role("tab", name="Validate").click()
        expect(author.locator("#question")).to_contain_text("Nothing to validate", timeout=15_000)
        votes = [author.get_by_role("button", name=name, exact=True) for name in ("Correct", "Incorrect", "Junk")]
        for button in votes:  # nothing to vote on, nothing to press
            expect(button).to_be_disabled()

        validator = new_page(url)
        validator.get_by_role("tab", name="Validate").click()
        expect(validator.locator("#question")).to_contain_text("Is this a 1?", timeout=15_000)
        expect(validator.locator("#example img")).to_be_visible()
        for name in ("Correct", "Incorrect", "Junk"):
            expect(validator.get_by_role("button", name=name, exact=True)).to_be_enabled()
        expect(validator.locator("#example").get_by_role("button", name="Fullscreen")).to_be_visible()
        for offer in ("Download", "Share"):  # someone else's drawing is not passed on from here
            expect(validator.locator("#example").get_by_role("button", name=offer)).to_have_count(0)
        validator.screenshot(path=str(fresh_state / "validate.png"))

        # A refused vote (Incorrect with no digit picked) says why in a toast and changes nothing:
        # the question and the drawing stay, not covered by Gradio's "Error", and the vote can be made.
        validator.get_by_role("button", name="Incorrect", exact=True).click()
        expect(validator.get_by_text("Pick the digit it really is")).to_be_visible(timeout=15_000)
        for part in ("#example", "#question", "#corrected", "#junk-reason"):
            expect(validator.locator(f"{part} {ERROR_BADGE}")).to_have_count(0)
        expect(validator.locator("#question")).to_contain_text("Is this a 1?")
        expect(validator.locator("#example img")).to_be_visible()
        validator.get_by_role("button", name="Correct", exact=True).click()
        expect(validator.locator("#vote-status")).to_contain_text("Thanks, vote saved", timeout=15_000)
        expect(validator.locator("#question")).to_contain_text("Nothing to validate")  # that was the only one
        expect(validator.get_by_role("button", name="Correct", exact=True)).to_be_disabled()

        # The dashboard counts the round: 1 collected, 1 fooled, 1 verified fooled.
        validator.get_by_role("tab", name="Rounds").click()
        first_row = validator.locator("table tbody tr").first
        expect(first_row).to_contain_text("0", timeout=15_000)
        cells = [c.strip() for c in first_row.locator("td").all_text_contents()]
        assert cells[:6] == ["0", "1", "1", "1", "100.0%", "100.0%"], cells  # MER and vMER, as percentages
        assert cells[6].endswith("%") and float(cells[6].rstrip("%")) > 99  # round-0's MNIST test accuracy
        assert cells[7] == "—"  # no held-out people's examples measured yet
        expect(validator.locator("#rounds-status")).to_contain_text("Round 0 is live. Fooling examples this round: 1 of 10")
        expect(validator.locator("#rounds-plot")).to_be_hidden()  # one round: no line to draw yet
        expect(validator.locator("#contributors")).to_be_hidden()  # no names to rank without sign-in

    ds = load_flags(fresh_state / "flags")
    assert len(ds) == 1 and ds[0]["label"] == 1 and ds[0]["prediction"] == 7 and ds[0]["fooled"]
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    assert [(v.flag_id, v.verdict) for v in store.votes] == [(ds[0]["id"], "correct")]
    store.close()
