"""Remove a drawing for good from the command line (where nobody signs in to the app as a maintainer).

    python -m flagging.remove ID --reason "its author asked" [--by NAME] [--state-dir DIR]

ID is the drawing's id or its first 8 characters (the receipt its author got: "saved as 1a2b3c4d").
The same removal as the Validate tab's maintainer panel (`FlagStore.remove`): every reader of the
store forgets the drawing at once; its line and images are deleted now, or, when an app process
is writing the drawing's shard, by that process at its next refresh; an app pushing to the Hub
(`--hub-dataset`) deletes the Hub copy at its next push. Exit 0 removed, 2 nothing removed.
"""

from __future__ import annotations

import argparse
import sys

from data.state_dir import resolve_state_dir
from flagging.store import MAX_REMOVAL_REASON, StoreError, open_collected_store, public_reason


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("id", help="the drawing's id, or at least its first 8 characters")
    p.add_argument("--reason", type=public_reason, required=True, help=f"why it goes, for a public audience (pushed with the removal; at most {MAX_REMOVAL_REASON} characters)")
    p.add_argument("--by", default="", help="who removes it, as recorded with the removal (default: nobody named)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    try:
        store = open_collected_store(resolve_state_dir(args.state_dir, create=False))
    except FileNotFoundError as e:
        print(f"error: {e}; nothing removed", file=sys.stderr)
        return 2
    try:
        record = store.find(args.id)
        store.remove(record.id, args.reason, args.by.strip())
    except KeyError as e:
        print(f"error: {e.args[0]}; nothing removed", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    shard = store.data_dir / record.shard
    author = record.username or "an anonymous session"
    print(f"removed {record.id[:8]} for good: a {record.label} read as {record.prediction}, flagged {record.created_at[:19]} by {author}")
    if (shard / record.drawing_file_name).exists():
        print(f"an app is writing {shard}: every reader forgets the drawing now, and that app deletes its line and images at its next refresh (a flag, a vote, an open Rounds tab)")
    else:
        print(f"its line and images are gone from {shard}")
    print("an app pushing to the Hub (--hub-dataset) deletes the Hub copy at its next push")
    return 0


if __name__ == "__main__":
    sys.exit(main())
