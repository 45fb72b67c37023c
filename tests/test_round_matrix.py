"""Every round's model on each round's held-out fooling examples, on a real store and real rounds."""

import json

import numpy as np
import pytest

from flagging.store import FlagStore
from model.checkpoint import load_checkpoint
from tests.conftest import flag_as_people_would
from training.evaluate import images_to_tensor, predict_classes
from training.round_matrix import main, round_matrix


def test_each_column_holds_the_held_out_examples_that_fooled_that_rounds_model(state_with_round1, hard_examples, capsys):
    images, labels, _ = hard_examples
    round1, _ = load_checkpoint(state_with_round1 / "checkpoints" / "round-1")
    later = slice(40, 140)  # hard examples round 1 was never trained on, flagged against round 1
    predictions = predict_classes(round1, images_to_tensor(images[later])).numpy()
    flag_as_people_would(state_with_round1, (images[later], labels[later], predictions), 100, model_round=1)

    store = FlagStore(state_with_round1 / "flags", state_with_round1 / "locks")
    try:
        matrix = round_matrix(state_with_round1, store, votes_required=0)
    finally:
        store.close()

    # Each example is its own person, and every 5th person of the 140 is held out: 8 of round 0's 40, 20 of round 1's 100,
    # of which only those round 1 got wrong fooled it; the ones it read right are in no column.
    fooled_round1 = [i for i in range(100) if (40 + i) % 5 == 4 and predictions[i] != labels[40 + i]]
    assert 0 < len(fooled_round1) < 20
    assert matrix["examples"] == {0: 8, 1: len(fooled_round1)}
    assert set(matrix["accuracy"]) == {0, 1}
    # a model reads none of the examples that fooled it
    assert matrix["accuracy"][0][0] == 0.0 and matrix["accuracy"][1][1] == 0.0
    # round 1 on round 0's held-out fooling examples, computed here from MNIST directly
    held_out = images_to_tensor(images[4:40:5])
    expected = (predict_classes(round1, held_out).numpy() == labels[4:40:5]).mean()
    assert matrix["accuracy"][1][0] == round(float(expected), 5)
    round0, _ = load_checkpoint(state_with_round1 / "checkpoints" / "round-0")
    on_round1_column = predict_classes(round0, images_to_tensor(images[[40 + i for i in fooled_round1]])).numpy()
    assert matrix["accuracy"][0][1] == round(float(np.mean(on_round1_column == labels[[40 + i for i in fooled_round1]])), 5)

    assert main(["--state-dir", str(state_with_round1)]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(matrix))

    # The dashboard's view, the newest round alone: its model on its round's examples, the same figure.
    store = FlagStore(state_with_round1 / "flags", state_with_round1 / "locks")
    try:
        newest = round_matrix(state_with_round1, store, votes_required=0, newest=1)
    finally:
        store.close()
    assert newest == {"examples": {1: len(fooled_round1)}, "accuracy": {1: {1: 0.0}}, "unreadable": {}}


def matrix_of(state, predictions=None):
    store = FlagStore(state / "flags", state / "locks")
    try:
        return round_matrix(state, store, votes_required=0, predictions=predictions)
    finally:
        store.close()


def test_the_dashboards_rebuild_after_new_flags_reads_only_the_new_examples(state_with_round1, hard_examples):
    images, labels, _ = hard_examples
    cache = {}  # what the app keeps between rebuilds of the Rounds tab
    before = matrix_of(state_with_round1, cache)
    assert before["examples"] == {0: 8}
    round1, _ = load_checkpoint(state_with_round1 / "checkpoints" / "round-1")
    later = slice(40, 140)
    flag_as_people_would(state_with_round1, (images[later], labels[later], predict_classes(round1, images_to_tensor(images[later])).numpy()), 100, model_round=1)
    expected = matrix_of(state_with_round1)  # from scratch

    # The 8 examples seen before are not read again: the rebuild works even with their stored inputs gone.
    for path in (state_with_round1 / "flags" / "data").glob("*/*-input.png"):
        if path.name.removesuffix("-input.png") in cache[0]:
            path.unlink()
    with pytest.raises(FileNotFoundError):
        matrix_of(state_with_round1)  # (without the cache it must read them)
    after = matrix_of(state_with_round1, cache)
    assert after == expected and set(after["examples"]) == {0, 1}
    assert set(cache) == {0, 1} and all(len(known) == 8 + after["examples"][1] for known in cache.values())


def test_with_validation_on_a_column_holds_only_verified_fooling_examples(fresh_state, hard_examples):
    flag_as_people_would(fresh_state, hard_examples, 15)
    store = FlagStore(fresh_state / "flags", fresh_state / "locks")
    try:
        in_order = sorted(store.records.values(), key=lambda r: (r.created_at, r.id))
        # held out: positions 4, 9 and 14; 14 gets no vote, so it is not verified yet
        votes = {4: ("correct", -1), 9: ("incorrect", in_order[9].prediction)}  # validators say the model was right about 9
        for position, (verdict, corrected) in votes.items():
            store.add_vote({"flag_id": in_order[position].id, "verdict": verdict, "corrected_label": corrected, "reason": ""} | {"session_hash": "validator", "username": "", "is_maintainer": False})
        matrix = round_matrix(fresh_state, store, votes_required=1)
    finally:
        store.close()
    assert matrix == {"examples": {0: 1}, "accuracy": {0: {0: 0.0}}, "unreadable": {}}


def test_the_command_says_why_its_table_is_empty(fresh_state, hard_examples, capsys):
    flag_as_people_would(fresh_state, hard_examples, 15)  # three held out, none voted on
    assert main(["--state-dir", str(fresh_state), "--validation-votes", "2"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == {"examples": {}, "accuracy": {}, "unreadable": {}}
    assert "note: no held-out fooling example is verified by 2 agreeing vote(s) yet, so there is nothing to measure" in err
    assert main(["--state-dir", str(fresh_state)]) == 0  # every example counts: the table has its column, no note
    out, err = capsys.readouterr()
    assert json.loads(out)["examples"] == {"0": 3} and err == ""


def test_the_command_refuses_a_negative_vote_count_by_name(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["--validation-votes", "-1"])
    assert refused.value.code == 2 and "argument --validation-votes: must be an integer >= 0, not '-1'" in capsys.readouterr().err
