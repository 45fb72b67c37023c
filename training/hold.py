"""Hold the app's retraining: no round starts on its own until a maintainer resumes it.

    python -m training.hold --reason "taking vandalised drawings out" [--by NAME] [--state-dir DIR]
    python -m training.hold --resume [--state-dir DIR]

For a maintainer cleaning up (junk votes, removals, a rollback) on a busy app, where the next threshold
of fooling examples would otherwise train a round on the drawings not yet taken out. Flags and votes
are stored as ever, and count toward the next round; a round run by hand (`python -m training.rounds`)
is not held. The hold is a file in the state directory (`retraining_hold.json`), so every app process
serving it, and a restart, keep it; a Space without persistent storage forgets it at a restart. The
Rounds tab's maintainer panel does the same. Exit 0 done, 2 nothing changed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from data.state_dir import resolve_state_dir
from flagging.store import MAX_REMOVAL_REASON, public_reason, utc_now, write_durably
from training.round_lock import round_training

HOLD_FILE = "retraining_hold.json"
# A hold keeps rounds from starting; one already training goes on (stopping it midway would lose nothing
# a rollback cannot undo, and a half-stopped round would be one more state to get wrong).
HELD_DURING_A_ROUND = (
    "the round training now is not stopped, but a drawing it learned that is removed or voted junk before it ends keeps it "
    "from going live; once it is live, roll it back instead. No later round starts until a maintainer resumes retraining."
)


def read_hold(state_dir: Path) -> dict | None:
    """{"reason", "by", "since"} while retraining is held, else None (a damaged file holds too: it was written to hold)."""
    try:
        text = (state_dir / HOLD_FILE).read_text()
    except FileNotFoundError:
        return None
    try:
        hold = json.loads(text)
    except ValueError:
        hold = None
    return hold if isinstance(hold, dict) else {"reason": f"{HOLD_FILE} cannot be read (resume to clear it)"}


def hold_retraining(state_dir: Path, reason: str, by: str = "") -> dict:
    """Hold retraining (again, with this reason, if it was held); returns the hold."""
    hold = {"reason": reason, "by": by, "since": utc_now()}
    write_durably(state_dir / HOLD_FILE, (json.dumps(hold, ensure_ascii=False) + "\n").encode())
    return hold


def resume_retraining(state_dir: Path) -> bool:
    """End the hold; False when retraining was not held."""
    try:
        (state_dir / HOLD_FILE).unlink()
    except FileNotFoundError:
        return False
    return True


def hold_note(hold: dict) -> str:
    """"held by mia since 14:02 UTC: why" for the dashboard and the start-up line."""
    by = f" by {hold['by']}" if hold.get("by") else ""
    since = f" since {hold['since'][:10]} {hold['since'][11:16]} UTC" if hold.get("since") else ""
    return f"held{by}{since}: {hold.get('reason', '')}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--reason", type=public_reason, help=f"hold retraining, saying why (at most {MAX_REMOVAL_REASON} characters)")
    what.add_argument("--resume", action="store_true", help="end the hold: a round that is due starts at the next flag")
    p.add_argument("--by", default="", help="who holds it, as shown on the Rounds tab (default: nobody named)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir(args.state_dir, create=False)
    if not (state_dir / "checkpoints").is_dir():
        print(f"error: {state_dir} holds no checkpoints: is it the app's state directory? Nothing changed", file=sys.stderr)
        return 2
    if args.resume:
        if not resume_retraining(state_dir):
            print(f"error: retraining is not held in {state_dir}; nothing changed", file=sys.stderr)
            return 2
        print("retraining resumed: a round that is due starts at the next flag (or vote) an app serving this state directory receives")
        return 0
    try:
        hold = hold_retraining(state_dir, args.reason, args.by.strip())
    except OSError as e:
        print(f"error: cannot write {state_dir / HOLD_FILE}: {e}; nothing changed", file=sys.stderr)
        return 2
    print(f"retraining {hold_note(hold)}; flags and votes are stored and count toward the next round")
    if round_training(state_dir):
        print(f"note: {HELD_DURING_A_ROUND}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
