"""What the Rounds tab shows: the table of rounds, the accuracy and error-rate plots, every model on every round's
held-out fooling examples, which digits fool each round's model and the top contributors, built once per
change for all open tabs."""

from __future__ import annotations

import copy
import functools
import math
import time

import gradio as gr
import pandas as pd
from pandas.io.formats.style import Styler

from flagging.validation import digit_counts, round_counts, top_contributors
from serving.services import Services
from training.round_matrix import round_matrix
from training.rounds import metrics_by_round, read_rounds_log, rollbacks, round_label


ROUND_HEADERS = ["round", "collected", "fooled", "verified fooled", "MER", "vMER", "MNIST test", "held-out people's", "held-out n", "robust (FGSM ε=0.1)", "trained (people's examples)"]
# Shown as percentages; the API still returns the numbers (0.9919), the display value is "99.19%".
ROUND_PERCENT_FORMATS = {"MER": "{:.1%}", "vMER": "{:.1%}", "MNIST test": "{:.2%}", "held-out people's": "{:.1%}", "held-out n": "{:d}", "robust (FGSM ε=0.1)": "{:.1%}"}
ROUND_LEGEND = (
    "One row per round, the newest first.\n"
    "- **round**: the model people played against; **collected**, **fooled**: the examples flagged against it, and those that "
    "fooled it; **verified fooled**: those that fooled it by the label validators agreed on (with validation off, the author's; junk left out).\n"
    "- **MER**: model error rate, fooled over collected; **vMER**: verified fooled over collected (Dynabench's measures).\n"
    "- **MNIST test**: accuracy on the 10,000 MNIST test images; **robust**: the same under FGSM at ε = 0.1.\n"
    "- **held-out people's**: accuracy on the examples of every 5th person to flag, whom no model trained on, as they were when "
    "the round was trained (the set grows: the table below compares every model on the same examples); **held-out n**: how many "
    "that was (on 100 examples, a few points up or down is noise).\n"
    "- **trained**: how the round's model learned: round 0 on MNIST alone; a later round fine-tuned the live model or trained a new "
    "one from scratch, on MNIST and that many people's examples; a rollback holds an earlier round's model.\n\n"
    "Below, these accuracies round by round, then how often people fooled each round's model (MER; vMER too with validation on), "
    "which falls as the models learn what fools them. Each plot appears with its second round (a line needs two points); "
    "'(rollback)' marks a round that went back to an earlier round's model."
)
# Named as the table's columns (and short enough for the legend to fit a phone's width).
PLOTTED = {"MNIST test": "mnist_test_accuracy", "held-out people's": "held_out_accuracy", "robust (FGSM ε=0.1)": "fgsm_0.1_accuracy"}


def round_metrics(services: Services, log_entries: list[dict] | None = None) -> dict[int, dict]:
    metrics = metrics_by_round(services.state_dir, log_entries) if services.state_dir is not None else {}
    metrics.setdefault(services.live.metadata.get("round", 0), services.live.metadata.get("metrics", {}))
    return metrics


def round_table(services: Services, metrics: dict[int, dict]) -> pd.DataFrame:
    """One row per model round: what people collected against it, and the model's own `metrics`."""
    counts = {}
    if services.store is not None:
        services.store.refresh()
        counts = round_counts(list(services.store.records.values()), list(services.store.votes), services.votes_required)
    rows = []
    for r in sorted(set(counts) | set(metrics)):
        c = counts.get(r, {"collected": 0, "fooled": 0, "verified_fooled": 0, "model_error_rate": None, "verified_model_error_rate": None})
        m = metrics.get(r, {})
        rows.append([r, c["collected"], c["fooled"], c["verified_fooled"], c["model_error_rate"], c["verified_model_error_rate"], m.get("mnist_test_accuracy"), m.get("held_out_accuracy"), m.get("held_out_examples"), m.get("fgsm_0.1_accuracy"), m.get("trained")])
    table = pd.DataFrame(rows, columns=ROUND_HEADERS)
    # a count, not a float: pandas would make [None, 79] floats (79.0 in the API)
    table["held-out n"] = pd.Series([row[ROUND_HEADERS.index("held-out n")] for row in rows], dtype=object)
    return table


# Rounds are categories (so the axis shows whole rounds), in the rows' order, which is the rounds'
# ("2" before "10"): Vega-Lite puts the values of a sort array first and every other value after them "in
# their original order", so a one-value array keeps the rows' order without a list of every round (1,000
# rounds listed made an expression deep enough to stop Chromium's renderer at 2,000). Fixed, not sent with
# each update: Gradio 6.31 applies an updated `sort` one update late. A rollback's round is marked on the
# axis ("4 (rollback)"): the accuracy it falls or climbs back to is an earlier model's, not a new one's.
ROUND_ORDER = ["0"]


def plot_floor(values: list[float]) -> float:
    """The bottom of the accuracy axis: a step of 0.05 below the lowest value, so that changes of a
    point or two between rounds show (on an axis from 0 they are flat lines)."""
    return max(0.0, math.floor((min(values, default=0.0) - 0.02) * 20) / 20)


def plot_round_label(round_: int, restored: dict[int, dict]) -> str:
    return f"{round_} (rollback)" if round_ in restored else str(round_)


def accuracy_plot() -> gr.LinePlot:
    """The Rounds tab's plot, empty and hidden until `round_plot` fills it."""
    return gr.LinePlot(x="round", y="accuracy", color="metric", title="Accuracy by round", y_lim=[0, 1], sort=ROUND_ORDER, visible=False, elem_id="rounds-plot")


def round_plot(metrics: dict[int, dict], restored: dict[int, dict] | None = None) -> gr.LinePlot:
    """Accuracy per round, one line per metric; shown from the second round on (a line needs two points).
    `restored`: the rollbacks by round (`rollbacks`), marked on the axis."""
    label = functools.partial(plot_round_label, restored=restored or {})
    rows = [{"round": label(r), "metric": name, "accuracy": m[key]} for r, m in sorted(metrics.items()) for name, key in PLOTTED.items() if m.get(key) is not None]
    floor = plot_floor([row["accuracy"] for row in rows])
    return gr.LinePlot(value=pd.DataFrame(rows, columns=["round", "metric", "accuracy"]), y_lim=[floor, 1.0], visible=len(metrics) >= 2)


def error_rate_plot() -> gr.LinePlot:
    """How often people fool each round's model, empty and hidden until `round_error_plot` fills it."""
    return gr.LinePlot(x="round", y="error rate", color="measure", title="How often people fool the model (lower: harder to fool)", y_lim=[0, 1], sort=ROUND_ORDER, visible=False, elem_id="mer-plot")


def round_error_plot(table: pd.DataFrame, validation: bool, restored: dict[int, dict] | None = None) -> gr.LinePlot:
    """MER per round (vMER too with validation on: off, it is MER less the junk), from the table of rounds:
    Dynabench's measure of a round's model. People keep trying, so a falling line is a model that has
    learned what fooled the one before. Shown from the second round people drew against."""
    label = functools.partial(plot_round_label, restored=restored or {})
    measures = ["MER", "vMER"] if validation else ["MER"]
    rows = [{"round": label(int(r)), "measure": m, "error rate": rate} for m in measures for r, rate in zip(table["round"], table[m]) if pd.notna(rate)]
    ceiling = min(1.0, math.ceil((max((row["error rate"] for row in rows), default=0.0) + 0.02) * 20) / 20)
    shown_rounds = {row["round"] for row in rows}
    return gr.LinePlot(value=pd.DataFrame(rows, columns=["round", "measure", "error rate"]), y_lim=[0.0, ceiling], visible=len(shown_rounds) >= 2)


def rounds_status(services: Services) -> str:
    if services.rounds is None:
        text = f"Retraining is off: {services.store_problem or 'flagging is unavailable'}."
    else:
        services.rounds.catch_up()  # a round trained meanwhile with `python -m training.rounds` goes live
        text = services.rounds.status()
    hub = [part.status() for part in (services.flag_sync, services.publisher) if part is not None]
    return "\n\n".join([text, *hub])


CONTRIBUTOR_HEADERS = ["contributor", "fooled the model", "verified"]
CONTRIBUTORS_LABEL = "Top contributors (signed in)"
# Said in the label: an empty table with headers alone reads as a page that failed to load.
CONTRIBUTORS_NONE_LABEL = "Top contributors (signed in): nobody signed in has fooled the model yet"


def contributors_table(services: Services) -> list[list]:
    """Signed-in people who fooled the model most (the store was refreshed by `round_table`)."""
    if services.store is None:
        return []
    ranked = top_contributors(list(services.store.records.values()), list(services.store.votes), services.votes_required)
    return [[c["username"], c["fooled"], c["verified_fooled"]] for c in ranked]


# The two tables under the plots show the newest rounds only: on a long-running Space 40 rounds made 40
# columns, and the newest, the ones a maintainer looks for, were off the page to the right.
ROUNDS_SHOWN = 10


MATRIX_LEGEND = (
    "**Every model on the examples that fooled each round's model.** Rows: the models that went live; columns: "
    "the held-out examples (verified, never trained on) that fooled round *c*'s model. A model reads none of its "
    "own round's right; down each column, later models should read more of them. Empty until a held-out example "
    f"(every 5th person's) has fooled a model. The newest {ROUNDS_SHOWN} rounds' models and examples; `python -m "
    "training.round_matrix` prints every round's."
)


def fooled_by_round_table(services: Services) -> tuple[pd.DataFrame, str]:
    """Accuracy of the newest live-worthy models (rows) on the newest rounds' held-out fooling examples
    (columns), and a sentence for each model whose checkpoint cannot be read (its row is left empty)."""
    if services.store is None or services.state_dir is None:
        return pd.DataFrame(columns=["model round"]), ""
    live_round = int(services.live.metadata.get("round", 0))
    matrix = round_matrix(services.state_dir, services.store, services.votes_required, models={live_round: services.live.model}, predictions=services.matrix_predictions, newest=ROUNDS_SHOWN)
    columns = {c: f"fooled round {c} ({n})" for c, n in matrix["examples"].items()}
    empty = dict.fromkeys(columns)
    by_model = {r: matrix["accuracy"].get(r, empty) for r in sorted({*matrix["accuracy"], *matrix["unreadable"]})}
    rows = [[r, *(by_column[c] for c in columns)] for r, by_column in by_model.items()]
    notes = " ".join(f"Round {r}'s row below is empty: {why}." for r, why in sorted(matrix["unreadable"].items()))
    return pd.DataFrame(rows, columns=["model round", *columns.values()]), notes


DIGITS_LEGEND = (
    "**Which digits fool each round's model.** Rows: the digit drawn (the digit validators agreed on once they "
    "voted, the author's until then; junk left out); columns: the share of the drawings of that digit collected "
    "against round *c*'s model that it read as another digit, of how many (a few drawings are noise); last, what "
    "the live model has read them as so far. A digit people fool the model with often is one the next rounds "
    f"should learn: down the rounds, its share should fall. Empty until someone flags a drawing. The newest {ROUNDS_SHOWN} rounds."
)
MISREAD_SHOWN = 3  # the live model's most frequent misreadings of a digit, most frequent first


def digits_table(services: Services) -> Styler:
    """Rows: the digits 0-9; a column per round with the share of that digit's drawings its model read as
    another digit; last, what the live model misread each digit as ("7 ×12, 1 ×3"). Shown with the drawings
    behind each share ("12% of 75"; the API keeps the share, 0.12). The store was refreshed by `round_table`."""
    counts = digit_counts(list(services.store.records.values()), list(services.store.votes), services.votes_required) if services.store is not None else {}
    live_round = int(services.live.metadata.get("round", 0))
    live = counts.get(live_round, {})
    misread = f"round {live_round} (live) read them as"
    columns = {r: f"round {r}" for r in sorted(counts)[-ROUNDS_SHOWN:]}
    drawn = {(digit, column): c["drawn"] for r, column in columns.items() for digit, c in counts[r].items()}
    rows = []
    for digit in range(10) if counts else ():  # no drawings yet: no rows of dashes
        shares = [counts[r][digit]["fooled"] / counts[r][digit]["drawn"] if digit in counts[r] else None for r in columns]
        read_as = live[digit]["read_as"].most_common(MISREAD_SHOWN) if digit in live else []
        rows.append([digit, *shares, ", ".join(f"{d} ×{n}" for d, n in read_as) or None])
    style = pd.DataFrame(rows, columns=["digit", *columns.values(), misread]).style.format(na_rep="—")
    # One format per cell, built once per change and copied for each page (`rounds_components`): the 100
    # calls of 10 rounds take about 0.06 s. Label slices: pandas looks lists up about twice as slowly.
    for (digit, column), n in drawn.items():
        style = style.format(f"{{:.0%}} of {n}", subset=pd.IndexSlice[digit:digit, column:column])
    return style


def rounds_data(services: Services) -> tuple:
    """What the Rounds tab shows: (status, round table, metrics by round, fooled-by-round
    table, top contributors, the rollbacks by round, the digits table (styled: the one display built per
    change), whether validation is on). The costly part: it reads every record and evaluates the models."""
    log_entries = read_rounds_log(services.state_dir) if services.state_dir is not None else []  # once, for the table, the plot and the rollbacks
    metrics = round_metrics(services, log_entries)
    status, table = rounds_status(services), round_table(services, metrics)
    matrix, unreadable = fooled_by_round_table(services)
    restored = rollbacks(log_entries)
    validation = services.votes_required > 0
    return (f"{status}\n\n{unreadable}" if unreadable else status), table, metrics, matrix, contributors_table(services), restored, digits_table(services), validation


# An open Rounds tab checks this often whether anything it shows has changed (a cheap check; the
# view itself, which evaluates every model on the held-out examples, is only rebuilt on a change,
# once for all open tabs).
ROUNDS_POLL_SECONDS = 5
# The open tabs' checks rebuild the view at most this often, however fast flags come in: with the
# tabs' checks spread over the poll period, each could otherwise find a new flag and rebuild (a
# rebuild of a 50,000-flag store takes about 0.25 s of a core). A check that finds the view younger
# reuses it, and the change shows at that tab's next check.
ROUNDS_REBUILD_SECONDS = 2


def dashboard_signature(services: Services) -> str:
    """Changes whenever the Rounds tab would: a flag, vote or removal arrives, a round starts, ends or publishes."""
    if services.store is None:
        return rounds_status(services)
    store = services.store
    store.refresh()  # incremental: picks up other app processes' flags, votes and removals
    return f"{rounds_status(services)}\n{len(store.records)} records, {len(store.votes)} votes, {len(store.removals)} removals"


def shared_rounds_data(services: Services, rebuild: bool = False, reuse_for_s: float = 0.0) -> tuple[str, tuple]:
    """(dashboard signature, rounds_data) as last built, rebuilt when the signature has changed since
    (unless that build is under `reuse_for_s` old) or on `rebuild`: every open Rounds tab polls, and
    they all share one build per change."""
    with services.rounds_lock:  # tabs that ask during a rebuild wait for it instead of starting their own
        now = time.monotonic()
        seen = dashboard_signature(services)  # before the data: a change while it is built shows at the next check
        shown = services.rounds_shown
        if rebuild or shown is None or (shown[0] != seen and now - shown[2] >= reuse_for_s):
            services.rounds_shown = shown = (seen, rounds_data(services), now)
        return shown[0], shown[1]


def rounds_components(data: tuple) -> tuple:
    """The Gradio values of `rounds_data`, made anew for each page: Gradio's Dataframe computes a
    pandas Styler in place, so one Styler must not be shared between requests."""
    status, table, metrics, matrix, contributors, restored, digits, validation = data
    label = functools.partial(round_label, restored=restored)  # "3 (round 1 again)": the API keeps the number
    percent = {name: "{:.1%}" for name in matrix.columns[1:]}
    # Newest round first: after many rounds the table scrolls, and the live round is the row a maintainer looks for.
    newest_first = table.iloc[::-1].reset_index(drop=True)
    table_style = newest_first.style.format(ROUND_PERCENT_FORMATS | {"round": label}, na_rep="—")
    digits_style = copy.deepcopy(digits)  # its formats as built, its computed styles its own
    matrix_style = matrix.style.format(percent | {"model round": label}, na_rep="—")
    ranked = gr.update(value=contributors, label=CONTRIBUTORS_LABEL if contributors else CONTRIBUTORS_NONE_LABEL)
    return status, table_style, round_plot(metrics, restored), matrix_style, ranked, digits_style, round_error_plot(table, validation, restored)


def rounds_view(services: Services, rebuild: bool = False) -> tuple:
    """(status, table, accuracy plot, the fooled-by-round table, top contributors, the digits table, error-rate
    plot) of the Rounds tab."""
    return rounds_components(shared_rounds_data(services, rebuild)[1])
