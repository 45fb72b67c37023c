"""A maintainer keeps the Rounds tab open while people flag: the dashboard follows a retraining round
by itself (no Refresh), and the person drawing sees which model they are now playing against."""

import re

import gradio as gr
from playwright.sync_api import expect, sync_playwright

from serving.rounds_tab import ROUNDS_POLL_SECONDS, accuracy_plot, round_plot
from tests.app_process import running_app
from tests.browser import CHROMIUM, CHROMIUM_ARGS, browser, draw_and_flag
from tests.conftest import flag_as_people_would


def test_the_open_rounds_tab_follows_a_round_without_a_refresh(fresh_state, hard_examples):
    flag_as_people_would(fresh_state, hard_examples, 9)  # one fooling example short of a round
    with running_app(fresh_state, "--retrain-threshold", "10") as url, browser() as new_page:
        maintainer = new_page(url)
        maintainer.get_by_role("tab", name="Rounds").click()
        status = maintainer.locator("#rounds-status")
        expect(status).to_contain_text("Fooling examples this round: 9 of 10", timeout=15_000)
        expect(maintainer.locator("#rounds-table [role=row][data-index]")).to_have_count(1)
        expect(maintainer.locator("#rounds-plot")).to_be_hidden()  # one round: nothing to draw a line through
        expect(maintainer.locator("#mer-plot")).to_be_hidden()

        person = new_page(url)
        draw_and_flag(person, 7, 1)
        expect(person.locator("#flag-result")).to_contain_text("retraining has started", timeout=15_000)

        # Nobody presses Refresh: the open tab follows by itself until the new round is live.
        expect(status).to_contain_text("Round 1 is live", timeout=180_000)
        rows = maintainer.locator("#rounds-table [role=row][data-index]")  # the body rows of Gradio's table
        expect(rows).to_have_count(2, timeout=15_000)
        cells = [[c.strip() for c in row.locator("[role=gridcell]").all_text_contents()] for row in rows.all()]
        assert cells[0][0] == "1" and cells[1][:4] == ["0", "10", "10", "10"], cells  # the newest round on top
        # two rounds: the accuracy plot appears, with round 1's held-out accuracy (which round 0 has not)
        expect(maintainer.locator("#rounds-plot")).to_contain_text("held-out people's")
        # Its accuracy axis starts just below the lowest accuracy plotted, not at 0, where a change of a point is flat.
        shown = [[c.strip() for c in row.locator("[role=gridcell]").all_text_contents()][6:9] for row in rows.all()]
        lowest = min(float(cell.rstrip("%")) / 100 for row in shown for cell in row if cell.endswith("%"))
        labels = [line.strip() for line in maintainer.locator("#rounds-plot").inner_text().splitlines()]
        y_ticks = [float(t) for t in labels[labels.index("round") + 1 : labels.index("accuracy")]]
        assert lowest - 0.1 <= y_ticks[0] <= lowest and y_ticks[-1] == 1.0, (y_ticks, shown)
        expect(maintainer.locator("#fooled-by-round")).to_contain_text("fooled round 0 (2)")  # the 5th and 10th people's are held out
        # On a 1200-px page every column of the table is in sight: long headers wrap between words, nothing scrolls sideways.
        scrolled = maintainer.evaluate("() => [...document.querySelectorAll('#rounds-table *, #fooled-by-digit *')].filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)")
        assert scrolled == [], scrolled
        # On a phone (390 px) the plot's legend stays inside the plot: its last entry is not cut off.
        maintainer.set_viewport_size({"width": 390, "height": 844})
        maintainer.wait_for_timeout(500)
        plot_right = maintainer.evaluate("() => document.querySelector('#rounds-plot').getBoundingClientRect().right")
        legend = maintainer.evaluate("() => [...document.querySelectorAll('#rounds-plot .role-legend text')].map(t => [t.textContent, t.getBoundingClientRect().right])")
        assert len(legend) >= 4 and all(right <= plot_right for _, right in legend), (plot_right, legend)  # title + 3 series
        maintainer.set_viewport_size({"width": 1200, "height": 900})  # back to the desktop the rest is about

        # The person's next flag is collected against round 1, and their page says so.
        person.locator('#digit input[value="3"]').check()
        person.locator("#flag").click()
        expect(person.locator("#flag-result")).to_contain_text("1 of 10", timeout=15_000)
        expect(person.get_by_text("Model: round 1")).to_be_visible(timeout=15_000)
        expect(status).to_contain_text("Fooling examples this round: 1 of 10", timeout=15_000)
        # People have now drawn against two rounds' models: how often each was fooled, plotted (10 of 10, then 1 of 1).
        expect(maintainer.locator("#mer-plot")).to_contain_text("How often people fool the model", timeout=15_000)
        expect(maintainer.locator("#mer-plot")).to_contain_text("MER")
        # Which digits fool each round's model: the 3 they drew (a 7 on the canvas) fooled round 1, the live model.
        threes = maintainer.locator("#fooled-by-digit [role=row][data-index]").nth(3).locator("[role=gridcell]")
        expect(threes.last).to_have_text(re.compile(r"\d ×1"), timeout=15_000)
        cells = [c.strip() for c in threes.all_text_contents()]
        assert cells[0] == "3" and cells[2] == "100% of 1", cells  # digit, round 0, round 1, round 1 (live) read them as

        # Away from the Rounds tab the page stops asking (at its next check); back on it, it catches up at once.
        events = []
        maintainer.on("request", lambda r: events.append(r.url) if "/queue/join" in r.url else None)
        maintainer.get_by_role("tab", name="Validate").click()
        expect(maintainer.locator("#question")).to_contain_text("Is this", timeout=15_000)
        maintainer.wait_for_timeout((ROUNDS_POLL_SECONDS + 1) * 1000)
        assert len(events) <= 2, events  # the Validate tab's own request, and at most one last check
        events.clear()
        person.locator('#digit input[value="2"]').check()
        person.locator("#flag").click()
        expect(person.locator("#flag-result")).to_contain_text("2 of 10", timeout=15_000)
        maintainer.wait_for_timeout((2 * ROUNDS_POLL_SECONDS + 1) * 1000)
        assert events == [], events
        maintainer.get_by_role("tab", name="Rounds").click()
        expect(status).to_contain_text("Fooling examples this round: 2 of 10", timeout=15_000)


def test_the_accuracy_plot_reads_rounds_in_numeric_order_and_marks_a_rollback_in_a_real_browser():
    """Rounds are categories on the axis: in the browser's own order "10" would come before "2"."""
    metrics = {r: {"mnist_test_accuracy": 0.99 - r / 1000, "fgsm_0.1_accuracy": 0.7 + r / 100} for r in range(13)}
    with gr.Blocks() as page_app:
        plot = accuracy_plot()  # as the Rounds tab builds it
        page_app.load(lambda: round_plot(metrics, {12: {"round": 12, "restores": 10}}), outputs=plot)
    _, url, _ = page_app.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = chromium.new_page()
            page.goto(url)
            expect(page.locator("#rounds-plot")).to_contain_text("12 (rollback)", timeout=30_000)
            labels = page.locator("#rounds-plot .role-axis-label text").evaluate_all("labels => labels.map(l => l.textContent)")
            chromium.close()
    finally:
        page_app.close()
    assert labels[:13] == [str(r) for r in range(12)] + ["12 (rollback)"], labels
