"""Validation by other people (as in Dynabench): pure functions over records and votes.

An example is *verified* when `votes_required` votes agree on a verdict, or when a
maintainer has voted (a maintainer decides alone). `votes_required = 0` turns validation
off: every example counts as verified with the label its author gave, unless a maintainer
voted on it.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass

from flagging.store import FlagRecord, Vote, person_key, person_token

VERDICTS = ("correct", "incorrect", "junk")
HOLDOUT_EVERY = 5  # one person in 5, in order of arrival, is held out: never trained on, the rounds' test set


@dataclass(frozen=True)
class Decision:
    verdict: str | None  # None: not decided yet
    label: int | None  # the agreed label: the author's if "correct", the voters' if "incorrect"


def votes_by_flag(votes: list[Vote]) -> dict[str, list[Vote]]:
    grouped = defaultdict(list)
    for vote in votes:
        grouped[vote.flag_id].append(vote)
    return grouped


def decide(record: FlagRecord, votes: list[Vote], votes_required: int) -> Decision:
    """The verdict on one example given its votes."""
    maintainer_votes = [v for v in votes if v.is_maintainer]
    if maintainer_votes:  # even with validation off: a maintainer can always take junk out of training
        return _as_decision(record, maintainer_votes[-1].verdict, [maintainer_votes[-1]])
    if votes_required == 0:
        return Decision("correct", record.label)
    # k votes means k people: a person's repeated votes (a double click, a script) count once, the last one.
    if len(votes) > 1:
        votes = list({person_key(v.username, v.session_hash): v for v in votes}.values())
    # "incorrect" votes only agree when they also agree on the right digit.
    keys = Counter((v.verdict, v.corrected_label if v.verdict == "incorrect" else -1) for v in votes)
    for (verdict, corrected), count in keys.most_common():
        if count >= votes_required:
            return _as_decision(record, verdict, [v for v in votes if v.verdict == verdict])
    return Decision(None, None)


def _as_decision(record: FlagRecord, verdict: str, votes: list[Vote]) -> Decision:
    if verdict == "correct":
        return Decision(verdict, record.label)
    if verdict == "incorrect":
        return Decision(verdict, votes[-1].corrected_label)
    return Decision(verdict, None)


def verified_examples(records: list[FlagRecord], votes: list[Vote], votes_required: int) -> list[tuple[FlagRecord, int]]:
    """(record, agreed label) for every example fit for training: verified, not junk."""
    grouped = votes_by_flag(votes)
    out = []
    for record in records:
        decision = decide(record, grouped.get(record.id, []), votes_required)
        if decision.label is not None:
            out.append((record, decision.label))
    return out


def person_of(record: FlagRecord) -> str:
    """Who drew it, as far as the app can tell: the signed-in name, else the browser session."""
    return person_key(record.username, record.session_hash)


def is_held_out(position: int, every: int) -> bool:
    """The every-th person in order of arrival: a person held out once stays held out."""
    return position % every == every - 1


def held_out_split(records, votes: list[Vote], votes_required: int, holdout_every: int = HOLDOUT_EVERY, trained_on=frozenset(), removed=()) -> tuple[list, list]:
    """(training, held-out) (record, agreed label) pairs: every verified, non-junk example.

    Every example of every `holdout_every`-th person, in order of their first flag, is held out, so
    held-out accuracy is accuracy on people the model never learned from. Positions count every
    record, verified or not, and every `removed` one (store.Removal: a removed drawing keeps its
    place in line): the store only grows, so a person's position never changes. Examples in
    `trained_on` (what a live model has already trained on: stores whose early rounds split by
    example) stay in training, so no round is ever gated on what its parent learned.
    """
    in_order = sorted(records, key=lambda r: (r.created_at, r.id))
    # With removals, people are compared by token: that is all a removal keeps of its author.
    who = {r.id: person_token(person_of(r)) if removed else person_of(r) for r in in_order}
    line = [(r.created_at, r.id, who[r.id]) for r in in_order]
    if removed:
        line = sorted(line + [(g.flagged_at, g.flag_id, g.person) for g in removed])
    people = dict.fromkeys(person for *_, person in line)  # in order of first flag
    held_out_people = {person for position, person in enumerate(people) if is_held_out(position, holdout_every)}
    split: dict[bool, list] = {False: [], True: []}
    for record, label in verified_examples(in_order, votes, votes_required):
        split[who[record.id] in held_out_people and record.id not in trained_on].append((record, label))
    return split[False], split[True]


def has_voted(votes_on_example: list[Vote], session_hash: str, username: str) -> bool:
    """Whether this person (this browser session, or this signed-in name in any session) voted on it."""
    return any(v.session_hash == session_hash or (username and v.username == username) for v in votes_on_example)


def next_to_validate(
    records: list[FlagRecord], votes: list[Vote], votes_required: int, session_hash: str, username: str, rng: random.Random | None = None, maintainer: bool = False
) -> FlagRecord | None:
    """A fooling example by someone else, still undecided, that this person has not voted on.

    With validation off (`votes_required` 0) one vote takes an example off the queue, except for a
    maintainer: only a maintainer's vote decides then, so a maintainer is shown every example no
    maintainer has voted on, whatever other people said about it."""
    if votes_required == 0:
        votes, votes_required = ([v for v in votes if v.is_maintainer] if maintainer else votes), 1
    grouped = votes_by_flag(votes)
    candidates = [
        r
        for r in records
        if r.fooled
        and r.session_hash != session_hash
        and not (username and r.username == username)
        and not has_voted(grouped.get(r.id, []), session_hash, username)
        and decide(r, grouped.get(r.id, []), votes_required).verdict is None
    ]
    if not candidates:
        return None
    return (rng or random).choice(candidates)


def round_counts(records: list[FlagRecord], votes: list[Vote], votes_required: int) -> dict[int, dict]:
    """Per model round: collected, fooled, verified-fooled, and the model error rates."""
    grouped = votes_by_flag(votes)
    counts: dict[int, Counter] = defaultdict(Counter)
    for r in records:
        c = counts[r.model_round]
        c["collected"] += 1
        c["fooled"] += r.fooled
        decision = decide(r, grouped.get(r.id, []), votes_required)
        if decision.label is not None:
            c["verified_fooled"] += decision.label != r.prediction
    table = {}
    for round_, c in sorted(counts.items()):
        table[round_] = {
            "collected": c["collected"],
            "fooled": c["fooled"],
            "verified_fooled": c["verified_fooled"],
            "model_error_rate": round(c["fooled"] / c["collected"], 4),
            # As Dynabench's vMER: verified fooling examples over everything collected.
            "verified_model_error_rate": round(c["verified_fooled"] / c["collected"], 4),
        }
    return table


def digit_counts(records: list[FlagRecord], votes: list[Vote], votes_required: int) -> dict[int, dict[int, dict]]:
    """Per model round and digit drawn: drawings, how many the model read as another digit, and which
    digits it read them as. The digit drawn is the agreed one once decided (validators may have corrected
    it), the author's until then; junk is left out."""
    grouped = votes_by_flag(votes)
    # (round, digit drawn, digit read) counted in one pass: on a 50,000-record store the Rounds tab
    # rebuilds after every flag, and only the examples someone voted on need a decision.
    readings = Counter((r.model_round, r.label, r.prediction) for r in records if r.id not in grouped)
    for r in records:
        if r.id in grouped:
            decision = decide(r, grouped[r.id], votes_required)
            if decision.verdict != "junk":
                readings[(r.model_round, r.label if decision.label is None else decision.label, r.prediction)] += 1
    counts: dict[int, dict[int, dict]] = defaultdict(dict)
    for (round_, digit, read), n in sorted(readings.items()):  # sorted: a tie in `most_common` goes to the lower digit
        c = counts[round_].setdefault(digit, {"drawn": 0, "fooled": 0, "read_as": Counter()})
        c["drawn"] += n
        if read != digit:
            c["fooled"] += n
            c["read_as"][read] += n
    return dict(counts)


def top_contributors(records: list[FlagRecord], votes: list[Vote], votes_required: int, limit: int = 10) -> list[dict]:
    """Signed-in people ranked by the verified examples that fooled the model, then by all their fooling examples."""
    grouped = votes_by_flag(votes)
    counts: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        if not r.username or not r.fooled:
            continue
        counts[r.username]["fooled"] += 1
        decision = decide(r, grouped.get(r.id, []), votes_required)
        counts[r.username]["verified_fooled"] += decision.label is not None and decision.label != r.prediction
    ranked = sorted(counts.items(), key=lambda item: (-item[1]["verified_fooled"], -item[1]["fooled"], item[0]))
    return [{"username": name, "fooled": c["fooled"], "verified_fooled": c["verified_fooled"]} for name, c in ranked[:limit]]
