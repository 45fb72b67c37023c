"""Validation rules: k agreeing votes verify, a maintainer decides alone, k = 0 means off."""

import random

from flagging.store import FlagRecord, Removal, Vote, person_key, person_token
from flagging.validation import Decision, decide, digit_counts, held_out_split, next_to_validate, round_counts, top_contributors, verified_examples


def record(id, label=3, prediction=5, session="author", username="", model_round=0, created_at="t"):
    return FlagRecord(id, f"{id}.png", f"{id}-input.png", label, prediction, [0.1] * 10, model_round, label != prediction, created_at, session, username, f"key-{id}")


def vote(flag_id, verdict, corrected=-1, session="v1", username="", maintainer=False):
    return Vote(f"v-{flag_id}-{session}", flag_id, verdict, corrected, "", session, username, maintainer, "t")


def test_validation_off_accepts_every_example_with_its_label_unless_a_maintainer_voted():
    assert decide(record("a"), [], votes_required=0).label == 3
    assert decide(record("a"), [vote("a", "junk")], votes_required=0).label == 3  # other people's votes are only kept
    # A maintainer still takes a scribble out of training, or corrects a label, with one vote.
    assert decide(record("a"), [vote("a", "junk", username="mo", maintainer=True)], votes_required=0) == Decision("junk", None)
    assert decide(record("a"), [vote("a", "incorrect", corrected=8, username="mo", maintainer=True)], votes_required=0) == Decision("incorrect", 8)
    records = [record("a"), record("b")]
    kept = verified_examples(records, [vote("b", "junk", username="mo", maintainer=True)], votes_required=0)
    assert [(r.id, label) for r, label in kept] == [("a", 3)]


def test_k_agreeing_votes_verify():
    r = record("a")
    one = [vote("a", "correct", session="v1")]
    assert decide(r, one, 2).verdict is None
    two = one + [vote("a", "correct", session="v2")]
    assert decide(r, two, 2).verdict == "correct" and decide(r, two, 2).label == 3


def test_k_votes_means_k_people_however_often_one_of_them_votes():
    r = record("a")
    clicks = [vote("a", "correct", session="v1"), vote("a", "correct", session="v1")]  # a double click, or a script
    assert decide(r, clicks, 2).verdict is None
    two_devices = [vote("a", "correct", session="laptop", username="ana"), vote("a", "correct", session="phone", username="ana")]
    assert decide(r, two_devices, 2).verdict is None  # one signed-in person on two devices
    assert decide(r, clicks + [vote("a", "correct", session="v2")], 2).label == 3  # a second person verifies
    changed_mind = [vote("a", "correct", session="v1"), vote("a", "junk", session="v1"), vote("a", "junk", session="v2")]
    assert decide(r, changed_mind, 2).verdict == "junk"  # a person's last vote is the one that counts
    assert round_counts([r], clicks, 2)[0]["verified_fooled"] == 0 and verified_examples([r], clicks, 2) == []


def test_incorrect_votes_agree_only_on_the_same_digit():
    r = record("a")
    split = [vote("a", "incorrect", 8, session="v1"), vote("a", "incorrect", 9, session="v2")]
    assert decide(r, split, 2).verdict is None
    agreed = split + [vote("a", "incorrect", 8, session="v3")]
    assert decide(r, agreed, 2).label == 8


def test_a_maintainer_decides_alone():
    r = record("a")
    votes = [vote("a", "correct", session="v1"), vote("a", "correct", session="v2"), vote("a", "junk", session="m", username="boss", maintainer=True)]
    d = decide(r, votes, 2)
    assert d.verdict == "junk" and d.label is None


def test_people_never_validate_their_own_examples_or_vote_twice():
    records = [record("mine", session="me"), record("theirs", session="other"), record("right", label=5, prediction=5, session="other")]
    rng = random.Random(0)
    assert next_to_validate(records, [], 1, "me", "", rng).id == "theirs"  # not mine, not a non-fooling one
    assert next_to_validate(records, [vote("theirs", "correct", session="me")], 2, "me", "", rng) is None
    by_name = [record("x", session="laptop", username="ana")]
    assert next_to_validate(by_name, [], 1, "phone", "ana", rng) is None  # same person, another device


def test_round_counts_and_error_rates():
    records = [record("a"), record("b"), record("c", label=5, prediction=5), record("d", model_round=1)]
    votes = [vote("a", "correct"), vote("b", "junk")]
    counts = round_counts(records, votes, 1)
    assert counts[0] == {"collected": 3, "fooled": 2, "verified_fooled": 1, "model_error_rate": 0.6667, "verified_model_error_rate": 0.3333}
    assert counts[1]["verified_fooled"] == 0 and counts[1]["verified_model_error_rate"] == 0.0
    assert [r.id for r, _ in verified_examples(records, votes, 1)] == ["a"]


def test_digit_counts_say_which_digits_fool_each_round_by_the_agreed_digit():
    records = [
        record("a", label=1, prediction=7), record("b", label=1, prediction=7), record("c", label=1, prediction=4),
        record("d", label=1, prediction=1),  # read right
        record("e", label=9, prediction=4),  # junk: left out
        record("f", label=3, prediction=5),  # validators say it is a 5: the model was right
        record("g", label=2, prediction=8),  # not voted on yet: the author's digit
        record("h", label=1, prediction=1, model_round=1),
    ]
    votes = [vote("e", "junk", session="m", username="boss", maintainer=True), vote("f", "incorrect", 5, session="v1"), vote("f", "incorrect", 5, session="v2")]
    counts = digit_counts(records, votes, votes_required=2)
    assert set(counts) == {0, 1} and set(counts[0]) == {1, 2, 5}
    assert counts[0][1]["drawn"] == 4 and counts[0][1]["fooled"] == 3 and counts[0][1]["read_as"].most_common() == [(7, 2), (4, 1)]
    assert counts[0][5] == {"drawn": 1, "fooled": 0, "read_as": {}}  # as the agreed digit, not the author's 3
    assert counts[0][2]["fooled"] == 1 and counts[1] == {1: {"drawn": 1, "fooled": 0, "read_as": {}}}
    assert digit_counts(records, [], votes_required=0)[0][9]["fooled"] == 1  # validation off: every example, as drawn


def test_top_contributors_rank_signed_in_people_by_verified_fooling_examples():
    records = [
        record("a1", username="ann"), record("a2", username="ann"), record("a3", username="ann"),  # 3 fooled, none verified
        record("b1", username="bob"), record("b2", username="bob"),  # 2 fooled, 1 verified
        record("b3", label=5, prediction=5, username="bob"),  # did not fool: not counted
        record("x1"),  # not signed in: never listed
        record("c1", username="cy"),  # junk by the maintainer: fooled, not verified
    ]
    votes = [vote("b1", "correct", session="m", username="boss", maintainer=True), vote("c1", "junk", session="m", username="boss", maintainer=True)]
    assert top_contributors(records, votes, votes_required=2) == [
        {"username": "bob", "fooled": 2, "verified_fooled": 1},
        {"username": "ann", "fooled": 3, "verified_fooled": 0},
        {"username": "cy", "fooled": 1, "verified_fooled": 0},
    ]
    # an "incorrect" verdict that gives the digit the model said means the model was right after all
    assert top_contributors([record("d1", username="dee")], [vote("d1", "incorrect", 5, username="boss", maintainer=True)], 2)[0]["verified_fooled"] == 0
    assert top_contributors(records, [], votes_required=0)[0] == {"username": "ann", "fooled": 3, "verified_fooled": 3}  # validation off
    assert len(top_contributors(records, [], 0, limit=2)) == 2


def people_taking_turns():
    """Flags in order of arrival: four anonymous people, then alice (signed in) as the 5th, who comes
    back later from another browser; p1 comes back too."""
    who = [("p1", ""), ("p2", ""), ("p3", ""), ("p4", ""), ("s-a", "alice"), ("p1", ""), ("s-b", "alice"), ("p6", "")]
    return [record(f"r{i}", session=session, username=name, created_at=f"2026-11-23T10:00:0{i}") for i, (session, name) in enumerate(who)]


def test_every_drawing_of_a_held_out_person_is_held_out_and_a_name_spans_sessions():
    records = people_taking_turns()
    train, held_out = held_out_split(reversed(records), [], votes_required=0, holdout_every=5)
    # alice is the 5th person to flag: both her drawings, from two browsers, are held out, and nobody else's
    assert [r.id for r, _ in held_out] == ["r4", "r6"]
    assert [r.id for r, _ in train] == ["r0", "r1", "r2", "r3", "r5", "r7"]


def test_a_removed_drawing_keeps_its_place_in_line_so_nobody_changes_sides():
    records = people_taking_turns()
    first = records[0]  # p1's first drawing, removed for good; p1 comes back later (r5)
    removed = Removal("x", first.id, "shard", "offensive", "mo", "t", flagged_at=first.created_at, person=person_token(person_key("", "p1")))
    train, held_out = held_out_split(records[1:], [], votes_required=0, holdout_every=5, removed=[removed])
    assert [r.id for r, _ in held_out] == ["r4", "r6"]  # still alice, the 5th to flag
    assert [r.id for r, _ in train] == ["r1", "r2", "r3", "r5", "r7"]
    _, forgotten = held_out_split(records[1:], [], votes_required=0, holdout_every=5)  # what forgetting its place would do
    assert [r.id for r, _ in forgotten] == ["r5"]  # p1 would become the 5th: alice trained on, p1 held out


def test_an_example_a_model_already_trained_on_is_never_held_out():
    """A store whose early rounds split by example: what they trained on stays in training."""
    train, held_out = held_out_split(people_taking_turns(), [], votes_required=0, holdout_every=5, trained_on=frozenset({"r4"}))
    assert [r.id for r, _ in held_out] == ["r6"]
    assert "r4" in [r.id for r, _ in train]


def test_with_validation_off_a_maintainer_is_shown_what_no_maintainer_has_voted_on():
    records = [record("voted"), record("new"), record("decided")]
    votes = [vote("voted", "correct", session="v1"), vote("decided", "junk", session="m", username="mo", maintainer=True)]

    def offered(session, username, maintainer):
        return {getattr(next_to_validate(records, votes, 0, session, username, random.Random(seed), maintainer), "id", None) for seed in range(30)}

    assert offered("v2", "", False) == {"new"}  # one vote takes an example off everyone else's queue
    assert offered("m2", "max", True) == {"voted", "new"}  # another person's vote does not decide it
    assert offered("m", "mo", True) == {"voted", "new"}  # nor does it come back to the maintainer who decided
