"""A maintainer removes a drawing for good (an offensive one, one whose author asks): from the Validate
tab, signed in with Hugging Face as on a Space (the real OAuth flow against tests/oauth_provider.py),
with the id its receipt shows; the app's push then takes it out of the Hub dataset (the local Hub).
Nobody else can remove anything, by the page or the API."""

import re

import pytest
from gradio_client import Client
from playwright.sync_api import expect

from flagging.store import FlagStore
from tests.app_process import running_app
from tests.browser import browser, open_maintainer_panel, sign_in
from tests.conftest import flag_as_people_would
from tests.hub_server import LocalHub
from tests.oauth_provider import OAuthProvider
from tests.test_hub_restore import push_flags
from tests.test_hub_sync import REPO


def test_a_signed_in_maintainer_removes_a_drawing_for_good_and_nobody_else_can(fresh_state, hard_examples):
    flag_as_people_would(fresh_state, hard_examples, 2)  # two people's fooling examples
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    records = dict(store.records)
    store.close()
    with LocalHub() as hub, OAuthProvider("mia") as provider:
        push_flags(fresh_state / "flags", hub)  # the Hub dataset already holds both
        shown, other = remove_one_from_the_validate_tab(fresh_state, records, hub, provider)
        on_hub = hub.files[f"datasets/{REPO}"]  # the app's final push at stop: its removal commit included
        assert not any(shown.id in path for path in on_hub) and shown.id.encode() not in on_hub[f"data/{shown.shard}/metadata.jsonl"]
        assert any(other.id in path for path in on_hub) and on_hub[f"data/{shown.shard}/metadata.jsonl"] == (fresh_state / "flags" / "data" / shown.shard / "metadata.jsonl").read_bytes()

    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    assert list(store.records) == [other.id]
    assert [(r.flag_id, r.reason, r.username) for r in store.removals] == [(shown.id, "offensive", "mia")]
    assert sorted(p.name for p in (store.data_dir / shown.shard).iterdir() if shown.id in p.name) == []  # its files are gone
    assert shown.id not in (store.data_dir / shown.shard / "metadata.jsonl").read_text()
    store.close()


def remove_one_from_the_validate_tab(fresh_state, records, hub, provider):
    """Mia, signed in as a maintainer, removes the drawing the Validate tab shows her; (removed, the other)."""
    hub_args = ("--hub-dataset", REPO, "--hub-endpoint", hub.url, "--push-every-minutes", "60")
    env = provider.space_env() | {"HF_TOKEN": "hf_removal_test_token", "HF_HUB_DISABLE_XET": "1"}
    with running_app(fresh_state, "--maintainers", "mia", *hub_args, env=env) as url, browser() as new_page:
        stranger = new_page(url)  # not signed in: no removal panel, and the API refuses
        stranger.get_by_role("tab", name="Validate").click()
        expect(stranger.locator("#question")).to_contain_text("Is this", timeout=15_000)
        expect(stranger.locator("#remove-panel")).to_be_hidden()
        assert "read as" not in stranger.locator("#question").inner_text()  # who drew it is for maintainers
        with pytest.raises(Exception, match="Only a maintainer"):
            Client(url, verbose=False).predict(next(iter(records))[:8], "spite", api_name="/remove")

        page = new_page(url)
        sign_in(page)  # to the provider and back, as on a Space
        page.get_by_role("tab", name="Validate").click()
        expect(page.locator("#question")).to_contain_text("Is this", timeout=15_000)
        panel = page.locator("#remove-panel")
        expect(panel).to_be_visible(timeout=15_000)
        panel.get_by_text("Maintainers: remove a drawing for good").click()  # open the accordion
        drawing_id = page.locator("#remove-id textarea, #remove-id input").first
        expect(drawing_id).to_have_value(re.compile("^[0-9a-f]{8}$"), timeout=15_000)  # the example shown
        shown = next(r for i, r in records.items() if i.startswith(drawing_id.input_value()))
        other = next(r for r in records.values() if r.id != shown.id)

        page.locator("#remove").click()  # no reason given: refused, nothing removed
        expect(page.get_by_text("Say why it goes").first).to_be_visible(timeout=15_000)
        page.locator("#remove-reason textarea, #remove-reason input").first.fill("offensive")
        page.locator("#remove").click()
        expect(page.locator("#vote-status")).to_contain_text(f"Removed {shown.id[:8]} for good (offensive)", timeout=15_000)
        expect(page.locator("#vote-status")).to_contain_text("Its copy in the Hub dataset goes at the next push")
        expect(page.locator("#question")).to_contain_text(f"Is this {'an' if other.label == 8 else 'a'} {other.label}?")  # on to the other one
        expect(drawing_id).to_have_value(other.id[:8])
        with pytest.raises(Exception, match="A maintainer removed this drawing: press Next example"):
            Client(url, verbose=False).predict(shown.id, None, "", api_name="/vote_correct")  # a vote on it comes too late
        stranger.get_by_role("button", name="Next example").click()  # every open page stops showing it
        expect(stranger.locator("#question")).to_contain_text(f"{other.label}?", timeout=15_000)
        assert provider.logins == ["mia"]
    return shown, other


def test_a_maintainer_removes_every_drawing_of_a_vandal_at_once_from_the_command_line(state_with_round1):
    """One vandalised drawing leads to all its author's (`--person-of`, signed in or not) or a signed-in
    name's (`--author`); `--dry-run` lists them first. The command says which live model learned from
    them and the round to roll back to, since removing a drawing cannot take back what a model learned."""
    import json

    from tests.test_store import fields, png, remove_from_the_command_line
    from training.rounds import latest_model_dir, people_example_ids_of

    state = state_with_round1
    store = FlagStore(state / "flags", state / "locks")
    vandal = [store.append(fields(label=(d + 1) % 10, prediction=d, session=f"troll-{d}", username="troll"), png(100 + d), png(200 + d))[0] for d in range(5)]
    bystander = store.append(fields(session="s9", username="ana"), png(300), png(301))[0]
    store.close()
    flags = sorted(p.relative_to(state) for p in (state / "flags").rglob("*"))

    def remove(*args):
        return remove_from_the_command_line(state, *args)

    listed = remove("--author", "troll", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert [line.split(":")[0] for line in listed.stdout.splitlines()[:-1]] == [f"would remove {r.id[:8]}" for r in vandal]
    assert "5 drawings (5 fooled the model); nothing removed (--dry-run)" in listed.stdout
    refused = [
        remove("--author", "troll"),  # no reason
        remove(vandal[0].id[:8], "--author", "troll", "--reason", "vandalism"),  # named two ways
        remove("--author", "trol", "--reason", "vandalism"),  # a typo matches nobody
        remove(vandal[0].id[:8], "00000000", "--reason", "vandalism"),  # one unknown id: none of them goes
    ]
    assert [r.returncode for r in refused] == [2, 2, 2, 2]
    assert "required: --reason" in refused[0].stderr and "name the drawings one way" in refused[1].stderr
    assert "no stored drawing was flagged by the signed-in name 'trol'" in refused[2].stderr and "no stored drawing has the id 00000000" in refused[3].stderr
    assert sorted(p.relative_to(state) for p in (state / "flags").rglob("*")) == flags  # nothing recorded, nothing deleted

    removed = remove("--person-of", vandal[2].id[:8], "--reason", "vandalised labels", "--by", "mo")
    assert removed.returncode == 0, removed.stderr
    assert "5 drawings removed for good (5 had fooled the model)" in removed.stdout and "their lines and images are all gone" in removed.stdout
    assert "was trained on" not in removed.stdout  # no model learned from them
    store = FlagStore(state / "flags", state / "locks")
    assert bystander.id in store.records and not {r.id for r in vandal} & set(store.records)
    assert [(r.flag_id, r.reason, r.username) for r in store.removals] == [(r.id, "vandalised labels", "mo") for r in vandal]

    # An anonymous person's drawing that round 1 (the live model) was trained on: the command says so.
    trained = people_example_ids_of(json.loads((latest_model_dir(state) / "metadata.json").read_text()))
    learned = next(r for r in store.records.values() if r.id in trained)
    store.close()
    removed = remove("--person-of", learned.id, "--reason", "its author asked")
    assert removed.returncode == 0, removed.stderr
    assert f"removed {learned.id[:8]} for good: a {learned.label} read as {learned.prediction}" in removed.stdout and "by an anonymous session" in removed.stdout
    assert "round 1 was trained on it and keeps what it learned" in removed.stdout
    assert 'round 0 is the newest model that never saw it, and `python -m training.rollback --to 0 --reason "..."` puts it back live' in removed.stdout


def test_a_signed_in_maintainer_removes_every_drawing_of_a_vandal_from_the_validate_tab(state_with_round1):
    """The box takes every drawing of the person who drew the one named (here a signed-in vandal's three),
    and unticks itself; a drawing the live model was trained on is removed with a note naming the round to
    roll back to."""
    import json

    from tests.test_store import fields, png
    from training.rounds import latest_model_dir, people_example_ids_of

    state = state_with_round1
    store = FlagStore(state / "flags", state / "locks")
    vandal = [store.append(fields(label=(d + 1) % 10, prediction=d, session=f"troll-{d}", username="troll"), png(100 + d), png(200 + d))[0] for d in range(3)]
    trained = people_example_ids_of(json.loads((latest_model_dir(state) / "metadata.json").read_text()))
    learned = next(r for r in store.records.values() if r.id in trained)
    others = set(store.records) - {r.id for r in vandal} - {learned.id}
    store.close()
    with OAuthProvider("mia") as provider, running_app(state, "--maintainers", "mia", env=provider.space_env()) as url, browser() as new_page:
        page = new_page(url)
        sign_in(page)
        open_maintainer_panel(page, "Validate", "remove-panel", "Maintainers: remove a drawing for good")
        drawing_id = page.locator("#remove-id textarea, #remove-id input").first
        expect(drawing_id).to_have_value(re.compile("^[0-9a-f]{8}$"), timeout=15_000)
        # A maintainer's question says who drew the example shown and how many drawings are theirs.
        expect(page.locator("#question")).to_contain_text(re.compile(r"Is this an? \d\?\s+[0-9a-f]{8}: a \d read as \d, flagged .+ UTC against round \d by "))
        every = page.locator("#remove-every input")
        reason = page.locator("#remove-reason textarea, #remove-reason input").first

        preview = page.locator("#remove-preview")
        drawing_id.fill("")
        drawing_id.press_sequentially("0000000z")  # typed
        expect(preview).to_contain_text("no stored drawing has the id 0000000z.", timeout=15_000)
        drawing_id.fill(vandal[1].id[:8])  # pasted: shown on leaving the box, before anything goes
        reason.fill("vandalised labels")
        expect(preview).to_contain_text(f"{vandal[1].id[:8]}: a 2 read as 1, flagged ", timeout=15_000)
        expect(preview).to_contain_text("against round 0 by troll, one of their 3 drawings (3 fooled the model).")
        every.check()
        page.locator("#remove").click()
        expect(page.locator("#vote-status")).to_contain_text(f"Removed 3 drawings by troll for good (vandalised labels), {vandal[1].id[:8]} among them", timeout=15_000)
        expect(every).not_to_be_checked()  # the next removal is one drawing unless ticked again
        assert "Note:" not in page.locator("#vote-status").inner_text()  # no model learned from them

        drawing_id.fill(learned.id[:8])
        reason.fill("its author asked")
        expect(preview).to_contain_text("by an anonymous session, their only drawing.", timeout=15_000)
        page.locator("#remove").click()
        expect(page.locator("#vote-status")).to_contain_text(f"Removed {learned.id[:8]} for good (its author asked)", timeout=15_000)
        expect(page.locator("#vote-status")).to_contain_text(
            "Note: round 1 was trained on it and keeps what it learned (no later round trains on it): round 0 is the newest model that never saw it; the Rounds tab's rollback panel puts that round back live."
        )
    store = FlagStore(state / "flags", state / "locks")
    assert set(store.records) == others  # the vandal's three and the one asked for: nobody else's
    assert sorted((r.flag_id, r.reason) for r in store.removals) == sorted([(r.id, "vandalised labels") for r in vandal] + [(learned.id, "its author asked")])
    store.close()


def test_a_round_that_trained_on_drawings_removed_meanwhile_never_goes_live(fresh_state, hard_examples, round0):
    """The vandal's drawings were already in a round's batches when the maintainer removed them: the
    candidate learned them, so it is refused, and the next attempt trains without them."""
    import threading
    import time

    from model.predict import LiveModel
    from training.round_lock import round_training
    from training.rounds import RoundConfig, RoundRunner, read_rounds_log, training_labels_now
    from training.rounds import main as run_round_cli

    flag_as_people_would(fresh_state, hard_examples, 10)
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    try:
        rounds = RoundRunner(fresh_state, store, LiveModel(*round0), threshold=10, votes_required=0)
        assert rounds.maybe_start()
        deadline = time.monotonic() + 60
        while not round_training(fresh_state):  # its examples are loaded once it holds the lock
            assert rounds.running and time.monotonic() < deadline
            time.sleep(0.01)
        maintainer = FlagStore(fresh_state / "flags", fresh_state / "locks")  # as flagging.remove would, in another process
        vandalised = sorted(maintainer.records.values(), key=lambda r: r.created_at)[:2]
        maintainer.remove_many([r.id for r in vandalised], "vandalised labels", "mo")
        maintainer.close()
        rounds._thread.join(timeout=120)
        assert rounds.live_round == 0
        [entry] = read_rounds_log(fresh_state)
        assert not entry["accepted"] and not (fresh_state / "checkpoints" / "round-1").exists()
        assert f"2 of its {entry['n_train_examples']} training examples were removed, voted junk or relabelled while it trained" in entry["gate_failures"][-1]
        assert "was rejected: " in rounds.status() and "removed, voted junk or relabelled while it trained" in rounds.status()
    finally:
        store.close()

    # The same for a round run by hand (`python -m training.rounds`), from the 8 drawings left.
    exit_code = []
    by_hand = threading.Thread(target=lambda: exit_code.append(run_round_cli(["--state-dir", str(fresh_state)])))
    by_hand.start()
    deadline = time.monotonic() + 60
    while not round_training(fresh_state):
        assert by_hand.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    maintainer = FlagStore(fresh_state / "flags", fresh_state / "locks")
    maintainer.remove(next(iter(training_labels_now(maintainer, fresh_state, 0, RoundConfig.holdout_every))), "vandalised labels", "mo")
    maintainer.close()
    by_hand.join(timeout=120)
    assert exit_code == [1] and [e["accepted"] for e in read_rounds_log(fresh_state)] == [False, False]
    failures = read_rounds_log(fresh_state)[-1]["gate_failures"]
    assert any(re.match(r"1 of its \d+ training examples were removed", f) for f in failures), failures
