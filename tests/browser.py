"""A real browser for tests: Playwright driving Debian's Chromium (never a downloaded one)."""

import contextlib

from playwright.sync_api import expect, sync_playwright

from tests.digit_strokes import stroke_points

CHROMIUM = "/usr/bin/chromium"
# Gradio's mark of a failed event on an output component ("Error" over the component).
ERROR_BADGE = "[data-testid=status-tracker] .error"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def draw_with_mouse(page, digit, height=180):
    """Draw a digit with real mouse strokes in the middle of the drawing square."""
    box = page.locator("#drawing canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for stroke in stroke_points(digit, cx - 0.3 * height, cy - 0.5 * height, height):
        page.mouse.move(*stroke[0])
        page.mouse.down()
        for point in stroke[1:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()


def ready_to_draw(page) -> None:
    """Wait until the page has selected the brush, as a person would before drawing."""
    expect(page.locator('#drawing button[aria-label="Brush"].highlight')).to_be_visible(timeout=15_000)


def draw_and_flag(page, digit, label):
    """A person draws `digit` with the mouse once the brush is ready, sees the model read it, says it is `label` and flags."""
    ready_to_draw(page)
    draw_with_mouse(page, digit)
    expect(page.locator("#guess [data-testid=label-output-value]")).to_have_text(str(digit), timeout=15_000)
    page.locator(f'#digit input[value="{label}"]').check()
    page.locator("#flag").click()


def draw_with_finger(page, digit, height=180):
    """Draw a digit with real touch events (as a finger on a phone) in the middle of the drawing square."""
    cdp = page.context.new_cdp_session(page)
    box = page.locator("#drawing canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for stroke in stroke_points(digit, cx - 0.3 * height, cy - 0.5 * height, height):
        cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": stroke[0][0], "y": stroke[0][1]}]})
        for x, y in stroke[1:]:
            cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()


def top_guess(page) -> str:
    """The big label of the model's guess, '' while there is none."""
    heading = page.locator("#guess [data-testid=label-output-value]")
    return heading.inner_text().strip() if heading.count() else ""


def open_app(page, url) -> None:
    """Open the app and wait until it has rendered its drawing square: a web assertion, not "networkidle",
    which Gradio's open connections can keep from ever arriving (a page load once timed out on it)."""
    page.goto(url)
    expect(page.locator("#drawing canvas").first).to_be_visible(timeout=60_000)


def sign_in(page, username: str = "mia") -> None:
    """Sign in with Hugging Face as on a Space: to the provider (tests/oauth_provider.py) and back."""
    page.locator("#sign-in").click()
    expect(page.locator("#sign-in")).to_contain_text(f"Logout ({username})", timeout=15_000)


def open_maintainer_panel(page, tab: str, panel_id: str, title: str):
    """Go to `tab` and open its maintainer accordion `panel_id` (shown to maintainers only); returns it."""
    page.get_by_role("tab", name=tab).click()
    panel = page.locator(f"#{panel_id}")
    expect(panel).to_be_visible(timeout=30_000)
    panel.get_by_text(title).click()
    return panel


@contextlib.contextmanager
def browser(width=1200, height=900):
    """A browser whose `new_page(url)` opens a page in a fresh context: a separate person."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:

            def new_page(url):
                page = b.new_context(viewport={"width": width, "height": height}).new_page()
                open_app(page, url)
                return page

            yield new_page
        finally:
            b.close()


@contextlib.contextmanager
def phone_page(url, device="Pixel 7"):
    """A page on an emulated phone: its screen size, touch input and mobile user agent."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = b.new_context(**p.devices[device]).new_page()
            open_app(page, url)
            yield page
        finally:
            b.close()


@contextlib.contextmanager
def browser_page(url, width=1200, height=900):
    with browser(width, height) as new_page:
        yield new_page(url)
