"""Everything the app's handlers call into, held in one place."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from flagging.callback import DatasetFlagger
from flagging.hub_sync import HubSync
from flagging.rate_limit import FlagRateLimit
from flagging.store import FlagStore
from model.predict import LiveModel
from training.publish import ModelPublisher
from training.rounds import RoundRunner


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
    flag_sync: HubSync | None = None  # pushes the store to a Hub dataset repo (a removal then leaves it too); None: off
    # What the Rounds tab's matrix has computed so far, {model round: {example id: class}}: each rebuild
    # then classifies only new examples (see training.round_matrix).
    matrix_predictions: dict = field(default_factory=dict)
    # The Rounds tab's data as last built, (dashboard signature, rounds_data, when), shared by every open
    # tab: a change costs one rebuild however many people watch (see shared_rounds_data).
    rounds_shown: tuple | None = None
    rounds_lock: threading.Lock = field(default_factory=threading.Lock)
