"""At most N flags per person per minute: a script looping over /flag, or a stuck click, cannot flood the
store, the Hub dataset and the retraining rounds, while nobody drawing by hand ever meets the limit (a
drawing, a digit and a click take a few seconds).

A person is who the held-out split says it is (`flagging.validation.person_of`): the signed-in name, else
the browser session. A determined script can open new sessions; this stops the accidents and the lazy
floods, and validation (`--validation-votes`) keeps what gets through out of training.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

WINDOW_S = 60.0
# People whose window has emptied are forgotten once this many are tracked: memory stays bounded
# however many sessions come and go.
FORGET_AFTER_PEOPLE = 10_000


class FlagRateLimit:
    """A sliding one-minute window per person; thread-safe (Gradio serves requests from a thread pool)."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        if per_minute < 1:
            raise ValueError(f"per_minute must be at least 1, not {per_minute!r}")
        self.per_minute = per_minute
        self.clock = clock
        self.recent: dict[str, deque[float]] = {}  # person -> times of their flags in the last minute, oldest first
        self.lock = threading.Lock()

    def admit(self, person: str) -> int:
        """0 and counts the flag if `person` is under the limit; else the whole seconds until they are."""
        with self.lock:
            now = self.clock()
            times = self.recent.setdefault(person, deque())
            while times and times[0] <= now - WINDOW_S:
                times.popleft()
            if len(times) >= self.per_minute:
                return max(1, math.ceil(times[0] + WINDOW_S - now))
            times.append(now)
            if len(self.recent) > FORGET_AFTER_PEOPLE:
                self.recent = {p: t for p, t in self.recent.items() if t and t[-1] > now - WINDOW_S}
            return 0
