"""The DADC web app: draw a digit, see what the model thinks, try to fool it.

    python app.py                      # http://127.0.0.1:7860, local defaults
    python app.py --host 0.0.0.0 --port 7861 --state-dir /data/dadc

Logic lives in the packages; this file builds the UI in `build_demo` and wires events.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue rebuilds a pandas summary of the last 10,000 events after *every* event
# (for its monitoring page, unused here): ~40% of the server's CPU under load. Recompute rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import gradio as gr  # noqa: E402
from huggingface_hub import HfApi  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from data.state_dir import resolve_state_dir  # noqa: E402
from flagging.callback import DIGITS, DatasetFlagger, FlagInputError  # noqa: E402
from flagging.hub_restore import restore_flags  # noqa: E402
from flagging.hub_sync import HubSync, check_repo_id  # noqa: E402
from flagging.rate_limit import FlagRateLimit  # noqa: E402
from flagging.store import FlagStore, StoreError  # noqa: E402
from flagging.validation import has_voted, next_to_validate, person_key, round_counts, top_contributors  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from model.predict import LiveModel, top_classes  # noqa: E402
from model.preprocess import MAX_SIDE, DrawingError, preprocess_drawing  # noqa: E402
from training.attacks import adversarial_twin  # noqa: E402
from training.publish import ModelPublisher, restore_rounds  # noqa: E402
from training.round_matrix import round_matrix  # noqa: E402
from training.rounds import RETRAIN_METHODS, RETRAIN_STARTS, RoundConfig, RoundRunner, latest_model_dir, metrics_by_round, robust_drop_problem  # noqa: E402

log = logging.getLogger("dadc.app")

CANVAS_SIZE = (400, 400)
# Brush radius in canvas pixels: a digit drawn ~250 px tall gets strokes ~3/20 of its height, like MNIST.
BRUSH_RADIUS = 14

# Gradio starts the Sketchpad with no tool selected; click "Brush" so a person can draw at once.
SELECT_BRUSH_JS = """
() => {
  const pick = (tries) => {
    const brush = document.querySelector('#drawing button[aria-label="Brush"]');
    if (brush) { brush.click(); return; }
    if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  pick(50);
}
"""

CSS = """
#drawing { max-width: 440px; }
"""


MAX_UPLOAD = "2mb"  # a 400×400 canvas PNG is ~10 kB; anything near this limit is not a drawing


@dataclass
class Services:
    """Everything the UI calls into; built once in `main` (or by a test)."""

    live: LiveModel
    store: FlagStore | None  # None when the state directory cannot be written
    flagger: DatasetFlagger | None
    votes_required: int = 0  # k: agreeing votes that verify an example; 0 turns validation off
    maintainers: frozenset[str] = field(default_factory=frozenset)
    store_problem: str = ""
    state_dir: Path | None = None  # where the rounds log and checkpoints live
    rounds: RoundRunner | None = None  # None: no retraining (flagging unavailable)
    publisher: ModelPublisher | None = None  # None: models are not published to the Hub
    sign_in: bool = False  # show "Sign in with Hugging Face" (OAuth on a Space): usernames then come from it
    flag_limit: FlagRateLimit | None = None  # None: no limit on flags per person per minute
    # What only signed-in people may do ("flag", "vote"): an anonymous session is free to make, so on a
    # public Space a script could otherwise be any number of people (votes, the held-out split, limits).
    needs_sign_in: frozenset[str] = frozenset()
    # What the Rounds tab's matrix has computed so far, {model round: {example id: class}}: each rebuild
    # then classifies only new examples (see training.round_matrix).
    matrix_predictions: dict = field(default_factory=dict)
    # The Rounds tab's data as last built, (dashboard signature, rounds_data, when), shared by every open
    # tab: a change costs one rebuild however many people watch (see shared_rounds_data).
    rounds_shown: tuple | None = None
    rounds_lock: threading.Lock = field(default_factory=threading.Lock)


# --- handlers: translate between the UI and the packages; user errors become gr.Error ---


def user_error(message: str) -> gr.Error:
    return gr.Error(message, print_exception=False)


def sign_in_problem(services: Services, action: str, username: str) -> str | None:
    """Why this person may not `action` ("flag", "vote") yet, or None."""
    if action in services.needs_sign_in and not username:
        return f"Sign in with Hugging Face (top right) to {action} here: this app counts {action}s only from signed-in people."
    return None


def username_of(request: gr.Request, profile: gr.OAuthProfile | None) -> str:
    """Who is asking: the Hugging Face account signed in with OAuth, else Gradio's own login, else ""."""
    if profile is not None:
        return profile.username
    return request.username or ""


def label_for_drawing(services: Services, drawing) -> dict[str, float]:
    """Top-3 classes for the Predict button and the API: a blank canvas is an error the person sees."""
    try:
        return services.live.predict(drawing).top(3)
    except DrawingError as e:
        raise user_error(str(e)) from None


def label_while_drawing(services: Services, drawing) -> dict | None:
    """Live updates as strokes finish: an empty canvas (e.g. after Clear) just clears the label."""
    try:
        return services.live.predict(drawing).top(3)
    except DrawingError:
        return None


def flag_drawing(services: Services, drawing, label, request: gr.Request, username: str = "") -> str:
    """Store the drawing with the digit its author meant; the server predicts again itself."""
    if services.flagger is None:
        raise user_error(f"Flagging is unavailable: {services.store_problem}. Predictions still work.")
    if problem := sign_in_problem(services, "flag", username):
        raise user_error(problem)
    session_hash = request.session_hash or ""
    if services.flag_limit is not None and (wait := services.flag_limit.admit(person_key(username, session_hash))):
        raise user_error(f"Slow down: this app takes at most {services.flag_limit.per_minute} flags a minute from one person. Flag again in {wait} s; this one was not saved.")
    try:
        outcome = services.flagger.flag_drawing(drawing, label, session_hash=session_hash, username=username)
    except (DrawingError, FlagInputError, StoreError) as e:
        raise user_error(str(e)) from None
    if services.rounds is not None and outcome.record.fooled and not outcome.duplicate and services.rounds.maybe_start():
        return outcome.message + " **That was enough: retraining has started.** The new model goes live if it passes its checks."
    return outcome.message


def attack_drawing(services: Services, drawing, eps: float):
    """The drawing as the model sees it, its FGSM twin at ε, and the model's top-3 on both."""
    try:
        model_input = preprocess_drawing(drawing)
    except DrawingError as e:
        raise user_error(str(e)) from None
    adversarial, clean_probs, adv_probs = adversarial_twin(services.live.model, model_input, float(eps))

    def enlarge(a):
        return Image.fromarray((a * 255).round().astype("uint8")).resize((196, 196), Image.Resampling.NEAREST)

    return enlarge(model_input), top_classes(clean_probs), enlarge(adversarial), top_classes(adv_probs)


def attack_quietly(services: Services, drawing, eps: float):
    """The attack when the person opens the tab or moves ε: with nothing drawn yet, leave the views as they are."""
    try:
        return attack_drawing(services, drawing, eps)
    except gr.Error:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()


def clear_drawing():
    return None, None, ""


def model_description(services: Services) -> str:
    metadata = services.live.metadata
    acc = metadata.get("metrics", {}).get("mnist_test_accuracy")
    acc_text = f", MNIST test accuracy {acc:.2%}" if acc is not None else ""
    return f"Model: round {metadata.get('round', '?')}{acc_text}."


ROUND_HEADERS = ["round", "collected", "fooled", "verified fooled", "MER", "vMER", "MNIST test", "held-out people's", "held-out n", "robust (FGSM ε=0.1)"]
# Shown as percentages; the API still returns the numbers (0.9919), the display value is "99.19%".
ROUND_PERCENT_FORMATS = {"MER": "{:.1%}", "vMER": "{:.1%}", "MNIST test": "{:.2%}", "held-out people's": "{:.1%}", "held-out n": "{:d}", "robust (FGSM ε=0.1)": "{:.1%}"}
ROUND_LEGEND = (
    "MER: model error rate, the share of examples collected against the round's model that fooled it; "
    "vMER: the same, counting only verified examples (Dynabench's measures). MNIST test: accuracy on the "
    "10,000 MNIST test images; held-out people's: accuracy on the examples of every 5th person to flag, whom no model trained on "
    "(measured when the round was trained, on the held-out examples there were then; the set grows, and the table below "
    "compares every model on the same examples); held-out n: how many examples that was (on 100 examples, a few "
    "points up or down is noise); "
    "robust: MNIST test accuracy under FGSM at ε = 0.1. The plot of these accuracies appears once a second round is live."
)
PLOTTED = {"MNIST test accuracy": "mnist_test_accuracy", "held-out people's examples": "held_out_accuracy", "robust (FGSM ε=0.1)": "fgsm_0.1_accuracy"}


def round_metrics(services: Services) -> dict[int, dict]:
    metrics = metrics_by_round(services.state_dir) if services.state_dir is not None else {}
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
        rows.append([r, c["collected"], c["fooled"], c["verified_fooled"], c["model_error_rate"], c["verified_model_error_rate"], m.get("mnist_test_accuracy"), m.get("held_out_accuracy"), m.get("held_out_examples"), m.get("fgsm_0.1_accuracy")])
    table = pd.DataFrame(rows, columns=ROUND_HEADERS)
    # a count, not a float: pandas would make [None, 79] floats (79.0 in the API)
    table["held-out n"] = pd.Series([row[8] for row in rows], dtype=object)
    return table


# Rounds are categories (so the axis shows whole rounds), put in numeric order ("2" before "10") by
# this fixed list. Fixed, not sent with each update: Gradio 6.31 applies an updated `sort` one update
# late, so a new round would be left off the axis until the next refresh.
ROUND_ORDER = [str(r) for r in range(1000)]


def plot_floor(values: list[float]) -> float:
    """The bottom of the accuracy axis: a step of 0.05 below the lowest value, so that changes of a
    point or two between rounds show (on an axis from 0 they are flat lines)."""
    return max(0.0, math.floor((min(values, default=0.0) - 0.02) * 20) / 20)


def round_plot(metrics: dict[int, dict]) -> gr.LinePlot:
    """Accuracy per round, one line per metric; shown from the second round on (a line needs two points)."""
    rows = [{"round": str(r), "metric": name, "accuracy": m[key]} for r, m in sorted(metrics.items()) for name, key in PLOTTED.items() if m.get(key) is not None]
    floor = plot_floor([row["accuracy"] for row in rows])
    return gr.LinePlot(value=pd.DataFrame(rows, columns=["round", "metric", "accuracy"]), y_lim=[floor, 1.0], visible=len(metrics) >= 2)


def rounds_status(services: Services) -> str:
    if services.rounds is None:
        text = f"Retraining is off: {services.store_problem or 'flagging is unavailable'}."
    else:
        services.rounds.catch_up()  # a round trained meanwhile with `python -m training.rounds` goes live
        text = services.rounds.status()
    return text if services.publisher is None else f"{text}\n\n{services.publisher.status()}"


CONTRIBUTOR_HEADERS = ["contributor", "fooled the model", "verified"]


def contributors_table(services: Services) -> list[list]:
    """Signed-in people who fooled the model most (the store was refreshed by `round_table`)."""
    if services.store is None:
        return []
    ranked = top_contributors(list(services.store.records.values()), list(services.store.votes), services.votes_required)
    return [[c["username"], c["fooled"], c["verified_fooled"]] for c in ranked]


MATRIX_LEGEND = (
    "**Every model on the examples that fooled each round's model.** Rows: the models that went live; columns: "
    "the held-out examples (verified, never trained on) that fooled round *c*'s model. A model reads none of its "
    "own round's right; down each column, later models should read more of them. Empty until a held-out example "
    "(every 5th person's) has fooled a model."
)


def fooled_by_round_table(services: Services) -> pd.DataFrame:
    """Accuracy of every live-worthy model (rows) on each round's held-out fooling examples (columns)."""
    if services.store is None or services.state_dir is None:
        return pd.DataFrame(columns=["model round"])
    live_round = int(services.live.metadata.get("round", 0))
    matrix = round_matrix(services.state_dir, services.store, services.votes_required, models={live_round: services.live.model}, predictions=services.matrix_predictions)
    columns = {c: f"fooled round {c} ({n})" for c, n in matrix["examples"].items()}
    rows = [[r, *(by_column[c] for c in columns)] for r, by_column in matrix["accuracy"].items()]
    return pd.DataFrame(rows, columns=["model round", *columns.values()])


def rounds_data(services: Services) -> tuple:
    """What the Rounds tab shows, as plain data: (status, round table, metrics by round, fooled-by-round
    table, top contributors). The costly part: it reads every record and evaluates the models."""
    metrics = round_metrics(services)  # one read of the rounds log for the table and the plot
    return rounds_status(services), round_table(services, metrics), metrics, fooled_by_round_table(services), contributors_table(services)


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
    """Changes whenever the Rounds tab would: a flag or vote arrives, a round starts, ends or publishes."""
    if services.store is None:
        return rounds_status(services)
    services.store.refresh()  # incremental: picks up other app processes' flags and votes
    return f"{rounds_status(services)}\n{len(services.store.records)} records, {len(services.store.votes)} votes"


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
    status, table, metrics, matrix, contributors = data
    percent = {name: "{:.1%}" for name in matrix.columns[1:]}
    return status, table.style.format(ROUND_PERCENT_FORMATS, na_rep="—"), round_plot(metrics), matrix.style.format(percent), contributors


def rounds_view(services: Services, rebuild: bool = False) -> tuple:
    """(status, table, plot, the fooled-by-round table, top contributors) of the Rounds tab."""
    return rounds_components(shared_rounds_data(services, rebuild)[1])


def next_example(services: Services, request: gr.Request, username: str = ""):
    """(image, question, flag id, status) of the next example this person can validate."""
    store = services.store
    if store is None:
        return None, "", "", f"Validation is unavailable: {services.store_problem}."
    if problem := sign_in_problem(services, "vote", username):
        return None, "### Sign in to validate", "", problem
    store.refresh()
    record = next_to_validate(
        list(store.records.values()), list(store.votes), max(services.votes_required, 1), request.session_hash or "", username, random.Random()
    )
    if record is None:
        return None, "### Nothing to validate right now", "", "Come back when other people have fooled the model."
    image = Image.open(store.data_dir / record.shard / record.drawing_file_name)
    return image, f"### Is this a {record.label}?", record.id, ""


def vote(services: Services, verdict: str, flag_id: str, corrected, reason: str, request: gr.Request, username: str = ""):
    store = services.store
    if store is None or not flag_id or flag_id not in store.records:
        raise user_error("There is no example to vote on: press Next example.")
    if problem := sign_in_problem(services, "vote", username):
        raise user_error(problem)
    record = store.records[flag_id]
    if record.session_hash == (request.session_hash or "") or (username and record.username == username):
        raise user_error("You cannot validate your own example.")
    if has_voted([v for v in store.votes if v.flag_id == flag_id], request.session_hash or "", username):
        raise user_error("You already voted on this example: press Next example.")
    corrected_label = -1
    if verdict == "incorrect":
        if corrected in (None, ""):
            raise user_error("Pick the digit it really is, then press Incorrect.")
        corrected_label = int(corrected)
        if corrected_label == record.label:
            raise user_error(f"You picked {corrected_label}, the label it already has: press Correct instead.")
    reason = (reason or "").strip()
    if verdict == "junk" and not reason:
        raise user_error("Say briefly why it is junk (e.g. 'not a digit', 'scribble').")
    try:
        store.add_vote(
            {
                "flag_id": flag_id,
                "verdict": verdict,
                "corrected_label": corrected_label,
                "reason": reason[:200],
                "session_hash": request.session_hash or "",
                "username": username,
                "is_maintainer": bool(username) and username in services.maintainers,
            }
        )
    except StoreError as e:
        raise user_error(str(e)) from None
    image, question, next_id, status = next_example(services, request, username)
    return image, question, next_id, f"Thanks, vote saved. {status}".strip(), None, ""


# --- the UI ---


def upload_cache_schedule(keep_hours: float) -> tuple[int, int] | None:
    """Gradio's `delete_cache` (check every `frequency` s, delete files older than `age` s) for keeping
    uploads `keep_hours`; None (keep forever) for 0. Every stroke uploads the canvas to Gradio's cache,
    so a server that runs for weeks needs this; flags are stored as copies in the state directory."""
    if keep_hours == 0:
        return None
    age = max(1, round(keep_hours * 3600))
    return min(age, 3600), age


def sign_in_note(needs_sign_in: frozenset[str]) -> str:
    carry = "your flags and votes then carry your Hugging Face username (public in the dataset)."
    if not needs_sign_in:
        return f"Optional: {carry}"
    return f"Needed to {' and '.join(a for a in ('flag', 'vote') if a in needs_sign_in)} here; {carry}"


def build_demo(services: Services, delete_cache: tuple[int, int] | None = None) -> gr.Blocks:
    with gr.Blocks(title="Fool the digit model", delete_cache=delete_cache) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(
                "# Fool the digit model\n"
                "Draw a digit from 0 to 9. The model's guess updates as you draw. "
                "Can you draw one that a person reads easily but the model gets wrong? Flag it!",
                elem_id="intro",
            )
            if services.sign_in:
                with gr.Column(scale=0, min_width=240):
                    gr.LoginButton(elem_id="sign-in")
                    gr.Markdown(sign_in_note(services.needs_sign_in), elem_id="sign-in-note")
        with gr.Tabs():
            with gr.Tab("Fool the model") as fool_tab:
                with gr.Row():
                    with gr.Column():
                        drawing_input = gr.Sketchpad(
                            type="numpy",
                            image_mode="RGBA",
                            canvas_size=CANVAS_SIZE,
                            fixed_canvas=True,
                            brush=gr.Brush(default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                            layers=False,
                            transforms=(),
                            label="Draw a digit",
                            elem_id="drawing",
                        )
                        with gr.Row():
                            predict_button = gr.Button("Predict", variant="primary")
                            clear_button = gr.Button("Clear")
                    with gr.Column():
                        label_output = gr.Label(num_top_classes=3, label="Model's guess", elem_id="guess")
                        digit_input = gr.Radio(DIGITS, label="Which digit did you draw?", elem_id="digit")
                        flag_button = gr.Button("Flag", variant="secondary", elem_id="flag")
                        flag_output = gr.Markdown(elem_id="flag-result")
                        model_info = gr.Markdown(model_description(services))
            with gr.Tab("Validate", elem_id="validate-tab") as validate_tab:
                gr.Markdown(
                    "Check drawings other people say fooled the model. "
                    + ("Validation is off here (votes required: 0): votes are kept but every example counts." if services.votes_required == 0 else f"An example is verified when {services.votes_required} people agree.")
                )
                with gr.Row():
                    with gr.Column():
                        example_image = gr.Image(label="Someone's drawing", interactive=False, height=300, elem_id="example")
                    with gr.Column():
                        example_question = gr.Markdown(elem_id="question")
                        example_id = gr.Textbox(visible=False)
                        with gr.Row():
                            correct_button = gr.Button("Correct", variant="primary")
                            incorrect_button = gr.Button("Incorrect")
                            junk_button = gr.Button("Junk")
                        corrected_input = gr.Dropdown(DIGITS, label="If incorrect: what digit is it?", value=None)
                        reason_input = gr.Textbox(label="If junk: why?", max_length=200)
                        next_button = gr.Button("Next example")
                        vote_status = gr.Markdown(elem_id="vote-status")
            with gr.Tab("Machine adversary") as adversary_tab:
                gr.Markdown(
                    "A machine can fool the model too: FGSM nudges every pixel of your drawing by ±ε in the direction "
                    "that most raises the model's loss. Draw on the first tab: its twin appears here, and follows ε as you move it."
                )
                eps_input = gr.Slider(0.0, 0.5, value=0.1, step=0.01, label="ε (how far each pixel may move, of 1)", elem_id="eps")
                attack_button = gr.Button("Attack my drawing", variant="primary", elem_id="attack")
                with gr.Row():
                    # Only "download" in the corner: four columns leave too little room for the label and three buttons.
                    original_view = gr.Image(label="What the model sees", interactive=False, buttons=["download"], elem_id="original-view")
                    original_label = gr.Label(num_top_classes=3, label="Model on your drawing", elem_id="original-label")
                    adversarial_view = gr.Image(label="Its FGSM twin", interactive=False, buttons=["download"], elem_id="adversarial-view")
                    adversarial_label = gr.Label(num_top_classes=3, label="Model on the twin", elem_id="adversarial-label")
            with gr.Tab("Rounds") as rounds_tab:
                rounds_info = gr.Markdown(elem_id="rounds-status")
                rounds_table = gr.Dataframe(headers=ROUND_HEADERS, interactive=False, elem_id="rounds-table")
                gr.Markdown(ROUND_LEGEND, elem_id="rounds-legend")
                rounds_plot = gr.LinePlot(
                    x="round", y="accuracy", color="metric", title="Accuracy by round", y_lim=[0, 1], sort=ROUND_ORDER, visible=False, elem_id="rounds-plot"
                )
                gr.Markdown(MATRIX_LEGEND, elem_id="fooled-by-round-legend")
                fooled_by_round = gr.Dataframe(headers=["model round"], interactive=False, elem_id="fooled-by-round")
                # Only signed-in people have names to show; without sign-in the table would stay empty.
                contributors = gr.Dataframe(
                    headers=CONTRIBUTOR_HEADERS, interactive=False, label="Top contributors (signed in)", visible=services.sign_in, elem_id="contributors"
                )
                refresh_rounds = gr.Button("Refresh")
                gr.Markdown(f"While this tab is open it updates by itself (checked every {ROUNDS_POLL_SECONDS} s).", elem_id="rounds-autoupdate")
                # Ticks while the Rounds tab is shown: started when it is selected, stopped by its first tick
                # after another tab was selected (see `shown_tab` and the events below).
                rounds_timer = gr.Timer(ROUNDS_POLL_SECONDS, active=False)
                # Which tab the page shows, set in the browser. Not a server event per tab: Gradio selects the
                # first tab on load, and a server event then, beside the load events, sometimes left the
                # page's event stream open (measured: 4 page loads of 25 never went network-idle; 0 of 45 now).
                shown_tab = gr.Textbox(visible=False)
                # The dashboard_signature of what this page shows (a hidden field, not gr.State: State
                # makes Gradio hold a heartbeat connection open for every visitor).
                rounds_seen = gr.Textbox(visible=False)
        # API-only endpoint: `Client(url).predict(handle_file("digit.png"), api_name="/predict")`.
        # filepath + image_mode=None: Gradio only opens the header; preprocessing decodes (alpha kept, size checked first).
        api_image = gr.Image(type="filepath", image_mode=None, visible=False)
        api_label = gr.Label(num_top_classes=3, visible=False)

        # --- events ---
        # Handlers are closures over `services` (not functools.partial): Gradio inspects each
        # handler's signature on every call, to inject gr.Request by type hint, and a partial's
        # signature is several times slower to compute.
        def on_drawing_change(drawing):
            return label_while_drawing(services, drawing)

        def on_predict(drawing):
            return label_for_drawing(services, drawing)

        def on_attack(drawing, eps):
            return attack_drawing(services, drawing, eps)

        def on_attack_quietly(drawing, eps):
            return attack_quietly(services, drawing, eps)

        def on_rounds_view():
            return rounds_view(services, rebuild=True)  # asked for explicitly (Refresh, the API): built anew

        def on_rounds_tab():
            seen, data = shared_rounds_data(services)
            return *rounds_components(data), seen, gr.Timer(active=True), "rounds"

        def on_rounds_tick(seen, tab):
            unchanged = [gr.skip()] * (len(rounds_outputs) + 2)
            if tab != "rounds":
                return *unchanged, gr.Timer(active=False)  # another tab is shown: stop asking
            now, data = shared_rounds_data(services, reuse_for_s=ROUNDS_REBUILD_SECONDS)
            if now == seen:
                return *unchanged, gr.skip()  # nothing changed: the page keeps what it shows
            return *rounds_components(data), now, model_description(services), gr.skip()

        def on_model_description():
            return model_description(services)

        # `profile` is filled in by Gradio from the OAuth session (None when nobody signed in).
        def on_flag(drawing, label, request: gr.Request, profile: gr.OAuthProfile | None):
            return flag_drawing(services, drawing, label, request, username_of(request, profile))

        def on_next_example(request: gr.Request, profile: gr.OAuthProfile | None):
            return next_example(services, request, username_of(request, profile))

        def on_vote(verdict):
            def handler(flag_id, corrected, reason, request: gr.Request, profile: gr.OAuthProfile | None):
                return vote(services, verdict, flag_id, corrected, reason, request, username_of(request, profile))

            return handler

        drawing_input.change(
            on_drawing_change,
            inputs=drawing_input,
            outputs=label_output,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
        predict_button.click(on_predict, inputs=drawing_input, outputs=label_output, api_name="predict_drawing")
        clear_button.click(clear_drawing, outputs=[drawing_input, label_output, flag_output], api_visibility="private").then(None, js=SELECT_BRUSH_JS)
        flag_button.click(on_flag, inputs=[drawing_input, digit_input], outputs=flag_output, api_name="flag", concurrency_limit=None).then(
            on_model_description, outputs=model_info, api_visibility="private", show_progress="hidden"
        )  # a retraining round may have swapped the model since the page loaded
        api_image.change(on_predict, inputs=api_image, outputs=api_label, api_name="predict")

        example_outputs = [example_image, example_question, example_id, vote_status]
        vote_outputs = example_outputs + [corrected_input, reason_input]
        validate_tab.select(on_next_example, outputs=example_outputs, api_visibility="private")
        next_button.click(on_next_example, outputs=example_outputs, api_name="next_example")
        vote_inputs = [example_id, corrected_input, reason_input]
        correct_button.click(on_vote("correct"), inputs=vote_inputs, outputs=vote_outputs, api_name="vote_correct")
        incorrect_button.click(on_vote("incorrect"), inputs=vote_inputs, outputs=vote_outputs, api_name="vote_incorrect")
        junk_button.click(on_vote("junk"), inputs=vote_inputs, outputs=vote_outputs, api_name="vote_junk")
        attack_views = [original_view, original_label, adversarial_view, adversarial_label]
        attack_button.click(on_attack, inputs=[drawing_input, eps_input], outputs=attack_views, api_name="attack")
        adversary_tab.select(on_attack_quietly, inputs=[drawing_input, eps_input], outputs=attack_views, api_visibility="private")
        eps_input.input(
            on_attack_quietly, inputs=[drawing_input, eps_input], outputs=attack_views, api_visibility="private", show_progress="hidden", trigger_mode="always_last"
        )
        rounds_outputs = [rounds_info, rounds_table, rounds_plot, fooled_by_round, contributors]
        rounds_tab.select(on_rounds_tab, outputs=rounds_outputs + [rounds_seen, rounds_timer, shown_tab], api_visibility="private")
        for name, other_tab in (("fool", fool_tab), ("validate", validate_tab), ("adversary", adversary_tab)):
            other_tab.select(None, js=f"() => '{name}'", outputs=shown_tab)
        rounds_timer.tick(
            on_rounds_tick,
            inputs=[rounds_seen, shown_tab],
            outputs=rounds_outputs + [rounds_seen, model_info, rounds_timer],
            api_visibility="private",
            show_progress="hidden",
        )
        refresh_rounds.click(on_rounds_view, outputs=rounds_outputs, api_name="rounds")

        demo.load(None, js=SELECT_BRUSH_JS)
        demo.load(on_model_description, outputs=model_info, api_visibility="private")
    return demo


# --- start-up ---


def freeze_loaded_objects() -> None:
    """What is loaded by now (modules, models, every stored record) lives as long as the app. Out of the
    collector's sight, a full collection no longer walks every record whenever a handler allocates: a
    Rounds tab rebuild on a 50,000-record store took 0.25 s instead of 0.46 s (python -m bench.rounds_view)."""
    gc.collect()  # garbage first: frozen objects are never collected
    gc.freeze()


def hub_api(args) -> HfApi:
    return HfApi(endpoint=args.hub_endpoint, token=os.environ.get("HF_TOKEN") or None)


FLAGS_BEING_RESTORED = "the flags on the Hub are being restored"


def not_restored_yet(args, error: Exception, rounds_back: bool = False) -> str:
    """What the Hub still holds back, named: once the rounds are back, only the flags can be missing."""
    missing = " and ".join(name for name, wanted in (("flags", args.hub_dataset), ("rounds", args.hub_model and not rounds_back)) if wanted)
    return f"the {missing} on the Hub are not restored yet ({type(error).__name__}); retrying every {args.hub_retry_seconds:g} s"


def keep_restoring(args, state_dir, live: LiveModel, rounds: RoundRunner | None, sync: HubSync | None, stop: threading.Event, rounds_back: bool) -> None:
    """Restore in the background, retrying until the Hub answers: the rounds first, served as soon as they
    are back, then the flags; then let rounds resume (paused meanwhile: never a second lineage of rounds
    under names the Hub has)."""
    # A Space without persistent storage restarts from an empty disk: without this it would serve a
    # retrained round 0 and number its next round after that, while the Hub holds the later rounds.
    while True:
        try:
            api = hub_api(args)
            if not rounds_back:  # once back, they are not fetched and swapped in again at each retry
                restore_rounds(api, args.hub_model, state_dir)
                live.swap(*load_checkpoint(latest_model_dir(state_dir)))  # the last published round serves at once
                rounds_back = True
                log.info("restored the rounds from the Hub: round %s is live", live.metadata.get("round"))
            if args.hub_dataset:
                if rounds is not None:
                    rounds.paused = FLAGS_BEING_RESTORED  # what is still on its way, not the outage that is over
                restore_flags(api, args.hub_dataset, state_dir / "flags")
                if sync is not None:
                    sync.relearn_the_repo()  # the restored files are the repo's own: not pushed back
            break
        except Exception as e:
            log.warning("could not restore from the Hub (%s); retrying in %s s", type(e).__name__, args.hub_retry_seconds)
            if rounds is not None:
                rounds.paused = not_restored_yet(args, e, rounds_back)
            if stop.wait(args.hub_retry_seconds):
                return
    if rounds is not None:
        rounds.store.refresh()  # read the restored records now, to freeze them with the rest
    freeze_loaded_objects()
    if rounds is not None:
        rounds.paused = ""
        rounds.maybe_start()


def load_live_model(state_dir) -> LiveModel:
    """The last accepted round's model; round-0 (trained first if missing) when there is none."""
    from training.prepare import ensure_round0

    ensure_round0(state_dir)
    return LiveModel(*load_checkpoint(latest_model_dir(state_dir)))


def open_store(state_dir) -> tuple[FlagStore | None, str]:
    try:
        return FlagStore(state_dir / "flags", state_dir / "locks"), ""
    except OSError as e:
        log.error("flag store unavailable: %s", e)
        return None, f"the state directory cannot be written ({e.strerror or e})"


def start_hub_sync(args, store: FlagStore | None) -> HubSync | None:
    token = os.environ.get("HF_TOKEN", "")
    if not args.hub_dataset:
        return None
    if not token:
        log.warning("--hub-dataset is set but HF_TOKEN is not: not pushing to the Hub")
        return None
    if store is None:
        log.warning("the flag store is unavailable: not pushing to the Hub")
        return None
    sync = HubSync(store.root, args.hub_dataset, token, store.lock, every_minutes=args.push_every_minutes, endpoint=args.hub_endpoint, retry_seconds=args.hub_retry_seconds)
    sync.start()
    return sync


def start_publisher(args, state_dir) -> ModelPublisher | None:
    token = os.environ.get("HF_TOKEN", "")
    if not args.hub_model:
        return None
    if not token:
        log.warning("--hub-model is set but HF_TOKEN is not: not publishing models")
        return None
    publisher = ModelPublisher(state_dir, args.hub_model, token, endpoint=args.hub_endpoint, retry_seconds=args.hub_retry_seconds)
    publisher.start()
    return publisher


REQUIRE_SIGN_IN = {"none": frozenset(), "vote": frozenset({"vote"}), "flag": frozenset({"flag", "vote"})}


def sign_in_shown(args) -> bool:
    return args.sign_in == "on" or (args.sign_in == "auto" and bool(os.environ.get("OAUTH_CLIENT_ID")))


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    # Defaults from the environment are strings on purpose: argparse converts them with the option's
    # `type`, so a bad value (DADC_RETRAIN_THRESHOLD=ten) gets the same clear error as a bad flag.
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # GRADIO_SERVER_NAME/PORT are what Hugging Face Spaces set.
    p.add_argument("--host", default=env("DADC_HOST") or env("GRADIO_SERVER_NAME") or "127.0.0.1", help="address to bind (default 127.0.0.1; env DADC_HOST or GRADIO_SERVER_NAME)")
    p.add_argument("--port", type=int, default=env("DADC_PORT") or env("GRADIO_SERVER_PORT") or "7860", help="port (default 7860; env DADC_PORT or GRADIO_SERVER_PORT)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    p.add_argument("--retrain-threshold", type=int, default=env("DADC_RETRAIN_THRESHOLD", "10"), help="fooling examples per round before retraining (default 10)")
    p.add_argument("--retrain-method", choices=RETRAIN_METHODS, default=env("DADC_RETRAIN_METHOD", "standard"), help="training method of each round's fine-tuning (default standard)")
    p.add_argument(
        "--retrain-from",
        choices=RETRAIN_STARTS,
        default=env("DADC_RETRAIN_FROM", "live"),
        help="live: each round fine-tunes the live model; scratch: trains a new one on MNIST + people's examples, ~15 s more per round on 2 cores (default live)",
    )
    p.add_argument("--max-robust-drop", type=float, default=env("DADC_MAX_ROBUST_DROP") or None, help="gate: largest allowed fall of a round's FGSM ε=0.1 accuracy, a fraction (default: not gated)")
    p.add_argument("--validation-votes", type=int, default=env("DADC_VALIDATION_VOTES", "0"), help="agreeing votes that verify an example; 0 = validation off (default 0)")
    p.add_argument("--maintainers", default=env("DADC_MAINTAINERS", ""), help="comma-separated usernames whose vote decides alone (default none)")
    p.add_argument(
        "--sign-in",
        choices=["auto", "on", "off"],
        default=env("DADC_SIGN_IN", "auto"),
        help="'Sign in with Hugging Face' button; auto = on when the Space has OAuth (hf_oauth: true sets OAUTH_CLIENT_ID) (default auto)",
    )
    p.add_argument("--hub-dataset", default=env("DADC_HUB_DATASET", ""), help="dataset repo 'namespace/name' to push flags to; needs HF_TOKEN in the environment (default off)")
    p.add_argument("--hub-model", default=env("DADC_HUB_MODEL", ""), help="model repo 'namespace/name' to publish each accepted round to (tag round-N); needs HF_TOKEN (default off)")
    p.add_argument("--push-every-minutes", type=float, default=env("DADC_PUSH_EVERY_MINUTES", "5"), help="Hub push interval (default 5)")
    p.add_argument("--hub-endpoint", default=env("HF_ENDPOINT") or None, help="Hub URL (default: huggingface.co, env HF_ENDPOINT)")
    p.add_argument("--hub-retry-seconds", type=float, default=env("DADC_HUB_RETRY_SECONDS", "60"), help="wait between attempts to reach a Hub that failed (restore, push, publish) (default 60)")
    p.add_argument(
        "--keep-uploads-hours",
        type=float,
        default=env("DADC_KEEP_UPLOADS_HOURS", "24"),
        help="delete drawings and images from Gradio's upload cache after this many hours; flags are kept in the state directory; 0 = never (default 24)",
    )
    p.add_argument(
        "--require-sign-in",
        choices=list(REQUIRE_SIGN_IN),
        default=env("DADC_REQUIRE_SIGN_IN", "none"),
        help="what needs a Hugging Face sign-in: none; vote (only signed-in people's votes verify); flag (flags and votes) (default none)",
    )
    p.add_argument(
        "--max-flags-per-minute",
        type=int,
        default=env("DADC_MAX_FLAGS_PER_MINUTE", "30"),
        help="flags one person (signed-in name, else browser session) may send per minute; 0 = no limit (default 30)",
    )
    args = p.parse_args(argv)
    if args.retrain_threshold < 1:
        p.error(f"--retrain-threshold must be at least 1, not {args.retrain_threshold}")
    if problem := robust_drop_problem(args.max_robust_drop):
        p.error(problem)
    # argparse checks `choices` only for values given on the command line, not for defaults from the environment.
    checked = (("DADC_RETRAIN_METHOD", args.retrain_method, RETRAIN_METHODS), ("DADC_RETRAIN_FROM", args.retrain_from, RETRAIN_STARTS), ("DADC_SIGN_IN", args.sign_in, ("auto", "on", "off")), ("DADC_REQUIRE_SIGN_IN", args.require_sign_in, tuple(REQUIRE_SIGN_IN)))
    for name, value, choices in checked:
        if value not in choices:
            p.error(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    if args.sign_in == "on" and os.environ.get("SYSTEM") != "spaces" and not os.environ.get("HF_TOKEN"):
        # Off a Space, Gradio mocks the sign-in with the owner of the local token (and asks the Hub who that is).
        p.error("--sign-in on outside a Hugging Face Space needs HF_TOKEN: you are then signed in as its owner")
    if args.require_sign_in != "none" and not sign_in_shown(args):
        p.error(f"--require-sign-in {args.require_sign_in} needs the sign-in button: a Space with hf_oauth: true, or --sign-in on")
    if not (0 <= args.keep_uploads_hours and math.isfinite(args.keep_uploads_hours)):
        p.error(f"--keep-uploads-hours must be 0 (never delete) or a positive number of hours, not {args.keep_uploads_hours}")
    if not (args.hub_retry_seconds > 0 and math.isfinite(args.hub_retry_seconds)):
        p.error(f"--hub-retry-seconds must be positive, not {args.hub_retry_seconds}")
    if not (args.push_every_minutes > 0 and math.isfinite(args.push_every_minutes)):
        p.error(f"--push-every-minutes must be positive, not {args.push_every_minutes}")
    if not 1 <= args.port <= 65535:  # found before round 0 is trained, not when the server starts
        p.error(f"--port must be between 1 and 65535, not {args.port}")
    if args.max_flags_per_minute < 0:
        p.error(f"--max-flags-per-minute must be 0 (no limit) or more, not {args.max_flags_per_minute}")
    if args.validation_votes < 0:
        p.error(f"--validation-votes must be 0 or more, not {args.validation_votes}")
    for flag, repo in (("--hub-dataset", args.hub_dataset), ("--hub-model", args.hub_model)):
        if repo:
            try:
                check_repo_id(repo)
            except ValueError as e:
                p.error(f"{flag}: {e}")
    return args


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    torch.set_num_threads(1)  # one 28×28 forward pass gains nothing from more threads; requests run in parallel
    # Refuse decompression bombs before they are decoded: twice MAX_SIDE² pixels raises in PIL.
    Image.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    state_dir = resolve_state_dir(args.state_dir)
    # What the Hub has and this disk lacks. The rounds (a few checkpoints) come back before serving, so
    # people play against the last published round from the start; the flags (two files each: a
    # popular Space has many thousands) come back in the background while the app serves.
    restoring, rounds_back = "", not args.hub_model
    if args.hub_model:
        try:
            restore_rounds(hub_api(args), args.hub_model, state_dir)
            rounds_back = True
        except Exception as e:  # the Hub is down or refuses: serve now, restore in the background
            log.error("could not restore from the Hub: %s", type(e).__name__)
            restoring = not_restored_yet(args, e)
    if args.hub_dataset and not restoring:
        restoring = FLAGS_BEING_RESTORED
    live = load_live_model(state_dir)
    store, problem = open_store(state_dir)
    flagger = DatasetFlagger(store, live, args.retrain_threshold) if store else None
    publisher = start_publisher(args, state_dir)
    on_accepted = publisher.request if publisher else None
    rounds = RoundRunner(state_dir, store, live, args.retrain_threshold, args.validation_votes, RoundConfig(method=args.retrain_method, start=args.retrain_from, max_robust_drop=args.max_robust_drop), on_accepted) if store else None
    sync = start_hub_sync(args, store)  # pushes flags collected while the restore runs, too
    stop_restoring = threading.Event()
    if restoring:
        if rounds is not None:
            rounds.paused = restoring  # never a second lineage of rounds under names the Hub already has
        threading.Thread(target=keep_restoring, args=(args, state_dir, live, rounds, sync, stop_restoring, rounds_back), name="hub-restore", daemon=True).start()
    maintainers = frozenset(u.strip() for u in args.maintainers.split(",") if u.strip())
    sign_in = sign_in_shown(args)
    if maintainers and not sign_in:
        log.warning("--maintainers is set but sign-in is off: nobody can be recognised as a maintainer")
    flag_limit = FlagRateLimit(args.max_flags_per_minute) if args.max_flags_per_minute else None
    services = Services(live, store, flagger, args.validation_votes, maintainers, problem, state_dir, rounds, publisher, sign_in, flag_limit, REQUIRE_SIGN_IN[args.require_sign_in])
    freeze_loaded_objects()
    if rounds is not None:
        rounds.maybe_start()  # examples that came in before a restart still count
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the final Hub push on `kill`
    demo = build_demo(services, upload_cache_schedule(args.keep_uploads_hours))
    try:
        demo.queue(default_concurrency_limit=8).launch(server_name=args.host, server_port=args.port, css=CSS, show_error=True, max_file_size=MAX_UPLOAD)
    finally:
        stop_restoring.set()
        if sync is not None:
            sync.stop()
        if publisher is not None:
            publisher.stop()
        if store is not None:
            store.close()


if __name__ == "__main__":
    sys.exit(main())
