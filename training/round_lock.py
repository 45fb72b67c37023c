"""One round at a time per state directory, across processes (the app, `training.rounds`, `training.rollback`)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

# How long taking the lock waits out another holder before it gives up: long enough to outlast
# `round_training`'s probe, far shorter than any round.
PROBE_GRACE_S = 0.5


class RoundBusy(RuntimeError):
    """Another process is training a round on this state directory."""


@contextlib.contextmanager
def exclusive_round(state_dir: Path):
    lock_dir = state_dir / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / "rounds.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + PROBE_GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RoundBusy(f"another process is training a round in {state_dir}") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def round_training(state_dir: Path) -> bool:
    """Whether some process (this one included) is training a round in the state directory now. The probe
    holds the lock for an instant; a round starting meanwhile waits it out."""
    if not (state_dir / "locks").is_dir():
        return False
    fd = os.open(state_dir / "locks" / "rounds.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
