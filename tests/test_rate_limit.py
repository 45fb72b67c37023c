"""The per-person flag limit on its own: a sliding one-minute window, each person counted apart."""

import threading

import pytest

from flagging import rate_limit
from flagging.rate_limit import FlagRateLimit


class Clock:
    """Seconds that move only when the test says: a minute passes without waiting one."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_window_slides_and_people_are_counted_apart():
    clock = Clock()
    limit = FlagRateLimit(3, clock)
    for seconds in (0, 10, 20):
        clock.now = 1000 + seconds
        assert limit.admit("session:a") == 0
    clock.now = 1030
    assert limit.admit("session:a") == 30  # the flag at 0 s leaves the window at 60 s
    assert limit.admit("session:b") == 0 and limit.admit("user:c") == 0  # others are not held up
    clock.now = 1059.5
    assert limit.admit("session:a") == 1  # never "0 s" while still refused
    clock.now = 1060
    assert limit.admit("session:a") == 0  # the oldest flag has left: one more fits
    assert limit.admit("session:a") == 10  # and the window is full again until 70 s
    refused_then = len(limit.recent["session:a"])
    assert refused_then == 3  # refusals are not counted as flags


def test_concurrent_requests_of_one_person_admit_exactly_the_limit():
    limit = FlagRateLimit(25)
    admitted, lock = [], threading.Lock()

    def send():
        for _ in range(10):
            if limit.admit("session:script") == 0:
                with lock:
                    admitted.append(1)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 25


def test_people_whose_minute_has_passed_are_forgotten(monkeypatch):
    monkeypatch.setattr(rate_limit, "FORGET_AFTER_PEOPLE", 100)
    clock = Clock()
    limit = FlagRateLimit(5, clock)
    for i in range(100):
        limit.admit(f"session:{i}")
    clock.now += 61
    limit.admit("session:late")  # the 101st person: everyone idle for a minute is dropped
    assert set(limit.recent) == {"session:late"}


def test_a_limit_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        FlagRateLimit(0)
