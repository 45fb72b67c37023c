"""A person in a real browser: open the page, draw with the mouse, read the model's guess."""

import pytest
from playwright.sync_api import expect

from tests.browser import ERROR_BADGE, browser_page, draw_with_finger, draw_with_mouse, phone_page, ready_to_draw


ADVERSARY_VIEWS = ("#original-view", "#original-label", "#adversarial-view", "#adversarial-label")


@pytest.fixture()
def page(app_url):
    with browser_page(app_url) as page:
        # The app selects the brush on load: a person can draw without hunting for a tool.
        ready_to_draw(page)
        yield page


@pytest.mark.parametrize("digit", [3, 7])
def test_drawing_a_digit_shows_it_as_the_top_guess(page, digit):
    draw_with_mouse(page, digit)
    expect(page.locator("#guess [data-testid=label-output-value]")).to_have_text(str(digit), timeout=15_000)
    expect(page.locator("#guess")).to_contain_text("%")  # probabilities are shown


def test_clear_empties_the_canvas_and_the_guess_then_drawing_works_again(page):
    draw_with_mouse(page, 4)
    guess = page.locator("#guess [data-testid=label-output-value]")
    expect(guess).to_have_text("4", timeout=15_000)
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(guess).to_have_count(0, timeout=15_000)
    ready_to_draw(page)  # the brush is selected again
    draw_with_mouse(page, 1)
    expect(guess).to_have_text("1", timeout=15_000)


def test_the_sketchpads_own_undo_and_trash_keep_the_guess_in_step_and_the_brush_ready(page):
    guess = page.locator("#guess [data-testid=label-output-value]")
    draw_with_mouse(page, 4)
    expect(guess).to_have_text("4", timeout=15_000)
    page.locator('#drawing button[aria-label="Undo"]').click()
    expect(guess).to_have_count(0, timeout=15_000)
    page.locator('#drawing button[aria-label="Redo"]').click()
    expect(guess).to_have_text("4", timeout=15_000)
    # The trash icon left no tool selected: the next strokes drew nothing until the brush was picked by hand.
    page.locator('#drawing button[aria-label="Clear canvas"]').click()
    expect(guess).to_have_count(0, timeout=15_000)
    ready_to_draw(page)
    draw_with_mouse(page, 1)
    expect(guess).to_have_text("1", timeout=15_000)


def test_predict_on_a_blank_canvas_explains_what_to_do(page):
    page.get_by_role("button", name="Predict", exact=True).click()
    expect(page.get_by_text("Draw a digit first")).to_be_visible(timeout=15_000)


def test_machine_adversary_shows_the_drawing_and_its_fgsm_twin_and_follows_epsilon(page):
    page.get_by_role("tab", name="Machine adversary").click()
    page.locator("#attack").click()  # nothing drawn yet: the button says so
    expect(page.get_by_text("Draw a digit first")).to_be_visible(timeout=15_000)
    expect(page.locator("#attack")).to_be_enabled()  # the refusal is over (the answer has come back)
    for view in ADVERSARY_VIEWS:  # said once, in the toast, not stamped "Error" over each of the four views
        expect(page.locator(f"{view} {ERROR_BADGE}")).to_have_count(0)
    page.get_by_role("tab", name="Fool the model").click()
    draw_with_mouse(page, 7)
    expect(page.locator("#guess [data-testid=label-output-value]")).to_have_text("7", timeout=15_000)

    page.get_by_role("tab", name="Machine adversary").click()  # the twin appears without pressing Attack
    expect(page.locator("#original-label [data-testid=label-output-value]")).to_have_text("7", timeout=15_000)
    expect(page.locator("#adversarial-label [data-testid=label-output-value]")).to_have_count(1)
    expect(page.locator("#original-view img")).to_be_visible()
    twin = page.locator("#adversarial-view img")
    expect(twin).to_be_visible()
    twin_at_0_1 = twin.get_attribute("src")
    confidence = page.locator("#adversarial-label")
    confidence_at_0_1 = confidence.inner_text()
    # How little it takes, whatever ε the slider is at: "The smallest ε that fools the model: 0.17. There FGSM
    # makes it read your 7 as a 3, each pixel moved by at most 43 of 255 grey levels."
    smallest = page.locator("#smallest-eps")
    expect(smallest).to_contain_text("The smallest ε that fools the model", timeout=15_000)
    expect(smallest).to_contain_text("read your 7 as a")
    smallest_said = smallest.inner_text()

    epsilon = page.locator("#eps input[type=number]")  # ε as typed: the twin follows
    epsilon.fill("0.4")
    epsilon.press("Enter")
    expect(twin).not_to_have_attribute("src", twin_at_0_1, timeout=15_000)
    expect(confidence).not_to_have_text(confidence_at_0_1)
    epsilon.fill("0")
    epsilon.press("Enter")  # ε = 0: the twin is the drawing itself, read the same
    expect(page.locator("#adversarial-label [data-testid=label-output-value]")).to_have_text("7", timeout=15_000)
    expect(page.locator("#adversarial-label button")).to_have_text(page.locator("#original-label button").all_inner_texts())
    assert smallest.inner_text() == smallest_said  # moving ε does not change how little it takes

    # The drawing is cleared: the tab no longer shows the twin of a drawing that is gone.
    page.get_by_role("tab", name="Fool the model").click()
    page.get_by_role("button", name="Clear", exact=True).click()
    expect(page.locator("#guess [data-testid=label-output-value]")).to_have_count(0, timeout=15_000)
    page.get_by_role("tab", name="Machine adversary").click()
    expect(page.locator("#adversarial-view img")).to_have_count(0, timeout=15_000)
    expect(page.locator("#original-view img")).to_have_count(0)
    expect(page.locator("#original-label [data-testid=label-output-value]")).to_have_count(0)
    expect(page.locator("#adversarial-label [data-testid=label-output-value]")).to_have_count(0)
    expect(smallest).not_to_contain_text("smallest ε")


def test_on_a_phone_a_finger_draws_without_scrolling_the_page_and_the_drawing_can_be_flagged(app_url):
    with phone_page(app_url) as phone:
        for tab in ("Fool the model", "Validate", "Machine adversary", "Rounds"):  # in the tab bar, not behind a "…" menu
            expect(phone.get_by_role("tab", name=tab)).to_be_visible()
        canvas = phone.locator("#drawing canvas").first.bounding_box()
        assert canvas["width"] <= phone.viewport_size["width"]  # the drawing square fits the screen
        ready_to_draw(phone)
        draw_with_finger(phone, 7)
        expect(phone.locator("#guess [data-testid=label-output-value]")).to_have_text("7", timeout=15_000)
        assert phone.evaluate("window.scrollY") == 0  # the strokes drew; they did not scroll the page
        phone.locator('#digit input[value="1"]').check()
        phone.locator("#flag").click()
        expect(phone.locator("#flag-result")).to_contain_text("You fooled the model!", timeout=15_000)
        phone.get_by_role("tab", name="Rounds").tap()  # one tap away
        expect(phone.locator("#rounds-status")).to_contain_text("Fooling examples this round", timeout=15_000)
