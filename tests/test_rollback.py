"""A maintainer's tools for a bad round: rolling the live model back to an earlier round (`python -m
training.rollback`: a new round that holds the earlier round's weights, seen by the CLI, a serving app and
the Hub), and holding retraining meanwhile (`python -m training.hold`), from the command line and the Rounds tab."""

import fcntl
import json
import os
import threading
import time

import pytest
from gradio_client import Client
from playwright.sync_api import expect

from flagging.store import FlagStore
from model.checkpoint import load_checkpoint
from model.predict import LiveModel
from tests.app_process import running_app
from tests.browser import browser, sign_in
from tests.conftest import copy_of_round0_state, flag_as_people_would
from tests.flag_clients import distinct_drawing, flag
from tests.hub_server import LocalHub
from tests.oauth_provider import OAuthProvider
from tests.test_publish import REPO, publish_cli
from tests.test_rounds import rounds_view
from training.hold import HOLD_FILE
from training.hold import main as hold
from training.rollback import main as rollback
from training.round_lock import round_training
from training.rounds import RoundBusy, RoundRunner, exclusive_round, latest_model_dir, people_example_ids_of, read_rounds_log
from training.rounds import main as run_round_cli

WHY = "round 1 learned vandalised labels"


def weights(state, round_):
    return (state / "checkpoints" / f"round-{round_}" / "model.safetensors").read_bytes()


def test_a_rollback_is_a_new_round_holding_the_earlier_weights_and_the_next_round_learns_again(state_with_round1, capsys):
    state = state_with_round1
    round1 = weights(state, 1)
    assert rollback(["--state-dir", str(state), "--to", "0", "--reason", WHY, "--by", "ana"]) == 0
    out = capsys.readouterr().out
    assert "round 2 is round 0's model, live in place of round 1" in out
    assert "held-out people's examples" in out and "on 8 (" in out  # measured on the held-out people, against round 1

    # Nothing of round 1 is lost; round 2 is round 0's weights, unchanged, and says why.
    assert weights(state, 2) == weights(state, 0) and weights(state, 1) == round1
    assert latest_model_dir(state) == state / "checkpoints" / "round-2"
    entries = read_rounds_log(state)
    assert [(e["round"], e["accepted"]) for e in entries] == [(1, True), (2, True)]
    assert entries[1].items() >= {"parent_round": 1, "restores": 0, "reason": WHY, "by": "ana"}.items() and entries[1]["gate_failures"] == []
    assert entries[1]["metrics"]["mnist_test_accuracy"] == json.loads((state / "checkpoints/round-0/metadata.json").read_text())["metrics"]["mnist_test_accuracy"]
    assert entries[1]["parent_metrics"]["held_out_examples"] == entries[1]["metrics"]["held_out_examples"] == 8
    metadata = json.loads((state / "checkpoints/round-2/metadata.json").read_text())
    assert metadata["round"] == 2 and metadata["parent"] == 1 and metadata["restores"] == 0
    assert people_example_ids_of(metadata) == frozenset()  # what round 0 learned: no people's examples

    # The next round starts from round 2 and learns what round 0 had not: round 1's examples are new to it.
    assert run_round_cli(["--state-dir", str(state)]) == 0
    round3 = read_rounds_log(state)[-1]
    assert round3["round"] == 3 and round3["parent_round"] == 2 and round3["accepted"] and round3["n_train_examples"] == 32
    # Once round 3 is live, the Rounds tab's status still says which row holds an earlier round's model.
    store = FlagStore(state / "flags", state / "locks")
    try:
        status = RoundRunner(state, store, LiveModel(*load_checkpoint(latest_model_dir(state))), threshold=10, votes_required=0).status()
    finally:
        store.close()
    assert status.startswith("Round 3 is live. Fooling examples this round: 0 of 10") and status.endswith(f" Rolled back: round 2 is round 0's model again ({WHY})."), status


def test_a_rollback_that_cannot_be_done_says_why_and_writes_nothing(state_with_round1, state_dir, tmp_path, capsys):
    state = state_with_round1
    before = (state / "rounds.jsonl").read_bytes()
    refused = {
        ("--to", "1"): "round 1 is the live model already",
        ("--to", "4"): "round 4 never went live (or its checkpoint is gone): roll back to one of rounds 0",
    }
    for args, message in refused.items():
        assert rollback(["--state-dir", str(state), *args, "--reason", WHY]) == 2
        assert f"error: {message}; nothing rolled back" in capsys.readouterr().err
    with exclusive_round(state):  # a round training meanwhile would fork the lineage
        assert rollback(["--state-dir", str(state), "--to", "0", "--reason", WHY]) == 2
    assert "another process is training a round" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        rollback(["--state-dir", str(state), "--to", "0", "--reason", "  "])
    assert "argument --reason: must say why" in capsys.readouterr().err
    assert (state / "rounds.jsonl").read_bytes() == before
    assert sorted(p.name for p in (state / "checkpoints").iterdir()) == ["round-0", "round-1"]

    untrained = copy_of_round0_state(state_dir, tmp_path / "untrained")
    assert rollback(["--state-dir", str(untrained), "--to", "0", "--reason", WHY]) == 2
    assert "no round has been trained there" in capsys.readouterr().err
    assert sorted(p.name for p in untrained.iterdir()) == ["checkpoints", "mnist"]
    rejected = {"round": 1, "parent_round": 0, "accepted": False, "gate_failures": ["MNIST test accuracy fell 0.40 points"]}
    (untrained / "rounds.jsonl").write_text(json.dumps(rejected) + "\n")  # a round was tried, and refused
    assert rollback(["--state-dir", str(untrained), "--to", "0", "--reason", WHY]) == 2
    assert "only round 0 has gone live: there is no earlier round to roll back to" in capsys.readouterr().err
    assert sorted(p.name for p in (untrained / "checkpoints").iterdir()) == ["round-0"]


def test_a_serving_app_serves_the_rolled_back_round_and_says_so(state_with_round1, tmp_path):
    state = state_with_round1
    with LocalHub() as hub:
        assert publish_cli(state, hub).returncode == 0  # rounds 0 and 1 are on the Hub
        assert hold(["--state-dir", str(state), "--reason", "taking vandalised drawings out", "--by", "ana"]) == 0  # as a maintainer would first
        output = []
        with running_app(state, "--retrain-threshold", "100", output=output) as url:
            client = Client(url, verbose=False)
            assert rounds_view(client)[0].startswith("Round 1 is live.")
            assert rollback(["--state-dir", str(state), "--to", "0", "--reason", WHY, "--by", "ana"]) == 0
            status, table = rounds_view(client)
            assert status.startswith(f"Round 2 is live (round 0's model again, rolled back by ana: {WHY}). Fooling examples this round: 0 of 100"), status
            assert set(table) == {0, 1, 2}
            shown = rounds_view(client, shown=True)[1]  # the page names the rollback's row; the API keeps the numbers
            assert [shown[r]["round"] for r in (0, 1, 2)] == ["0", "1", "2 (round 0 again)"]
            assert [shown[r]["trained (people's examples)"] for r in (0, 1, 2)] == ["MNIST only", "fine-tuned (32)", "round 0's model"]
            matrix = client.predict(api_name="/rounds")[3]  # every model on each round's fooling examples: round 2 reads them as round 0 does
            assert [row[0] for row in matrix["metadata"]["display_value"]] == ["0", "1", "2 (round 0 again)"] and matrix["data"][2][1] == matrix["data"][0][1]
            flag(client, distinct_drawing(1, tmp_path / "one.png"), "7")
        summary = next(line for line in output[0].splitlines() if "dadc.app INFO serving round" in line)
        assert "retraining after 100 fooling examples (fine-tuning the live model below 150 examples to learn, then a new model from scratch, standard); retraining held by ana since " in summary, summary
        assert "UTC: taking vandalised drawings out; validation: off" in summary, summary
        assert f"round 2 is live (round 0's model again, rolled back by ana: {WHY})" in output[0]
        store = FlagStore(state / "flags", state / "locks")
        assert max(r.model_round for r in store.records.values()) == 2  # collected against the rolled-back model
        store.close()

        out = publish_cli(state, hub)
        assert out.returncode == 0 and "published rounds [2]" in out.stdout, out.stdout + out.stderr
        key = f"models/{REPO}"
        assert hub.heads[key] == hub.tags[key]["round-2"]  # main is round 0's model again
        assert hub.files[key]["model.safetensors"] == weights(state, 0)
        card = hub.files[key]["README.md"].decode()
        assert "| 2 (round 0 again) | " in card and "is a rollback" in card
        assert "| round 0's model |" in next(line for line in card.splitlines() if line.startswith("| 2 "))
        assert f"Round 2: round 0's model again (rolled back: {WHY})" in hub.commits[-1]["message"]


def test_a_signed_in_maintainer_holds_retraining_and_rolls_back_from_the_rounds_tab_and_nobody_else_can(state_with_round1):
    state = state_with_round1
    with OAuthProvider("mia") as provider, running_app(state, "--maintainers", "mia", "--retrain-threshold", "100", env=provider.space_env()) as url, browser() as new_page:
        stranger = new_page(url)  # not signed in: no rollback panel, and the API refuses
        stranger.get_by_role("tab", name="Rounds").click()
        expect(stranger.locator("#rounds-status")).to_contain_text("Round 1 is live.", timeout=15_000)
        expect(stranger.locator("#rollback-panel")).to_be_hidden()
        expect(stranger.locator("#hold-panel")).to_be_hidden()
        stranger_api = Client(url, verbose=False)
        with pytest.raises(Exception, match="Only a maintainer"):
            stranger_api.predict(0, "spite", api_name="/rollback")
        with pytest.raises(Exception, match="Only a maintainer"):
            stranger_api.predict("spite", api_name="/hold_retraining")
        assert not (state / HOLD_FILE).exists()

        page = new_page(url)
        sign_in(page)  # to the provider and back, as on a Space
        page.get_by_role("tab", name="Rounds").click()
        hold_panel = page.locator("#hold-panel")
        expect(hold_panel).to_be_visible(timeout=15_000)
        hold_panel.get_by_text("Maintainers: hold retraining").click()  # open the accordion
        page.locator("#hold").click()  # no reason given: refused, nothing held
        expect(page.get_by_text("Say why (e.g. 'taking vandalised drawings out')").first).to_be_visible(timeout=15_000)
        assert not (state / HOLD_FILE).exists()
        page.locator("#hold-reason textarea, #hold-reason input").first.fill("taking vandalised drawings out")
        page.locator("#hold").click()
        held = "Retraining is held by mia since "
        expect(page.locator("#rounds-status")).to_contain_text(held, timeout=15_000)
        expect(page.locator("#rounds-status")).to_contain_text("UTC: taking vandalised drawings out; no round starts until a maintainer resumes it.")
        expect(stranger.locator("#rounds-status")).to_contain_text(held, timeout=20_000)  # every open tab follows
        assert json.loads((state / HOLD_FILE).read_text())["by"] == "mia"

        panel = page.locator("#rollback-panel")
        expect(panel).to_be_visible(timeout=15_000)
        panel.get_by_text("Maintainers: roll back to an earlier round").click()  # open the accordion
        page.locator("#rollback-reason textarea, #rollback-reason input").first.fill(WHY)
        page.locator("#rollback-to input").fill("0.5")  # no round 0.5: refused, never rounded to one
        page.locator("#rollback").click()
        expect(page.get_by_text("Give the round whose model goes live again: a whole number, 0 or more.").first).to_be_visible(timeout=15_000)
        page.locator("#rollback-to input").fill("1")
        page.locator("#rollback").click()  # round 1 is the live one: refused, nothing written
        expect(page.get_by_text("Nothing rolled back: round 1 is the live model already").first).to_be_visible(timeout=15_000)
        assert len(read_rounds_log(state)) == 1
        page.locator("#rollback-to input").fill("0")
        page.locator("#rollback").click()
        expect(page.locator("#rounds-status")).to_contain_text(f"Round 2 is live (round 0's model again, rolled back by mia: {WHY}).", timeout=30_000)
        expect(page.get_by_text("Rolled back: round 2, round 0's model again, is live.").first).to_be_visible()  # beside the button too (a phone shows no status there)
        expect(page.locator("#rollback-reason textarea, #rollback-reason input").first).to_have_value("")
        expect(stranger.locator("#rounds-status")).to_contain_text("Round 2 is live (round 0's model again", timeout=20_000)  # its open tab follows
        expect(page.locator("#rounds-plot")).to_contain_text("2 (rollback)", timeout=20_000)  # the plot marks it too
        axis_labels = page.locator("#rounds-plot .role-axis-label text").evaluate_all("labels => labels.map(l => l.textContent)")
        assert axis_labels[:3] == ["0", "1", "2 (rollback)"], axis_labels
        expect(page.locator("#rounds-status")).to_contain_text(held)  # the hold outlives the rollback
        page.locator("#resume").click()
        expect(page.get_by_text("Retraining resumed: the next round starts when it is due.").first).to_be_visible(timeout=15_000)
        expect(page.locator("#rounds-status")).not_to_contain_text("held")
        assert not (state / HOLD_FILE).exists()
        page.locator("#resume").click()  # twice: nothing to resume
        expect(page.get_by_text("Retraining is not held: nothing to resume.").first).to_be_visible(timeout=15_000)
    entry = read_rounds_log(state)[-1]
    assert (entry["round"], entry["restores"], entry["by"], entry["reason"]) == (2, 0, "mia", WHY)
    assert weights(state, 2) == weights(state, 0)


def test_no_round_starts_while_a_rollback_runs_and_no_rollback_starts_while_a_round_trains(fresh_state, hard_examples, round0):
    """The page's rollback pauses the app's retraining: a round trained meanwhile would start from the
    model being replaced (refused as stale, and counted as a crash that delays the next attempt)."""
    flag_as_people_would(fresh_state, hard_examples, 10)
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    try:
        rounds = RoundRunner(fresh_state, store, LiveModel(*round0), threshold=10, votes_required=0)
        assert rounds.nothing_to_learn() == ""  # a round is due and would start
        with rounds.paused_for("a maintainer is rolling back"):
            assert not rounds.maybe_start() and not rounds.running
            assert rounds.status() == "Round 0 is live. Retraining is paused: a maintainer is rolling back."
        assert rounds.paused == ""
        assert rounds.maybe_start()  # afterwards it starts as ever
        with pytest.raises(RoundBusy, match="a round is training now: try again when it ends"):
            with rounds.paused_for("a maintainer is rolling back"):
                pass
        rounds._thread.join(timeout=120)
    finally:
        store.close()
    assert [e["round"] for e in read_rounds_log(fresh_state)] == [1]


def test_a_hold_keeps_a_due_round_from_starting_until_it_is_resumed(fresh_state, hard_examples, round0, capsys):
    flag_as_people_would(fresh_state, hard_examples, 10)
    with pytest.raises(SystemExit):
        hold(["--state-dir", str(fresh_state), "--reason", " "])
    assert "argument --reason: must say why" in capsys.readouterr().err
    assert hold(["--state-dir", str(fresh_state), "--resume"]) == 2  # not held: nothing to resume
    assert "retraining is not held" in capsys.readouterr().err
    assert hold(["--state-dir", str(fresh_state / "typo"), "--reason", "cleaning up"]) == 2
    assert not (fresh_state / "typo").exists()

    assert hold(["--state-dir", str(fresh_state), "--reason", "taking vandalised drawings out", "--by", "ana"]) == 0
    assert "retraining held by ana since " in capsys.readouterr().out
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    try:
        rounds = RoundRunner(fresh_state, store, LiveModel(*round0), threshold=10, votes_required=0)
        assert rounds.nothing_to_learn() == ""  # 10 of 10 fooling examples, new ones to learn: due
        assert not rounds.maybe_start() and not rounds.maybe_start(after_vote=True) and not rounds.running
        status = rounds.status()
        assert status.startswith("Round 0 is live. Fooling examples this round: 10 of 10 needed to retrain. Retraining is held by ana since "), status
        assert status.endswith("UTC: taking vandalised drawings out; no round starts until a maintainer resumes it."), status
        assert rounds.progress_note() == "Retraining is paused for now; this example counts toward the next round."
        assert hold(["--state-dir", str(fresh_state), "--resume"]) == 0
        assert rounds.maybe_start()  # due, and no longer held
        rounds._thread.join(timeout=120)
    finally:
        store.close()
    assert [e["round"] for e in read_rounds_log(fresh_state)] == [1]


def test_a_hold_during_a_training_round_says_that_round_goes_on_and_no_later_round_starts(fresh_state, hard_examples, round0, capsys):
    """Held while a round trains (the maintainer saw vandalised drawings as the round started): the hold
    cannot pretend to stop it. The CLI and the Rounds tab say it goes on and how to undo it."""
    flag_as_people_would(fresh_state, hard_examples, 10)
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    try:
        rounds = RoundRunner(fresh_state, store, LiveModel(*round0), threshold=10, votes_required=0)
        assert not round_training(fresh_state)
        assert rounds.maybe_start()
        deadline = time.monotonic() + 60
        while not round_training(fresh_state):  # the round takes the lock once its examples are loaded
            assert rounds.running and time.monotonic() < deadline
            time.sleep(0.01)
        assert hold(["--state-dir", str(fresh_state), "--reason", "taking vandalised drawings out", "--by", "ana"]) == 0
        out = capsys.readouterr().out
        assert "retraining held by ana since " in out and "note: the round training now is not stopped, but a drawing it learned that is removed or voted junk before it ends keeps it from going live" in out
        status = rounds.status()
        assert status.startswith("Retraining: a round-1 candidate is being trained and checked; round 0 keeps serving meanwhile. Retraining is held by ana since "), status
        assert "once it is live, roll it back instead. No later round starts until a maintainer resumes retraining." in status
        rounds._thread.join(timeout=120)
        assert not round_training(fresh_state)
        log_entries = read_rounds_log(fresh_state)
        assert [(e["round"], e["accepted"]) for e in log_entries] == [(1, True)], log_entries[-1]["gate_failures"]
        assert rounds.live_round == 1, rounds.status()
        assert hold(["--state-dir", str(fresh_state), "--reason", "still at it"]) == 0
        assert "note:" not in capsys.readouterr().out  # nothing training now: nothing to warn of
    finally:
        store.close()


def test_probing_for_a_training_round_never_makes_a_round_starting_at_that_instant_fail(fresh_state):
    (fresh_state / "locks").mkdir(exist_ok=True)
    lock = os.open(fresh_state / "locks" / "rounds.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_SH)  # as round_training's probe does, for 0.1 s instead of an instant
    threading.Timer(0.1, os.close, args=(lock,)).start()
    with exclusive_round(fresh_state):  # waits the probe out instead of raising RoundBusy
        assert round_training(fresh_state)
    assert not round_training(fresh_state)
