"""The DADC web app: draw a digit, see what the model thinks, try to fool it.

    python app.py                      # http://127.0.0.1:7860, local defaults
    python app.py --host 0.0.0.0 --port 7861 --state-dir /data/dadc

Logic lives in the packages; this file builds the page in `build_demo`, translates between it and the
packages (the handlers) and starts everything in `main`. Its other parts are in `serving/`.
"""

from __future__ import annotations

import logging
import math
import os
import random
import signal
import sys
import threading
import time
import warnings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue rebuilds a pandas summary of the last 10,000 events after *every* event
# (for its monitoring page, unused here): ~40% of the server's CPU under load. Recompute rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from data.state_dir import resolve_state_dir  # noqa: E402
from flagging.callback import DIGITS, DatasetFlagger, FlagInputError  # noqa: E402
from flagging.rate_limit import FlagRateLimit  # noqa: E402
from flagging.store import MAX_REMOVAL_REASON, StoreError, describe_drawing, drawings_of_the_person_of  # noqa: E402
from flagging.validation import has_voted, next_to_validate, person_key  # noqa: E402
from model.checkpoint import CheckpointError  # noqa: E402
from model.predict import top_classes  # noqa: E402
from model.preprocess import MAX_SIDE, DrawingError, preprocess_drawing  # noqa: E402
from serving.rounds_tab import (  # noqa: E402
    CONTRIBUTOR_HEADERS,
    CONTRIBUTORS_LABEL,
    DIGITS_LEGEND,
    MATRIX_LEGEND,
    ROUND_HEADERS,
    ROUND_LEGEND,
    ROUNDS_POLL_SECONDS,
    ROUNDS_REBUILD_SECONDS,
    accuracy_plot,
    error_rate_plot,
    rounds_components,
    rounds_view,
    shared_rounds_data,
)
from serving.services import Services  # noqa: E402
from serving.settings import REQUIRE_SIGN_IN, mocked_sign_in_problem, parse_args, serve_problem, sign_in_actions, sign_in_shown  # noqa: E402
from serving.startup import FLAGS_BEING_RESTORED, freeze_loaded_objects, hub_api, keep_restoring, load_live_model, not_restored_yet, open_store, start_hub_sync, start_publisher, startup_summary, warn_not_restored  # noqa: E402
from training.attacks import adversarial_twin, smallest_fooling_eps  # noqa: E402
from training.publish import restore_rounds  # noqa: E402
from training.hold import HELD_DURING_A_ROUND, hold_retraining, resume_retraining  # noqa: E402
from training.rollback import RollbackRefused, learned_note, models_that_learned, roll_back  # noqa: E402
from training.round_lock import round_training  # noqa: E402
from training.rounds import RoundBusy, RoundConfig, RoundRunner  # noqa: E402

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
#rounds-table th, #rounds-table th *, #fooled-by-round th, #fooled-by-round th *, #fooled-by-digit th, #fooled-by-digit th * { word-break: normal !important; overflow-wrap: normal !important; }
@media (max-width: 640px) { .tab-container button { padding: 0 5px !important; } }
"""
# On a phone, narrower page margins (with the tabs' padding above) keep all four tabs in the bar, not
# behind a "…" menu, down to 360 px, and widen the drawing square. In <head>: Gradio scopes `css`
# to the app's content, and the margins belong to the page around it.
PHONE_MARGINS = "<style>@media (max-width: 480px) { .gradio-container > .main { padding-left: 12px !important; padding-right: 12px !important; } }</style>"


MAX_EPS = 0.5  # the ε slider's end, and how far the smallest fooling ε is looked for
MAX_UPLOAD = "2mb"  # a 400×400 canvas PNG is ~10 kB; anything near this limit is not a drawing


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
    message = outcome.message if outcome.duplicate else f"{outcome.message}{tally_note(services, outcome.record)}"
    if services.rounds is None or not outcome.record.fooled or outcome.duplicate:
        return message
    if services.rounds.maybe_start():
        return message + " **That was enough: retraining has started.** The new model goes live if it passes its checks."
    return f"{message} {services.rounds.progress_note()}"


def tally_note(services: Services, record) -> str:
    """" So far 3 of your 7 drawings fooled the model.", from the second drawing on: someone trying to fool
    the model wants their score. A person not signed in is known by their page (a reload starts afresh)."""
    drawings, fooled = services.store.tally_of_the_person_of(record)
    if drawings < 2:
        return ""
    since = "So far" if record.username else "Since you opened this page,"
    return f" {since} {fooled} of your {drawings} drawings fooled the model."


def attack_drawing(services: Services, drawing, eps: float, *, scan: bool = True):
    """The drawing as the model sees it, its FGSM twin at ε, the model's top-3 on both, and the smallest ε
    that changes the model's answer (`scan=False`: left as it is, for a move of ε, which does not change it)."""
    try:
        model_input = preprocess_drawing(drawing)
    except DrawingError as e:
        raise user_error(str(e)) from None
    model = services.live.model  # one model for all five, even if a round swaps in another meanwhile
    adversarial, clean_probs, adv_probs = adversarial_twin(model, model_input, float(eps))

    def enlarge(a):
        return Image.fromarray((a * 255).round().astype("uint8")).resize((196, 196), Image.Resampling.NEAREST)

    note = smallest_eps_note(smallest_fooling_eps(model, model_input, MAX_EPS), int(clean_probs.argmax())) if scan else gr.skip()
    return enlarge(model_input), top_classes(clean_probs), enlarge(adversarial), top_classes(adv_probs), note


def smallest_eps_note(found: tuple[float, int] | None, read: int) -> str:
    """How little FGSM needs to change the model's answer on this drawing, in ε and in grey levels."""
    if found is None:
        return f"Up to ε = {MAX_EPS}, FGSM never changes the model's answer on your drawing: it stays a {read}."
    eps, other = found
    return f"The smallest ε that fools the model: **{eps:.2f}**. There FGSM makes it read your {read} as a {other}, each pixel moved by at most {round(eps * 255)} of 255 grey levels."


def attack_quietly(services: Services, drawing, eps: float, *, scan: bool = True):
    """The attack when the person opens the tab or moves ε. With nothing drawn (never drawn, or cleared since),
    the views are emptied without a message: they must not show the twin of a drawing that is gone."""
    try:
        return attack_drawing(services, drawing, eps, scan=scan)
    except gr.Error:
        return None, None, None, None, ""


def clear_drawing():
    return None, None, ""


def model_description(services: Services) -> str:
    metadata = services.live.metadata
    acc = metadata.get("metrics", {}).get("mnist_test_accuracy")
    acc_text = f", MNIST test accuracy {acc:.2%}" if acc is not None else ""
    return f"Model: round {metadata.get('round', '?')}{acc_text}."


def is_maintainer(services: Services, username: str) -> bool:
    return bool(username) and username in services.maintainers


def require_maintainer(services: Services, username: str, action: str) -> None:
    """Refuse `action` ("remove drawings") to anyone but a maintainer: the page shows their panels to
    maintainers only, and the API, which anyone can call, is checked here."""
    if not is_maintainer(services, username):
        raise user_error(f"Only a maintainer (signed in with Hugging Face, listed in --maintainers) can {action}.")


def next_example(services: Services, request: gr.Request, username: str = ""):
    """(image, question, flag id, status) of the next example this person can validate."""
    store = services.store
    if store is None:
        return None, "", "", f"Validation is unavailable: {services.store_problem}."
    if problem := sign_in_problem(services, "vote", username):
        return None, "### Sign in to validate", "", problem
    store.refresh()
    record = next_to_validate(
        list(store.records.values()), list(store.votes), services.votes_required, request.session_hash or "", username, random.Random(), is_maintainer(services, username)
    )
    if record is None:
        return None, "### Nothing to validate right now", "", "Come back when other people have fooled the model."
    try:
        image = Image.open(store.data_dir / record.shard / record.drawing_file_name)
    except FileNotFoundError:  # removed by a maintainer in another process just now
        return None, "### Nothing to validate right now", "", "Press Next example."
    waiting = services.rounds is not None and services.rounds.waiting_for_votes
    note = "A retraining round is waiting for votes: yours counts toward it." if waiting else ""
    question = f"### Is this {'an' if record.label == 8 else 'a'} {record.label}?"
    if is_maintainer(services, username):  # who drew it, and how much more: a vandal shows at their first drawing
        question += f"\n\n`{record.id[:8]}`: {who_drew(store, record)}."
    return image, question, record.id, note


def who_drew(store, record) -> str:
    """"a 2 read as 1, flagged … by troll, one of their 3 drawings (3 fooled the model)", for a maintainer."""
    drawings, fooled = store.tally_of_the_person_of(record)
    if drawings == 1:
        return f"{describe_drawing(record)}, their only drawing"
    return f"{describe_drawing(record)}, one of their {drawings} drawings ({fooled} fooled the model)"


def vote(services: Services, verdict: str, flag_id: str, corrected, reason: str, request: gr.Request, username: str = ""):
    store = services.store
    if store is not None and flag_id in store.removed:
        raise user_error("A maintainer removed this drawing: press Next example.")
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
                "is_maintainer": is_maintainer(services, username),
            }
        )
    except StoreError as e:
        raise user_error(str(e)) from None
    # A round may be due and waiting for verified examples: this vote may have verified the first new one.
    started = services.rounds is not None and services.rounds.maybe_start(after_vote=True)
    thanks = "Thanks, vote saved: with it, retraining has started." if started else "Thanks, vote saved."
    image, question, next_id, status = next_example(services, request, username)
    return image, question, next_id, f"{thanks} {status}".strip(), None, ""


def remove_drawing(services: Services, drawing_id: str, reason: str, request: gr.Request, username: str = "", every_by_person: bool = False):
    """A maintainer removes a drawing for good (an offensive one, one its author wants gone), or with
    `every_by_person` every drawing of the person who drew it (a vandal's); the Validate tab then shows
    the next example, since the one shown may be one removed."""
    store = services.store
    if store is None:
        raise user_error(f"Removing is unavailable: {services.store_problem}.")
    require_maintainer(services, username, "remove drawings")
    reason = (reason or "").strip()[:MAX_REMOVAL_REASON]
    if not reason:
        raise user_error("Say why it goes (e.g. 'offensive', 'its author asked'), then press Remove for good.")
    try:
        record = store.find(drawing_id or "")
        records = drawings_of_the_person_of(store.records.values(), record) if every_by_person else [record]
        store.remove_many([r.id for r in records], reason, username)
    except KeyError as e:
        raise user_error(f"Nothing removed: {e.args[0]}.") from None
    except StoreError as e:
        raise user_error(str(e)) from None
    if len(records) == 1:
        done = f"Removed `{record.id[:8]}` for good ({reason}): it is out of the dataset, validation and training, and its files are deleted."
    else:
        author = record.username or "the same browser session"
        done = f"Removed {len(records)} drawings by {author} for good ({reason}), `{record.id[:8]}` among them: they are out of the dataset, validation and training, and their files are deleted."
    if services.flag_sync is not None:
        done += " Its copy in the Hub dataset goes at the next push." if len(records) == 1 else " Their copies in the Hub dataset go at the next push."
    if services.state_dir is not None and (learned := models_that_learned(services.state_dir, {r.id for r in records})):
        done += f" Note: {learned_note(learned, len(records))}; the Rounds tab's rollback panel puts that round back live."
    image, question, next_id, status = next_example(services, request, username)
    return image, question, next_id, f"{done} {status}".strip(), "", False


def removal_preview(services: Services, drawing_id: str, username: str = "") -> str:
    """Who drew the drawing a maintainer typed into the removal panel, and how many are theirs (all go with the
    box ticked); "" for anyone else, or before an id is complete. The drawing shown says so in its question."""
    store = services.store
    if store is None or not is_maintainer(services, username) or len((drawing_id or "").strip()) < 8:
        return ""
    try:
        record = store.find(drawing_id)
    except KeyError as e:
        return f"{e.args[0]}."
    return f"`{record.id[:8]}`: {who_drew(store, record)}."


def roll_back_round(services: Services, to_round, reason: str, username: str = "") -> tuple:
    """A maintainer puts an earlier round's model back live (a round that passed its gates and turned out
    bad), as `python -m training.rollback` does; returns the refreshed Rounds tab, whose status says it."""
    if services.rounds is None:
        raise user_error(f"Rolling back is unavailable: {services.store_problem}.")
    require_maintainer(services, username, "roll back a round")
    reason = (reason or "").strip()
    if not isinstance(to_round, (int, float)) or not math.isfinite(to_round) or to_round != int(to_round) or to_round < 0:
        raise user_error("Give the round whose model goes live again: a whole number, 0 or more.")
    if not reason:
        raise user_error("Say why (e.g. 'round 3 learned vandalised labels'), then press Roll back.")
    try:
        with services.rounds.paused_for("a maintainer is rolling back"):
            entry = roll_back(services.state_dir, int(to_round), reason[:MAX_REMOVAL_REASON], username, services.votes_required)
    except (RollbackRefused, RoundBusy, CheckpointError, OSError) as e:
        raise user_error(f"Nothing rolled back: {e}.") from None
    services.rounds.catch_up()  # live now (and logged), published with --hub-model
    gr.Info(f"Rolled back: round {entry['round']}, round {entry['restores']}'s model again, is live.")  # the status says it too, at the top of the tab
    return *rounds_view(services, rebuild=True), ""


def hold_or_resume_retraining(services: Services, hold: bool, reason: str, username: str = "") -> tuple:
    """A maintainer holds the app's retraining (no round starts on its own: cleaning up before the next
    round is due), or resumes it; returns the refreshed Rounds tab, whose status says it."""
    if services.rounds is None:
        raise user_error(f"Retraining is unavailable: {services.store_problem}.")
    require_maintainer(services, username, "hold or resume retraining")
    if hold:
        reason = (reason or "").strip()
        if not reason:
            raise user_error("Say why (e.g. 'taking vandalised drawings out'), then press Hold retraining.")
        try:
            hold_retraining(services.state_dir, reason[:MAX_REMOVAL_REASON], username)
        except OSError as e:
            raise user_error(f"Retraining is not held: cannot save the hold ({e.strerror or e}).") from None
        if services.rounds.running or round_training(services.state_dir):
            gr.Info(f"Retraining is held, but {HELD_DURING_A_ROUND}")
        else:
            gr.Info("Retraining is held: no round starts until a maintainer resumes it.")
    else:
        if not resume_retraining(services.state_dir):
            raise user_error("Retraining is not held: nothing to resume.")
        started = services.rounds.maybe_start()
        gr.Info("Retraining resumed: " + ("a round that was due has started." if started else "the next round starts when it is due."))
    return *rounds_view(services, rebuild=True), ""


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
    return f"Needed to {sign_in_actions(needs_sign_in)} here; {carry}"


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
                    + ("Validation is off here (votes required: 0): every example counts with its author's label unless a maintainer votes on it; other votes are kept." if services.votes_required == 0 else f"An example is verified when {services.votes_required} people agree.")
                )
                with gr.Row():
                    with gr.Column():
                        # someone else's drawing: to look at, not to download or share on from here
                        example_image = gr.Image(label="Someone's drawing", interactive=False, height=300, buttons=["fullscreen"], elem_id="example")
                    with gr.Column():
                        example_question = gr.Markdown(elem_id="question")
                        example_id = gr.Textbox(visible=False)
                        with gr.Row():  # enabled while there is a drawing to vote on (see example_id.change)
                            correct_button = gr.Button("Correct", variant="primary", interactive=False)
                            incorrect_button = gr.Button("Incorrect", interactive=False)
                            junk_button = gr.Button("Junk", interactive=False)
                        corrected_input = gr.Dropdown(DIGITS, label="If incorrect: what digit is it?", value=None, elem_id="corrected")
                        reason_input = gr.Textbox(label="If junk: why?", max_length=200, elem_id="junk-reason")
                        next_button = gr.Button("Next example")
                        vote_status = gr.Markdown(elem_id="vote-status")
                        # Shown to maintainers only (see on_validate_tab); the server checks again on every removal.
                        with gr.Accordion("Maintainers: remove a drawing for good", open=False, visible=False, elem_id="remove-panel") as remove_panel:
                            gr.Markdown(
                                "For an offensive drawing, or one whose author asks: it leaves the dataset, validation and "
                                "training, and its files are deleted (models already trained on it stay as they are: the message "
                                "then names the round to roll back to). The id is the one its receipt shows (*saved as* …); the "
                                "drawing shown above is filled in. For a vandal, tick the box: every drawing of theirs goes."
                            )
                            remove_id = gr.Textbox(label="Drawing id", max_length=32, elem_id="remove-id")
                            remove_preview = gr.Markdown(elem_id="remove-preview")
                            remove_reason = gr.Textbox(label="Why", max_length=MAX_REMOVAL_REASON, elem_id="remove-reason")
                            # Unticked again after each removal: the next drawing's author is someone else.
                            remove_every = gr.Checkbox(
                                label="Every drawing by the same person (signed-in name, else browser session): a vandal's", value=False, elem_id="remove-every"
                            )
                            remove_button = gr.Button("Remove for good", variant="stop", elem_id="remove")
            with gr.Tab("Machine adversary") as adversary_tab:
                gr.Markdown(
                    "A machine can fool the model too: FGSM nudges every pixel of your drawing by ±ε in the direction "
                    "that most raises the model's loss. Draw on the first tab: its twin appears here, and follows ε as you move it."
                )
                eps_input = gr.Slider(0.0, MAX_EPS, value=0.1, step=0.01, label="ε (how far each pixel may move, of 1)", elem_id="eps")
                attack_button = gr.Button("Attack my drawing", variant="primary", elem_id="attack")
                with gr.Row():
                    # Only "download" in the corner: four columns leave too little room for the label and three buttons.
                    original_view = gr.Image(label="What the model sees", interactive=False, buttons=["download"], elem_id="original-view")
                    original_label = gr.Label(num_top_classes=3, label="Model on your drawing", elem_id="original-label")
                    adversarial_view = gr.Image(label="Its FGSM twin", interactive=False, buttons=["download"], elem_id="adversarial-view")
                    adversarial_label = gr.Label(num_top_classes=3, label="Model on the twin", elem_id="adversarial-label")
                smallest_eps = gr.Markdown(elem_id="smallest-eps")
            with gr.Tab("Rounds") as rounds_tab:
                rounds_info = gr.Markdown(elem_id="rounds-status")
                rounds_table = gr.Dataframe(headers=ROUND_HEADERS, interactive=False, wrap=True, elem_id="rounds-table")
                gr.Markdown(ROUND_LEGEND, elem_id="rounds-legend")
                rounds_plot = accuracy_plot()
                mer_plot = error_rate_plot()
                gr.Markdown(MATRIX_LEGEND, elem_id="fooled-by-round-legend")
                fooled_by_round = gr.Dataframe(headers=["model round"], interactive=False, wrap=True, elem_id="fooled-by-round")
                gr.Markdown(DIGITS_LEGEND, elem_id="fooled-by-digit-legend")
                fooled_by_digit = gr.Dataframe(headers=["digit"], interactive=False, wrap=True, elem_id="fooled-by-digit")
                # Only signed-in people have names to show; without sign-in the table would stay empty.
                contributors = gr.Dataframe(
                    headers=CONTRIBUTOR_HEADERS, interactive=False, label=CONTRIBUTORS_LABEL, visible=services.sign_in, elem_id="contributors"
                )
                refresh_rounds = gr.Button("Refresh")
                # Shown to maintainers only (see on_rounds_tab); the server checks again on every hold and rollback.
                with gr.Accordion("Maintainers: hold retraining", open=False, visible=False, elem_id="hold-panel") as hold_panel:
                    gr.Markdown(
                        "While you take bad drawings out (Junk votes, removals) or roll back a round: no round starts on its own "
                        "until a maintainer resumes it. Flags and votes are stored as ever, and count toward the next round."
                    )
                    hold_reason = gr.Textbox(label="Why", max_length=MAX_REMOVAL_REASON, elem_id="hold-reason")
                    with gr.Row():
                        hold_button = gr.Button("Hold retraining", variant="stop", elem_id="hold")
                        resume_button = gr.Button("Resume retraining", elem_id="resume")
                with gr.Accordion("Maintainers: roll back to an earlier round", open=False, visible=False, elem_id="rollback-panel") as rollback_panel:
                    gr.Markdown(
                        "For a round that passed its gates and turned out bad (it learned vandalised labels, people see it misread): "
                        "the model of the round given goes live again as a new round, and says so above. Nothing is deleted, and "
                        "the next round starts from it, learning everything since, less what a Junk vote or a removal took out: "
                        "take the bad drawings out before that round is due (the status above says when), or hold retraining meanwhile."
                    )
                    rollback_to = gr.Number(label="Round whose model goes live again", minimum=0, step=1, elem_id="rollback-to")
                    rollback_reason = gr.Textbox(label="Why", max_length=MAX_REMOVAL_REASON, elem_id="rollback-reason")
                    rollback_button = gr.Button("Roll back", variant="stop", elem_id="rollback")
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

        def on_eps_moved(drawing, eps):
            return attack_quietly(services, drawing, eps, scan=False)

        def on_rounds_view():
            return rounds_view(services, rebuild=True)  # asked for explicitly (Refresh, the API): built anew

        def on_rounds_tab(request: gr.Request, profile: gr.OAuthProfile | None):
            seen, data = shared_rounds_data(services)
            maintainer = is_maintainer(services, username_of(request, profile))  # the rollback panel is theirs
            return *rounds_components(data), seen, gr.Timer(active=True), "rounds", gr.Accordion(visible=maintainer), gr.Accordion(visible=maintainer)

        def on_roll_back(to_round, reason, request: gr.Request, profile: gr.OAuthProfile | None):
            return roll_back_round(services, to_round, reason, username_of(request, profile))

        def on_hold(reason, request: gr.Request, profile: gr.OAuthProfile | None):
            return hold_or_resume_retraining(services, True, reason, username_of(request, profile))

        def on_resume(request: gr.Request, profile: gr.OAuthProfile | None):
            return hold_or_resume_retraining(services, False, "", username_of(request, profile))

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

        def on_validate_tab(request: gr.Request, profile: gr.OAuthProfile | None):
            username = username_of(request, profile)  # one request: the next example, and the removal panel for a maintainer
            return *next_example(services, request, username), gr.Accordion(visible=is_maintainer(services, username))

        def on_remove(drawing_id, reason, every_by_person, request: gr.Request, profile: gr.OAuthProfile | None):
            return remove_drawing(services, drawing_id, reason, request, username_of(request, profile), bool(every_by_person))

        def on_removal_preview(drawing_id, request: gr.Request, profile: gr.OAuthProfile | None):
            return removal_preview(services, drawing_id, username_of(request, profile))

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
        # The sketchpad's own trash icon leaves no tool selected ("select the draw tool to start"): pick the brush again.
        drawing_input.clear(None, js=SELECT_BRUSH_JS)
        flagged = flag_button.click(on_flag, inputs=[drawing_input, digit_input], outputs=flag_output, api_name="flag", concurrency_limit=None)
        # A retraining round may have swapped the model since the page loaded.
        flagged.then(on_model_description, outputs=model_info, api_visibility="private", show_progress="hidden")
        # A stored flag uses up the digit picked for it: left selected, the next drawing (another digit) would be
        # flagged with it by mistake, a false "fooled" example that counts as training data while validation is off.
        # A refused flag (blank canvas, too many a minute) keeps the pick.
        flagged.success(None, js="() => null", outputs=digit_input, show_progress="hidden")  # in the browser alone
        api_image.change(on_predict, inputs=api_image, outputs=api_label, api_name="predict")

        example_outputs = [example_image, example_question, example_id, vote_status]
        vote_outputs = example_outputs + [corrected_input, reason_input]
        validate_tab.select(on_validate_tab, outputs=example_outputs + [remove_panel], api_visibility="private")
        vote_buttons = [correct_button, incorrect_button, junk_button]
        # In the browser alone (no request): the example shown is the one a maintainer most likely removes, so its
        # id fills the box (and the preview of an id typed before goes); with nothing to validate there is nothing
        # to press (a vote on nothing was an error).
        example_id.change(
            None,
            js="(id) => [id ? id.slice(0, 8) : '', '', ...Array(3).fill({__type__: 'update', interactive: !!id})]",
            inputs=example_id,
            outputs=[remove_id, remove_preview, *vote_buttons],
        )
        # An id a maintainer typed or pasted (not the one filled in: `change` would ask the server at every example,
        # for everyone; Gradio's `input` follows keys alone, so a mouse paste shows on leaving the box): who drew it
        # and how many are theirs, before anything goes. The example shown says so in its question, for a maintainer.
        gr.on(
            [remove_id.input, remove_id.blur, remove_id.submit],
            on_removal_preview,
            inputs=remove_id,
            outputs=remove_preview,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
        remove_button.click(
            on_remove, inputs=[remove_id, remove_reason, remove_every], outputs=example_outputs + [remove_reason, remove_every], api_name="remove", show_progress_on=vote_status
        )
        next_button.click(on_next_example, outputs=example_outputs, api_name="next_example")
        vote_inputs = [example_id, corrected_input, reason_input]
        # show_progress_on: a refused vote (no digit picked, no reason given) shows its message in a toast and
        # marks only the status line; by default Gradio covers every output, the drawing too, with "Error".
        for verdict, button in zip(("correct", "incorrect", "junk"), vote_buttons):
            button.click(on_vote(verdict), inputs=vote_inputs, outputs=vote_outputs, api_name=f"vote_{verdict}", show_progress_on=vote_status)
        attack_views = [original_view, original_label, adversarial_view, adversarial_label, smallest_eps]
        # Progress and a refusal ("Draw a digit first") on the button, not as "Error" over the views.
        attack_button.click(on_attack, inputs=[drawing_input, eps_input], outputs=attack_views, api_name="attack", show_progress_on=attack_button)
        adversary_tab.select(on_attack_quietly, inputs=[drawing_input, eps_input], outputs=attack_views, api_visibility="private")
        eps_input.input(
            on_eps_moved, inputs=[drawing_input, eps_input], outputs=attack_views, api_visibility="private", show_progress="hidden", trigger_mode="always_last"
        )
        rounds_outputs = [rounds_info, rounds_table, rounds_plot, fooled_by_round, contributors, fooled_by_digit, mer_plot]
        rounds_tab.select(on_rounds_tab, outputs=rounds_outputs + [rounds_seen, rounds_timer, shown_tab, hold_panel, rollback_panel], api_visibility="private")
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
        hold_button.click(on_hold, inputs=hold_reason, outputs=rounds_outputs + [hold_reason], api_name="hold_retraining", show_progress_on=hold_button)
        resume_button.click(on_resume, outputs=rounds_outputs + [hold_reason], api_name="resume_retraining", show_progress_on=resume_button)
        rollback_button.click(on_roll_back, inputs=[rollback_to, rollback_reason], outputs=rounds_outputs + [rollback_reason], api_name="rollback", show_progress_on=rollback_button)

        demo.load(None, js=SELECT_BRUSH_JS)
        demo.load(on_model_description, outputs=model_info, api_visibility="private")
    return demo



def warm_up_dashboard(services: Services) -> None:
    """Build the Rounds tab once at start, in the background: its first build runs the newest models on the
    newest rounds' held-out fooling examples (about 2 s on a 50,000-flag store, 2 cores), which the first
    maintainer to open the tab would otherwise wait for. Later builds reuse those predictions."""
    start = time.perf_counter()
    shared_rounds_data(services)
    log.info("Rounds tab ready (built in %.1f s)", time.perf_counter() - start)


def main(argv=None) -> int | None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # One line per HTTP request (each file of a Hub restore or push, Gradio's own calls) would bury the
    # app's own lines: a restore of 40 flags logged 190 of them. Failures still show, as warnings.
    for client in ("httpx", "httpx2"):  # Gradio's HTTP client, huggingface_hub's
        logging.getLogger(client).setLevel(logging.WARNING)
    args = parse_args(argv, __doc__)
    # Here, not in parse_args: deploy_space parses a Space's settings on a laptop, where neither applies.
    if problem := serve_problem(args.host, args.port) or mocked_sign_in_problem(args):
        print(f"app.py: error: {problem}", file=sys.stderr)
        return 2
    # Refuse decompression bombs before they are decoded: twice MAX_SIDE² pixels raises in PIL.
    Image.MAX_IMAGE_PIXELS = MAX_SIDE * MAX_SIDE
    warnings.simplefilter("error", Image.DecompressionBombWarning)
    try:
        state_dir = resolve_state_dir(args.state_dir)
    except OSError as e:  # a file in the way, a folder this user may not create (a Space's /data without storage)
        print(f"app.py: error: --state-dir (DADC_STATE_DIR): cannot use {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    # What the Hub has and this disk lacks. The rounds (a few checkpoints) come back before serving, so
    # people play against the last published round from the start; the flags (two files each: a
    # popular Space has many thousands) come back in the background while the app serves.
    restoring, rounds_back = "", not args.hub_model
    if args.hub_model:
        try:
            restore_rounds(hub_api(args), args.hub_model, state_dir)
            rounds_back = True
        except Exception as e:  # the Hub is down or refuses: serve now, restore in the background
            warn_not_restored(args, e)
            restoring = not_restored_yet(args, e)
    if args.hub_dataset and not restoring:
        restoring = FLAGS_BEING_RESTORED
    live = load_live_model(state_dir)  # trains round 0 first on an empty disk, on every core: nothing is served yet
    # From here on one thread per computation: a 28×28 forward pass gains nothing from more, requests run in
    # parallel, and a round trains in the background on one core while the others serve. Measured on 2 cores
    # while round 0 trained beside single-drawing predictions: on 2 threads it took 21 s and the predictions'
    # p99 rose from 0.2 to 4.4 ms; on 1 thread, 33 s and 0.3 ms.
    torch.set_num_threads(1)
    store, problem = open_store(state_dir, args.hub_dataset)
    flagger = DatasetFlagger(store, live) if store else None
    publisher = start_publisher(args, state_dir)
    on_accepted = publisher.request if publisher else None
    rounds = RoundRunner(state_dir, store, live, args.retrain_threshold, args.validation_votes, RoundConfig(method=args.retrain_method, start=args.retrain_from, max_held_out_drop=args.max_held_out_drop, max_robust_drop=args.max_robust_drop), on_accepted) if store else None
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
    services = Services(live, store, flagger, args.validation_votes, maintainers, problem, state_dir, rounds, publisher, sign_in, flag_limit, REQUIRE_SIGN_IN[args.require_sign_in], flag_sync=sync)
    freeze_loaded_objects()
    if rounds is not None:
        rounds.maybe_start()  # examples that came in before a restart still count
    threading.Thread(target=warm_up_dashboard, args=(services,), name="dashboard-warm-up", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # run the final Hub push on `kill`
    log.info("%s", startup_summary(args, services))
    demo = build_demo(services, upload_cache_schedule(args.keep_uploads_hours))
    try:
        demo.queue(default_concurrency_limit=8).launch(server_name=args.host, server_port=args.port, css=CSS, head=PHONE_MARGINS, show_error=True, max_file_size=MAX_UPLOAD)
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
