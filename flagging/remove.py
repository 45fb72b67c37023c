"""Remove drawings for good from the command line (where nobody signs in to the app as a maintainer).

    python -m flagging.remove ID [ID ...] --reason "its author asked" [--by NAME] [--state-dir DIR]
    python -m flagging.remove --person-of ID --reason "vandalised labels" [--dry-run]
    python -m flagging.remove --author NAME --reason "vandalised labels" [--dry-run]

ID is a drawing's id or its first 8 characters (the receipt its author got: "saved as 1a2b3c4d").
`--person-of ID` takes every drawing of the person who drew ID (the same signed-in name, else the same
browser session): one vandalised drawing seen on the Validate tab leads to all its author's.
`--author NAME`: every drawing by that signed-in name. `--dry-run` lists what would go and removes
nothing. The same removal as the Validate tab's maintainer panel (`FlagStore.remove`): every reader
of the store forgets the drawings at once; their lines and images are deleted now, or, when an app
process is writing a drawing's shard, by that process at its next refresh; an app pushing to the Hub
(`--hub-dataset`) deletes the Hub copies at its next push. A model that was trained on them keeps what
it learned: the command says which rounds did, and the newest round to roll back to. Exit 0 removed
(or listed), 2 nothing removed.
"""

from __future__ import annotations

import argparse
import sys

from data.state_dir import resolve_state_dir
from flagging.store import MAX_REMOVAL_REASON, FlagRecord, FlagStore, StoreError, describe_drawing, drawings_of_the_person_of, open_collected_store, public_reason


def chosen_records(store: FlagStore, ids: list[str], person_of: str | None, author: str | None) -> list[FlagRecord]:
    """The drawings named on the command line, oldest first; KeyError saying why when one is not there."""
    if ids:
        found = {r.id: r for r in map(store.find, ids)}  # a prefix given twice names one drawing
        return sorted(found.values(), key=lambda r: r.created_at)
    if person_of:
        return drawings_of_the_person_of(store.records.values(), store.find(person_of))
    chosen = sorted((r for r in store.records.values() if r.username == author), key=lambda r: r.created_at)
    if not chosen:
        raise KeyError(f"no stored drawing was flagged by the signed-in name {author!r}")
    return chosen


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ids", nargs="*", metavar="ID", help="a drawing's id, or at least its first 8 characters")
    p.add_argument("--person-of", metavar="ID", help="every drawing of the person who drew this one (same signed-in name, else same browser session)")
    p.add_argument("--author", metavar="NAME", help="every drawing flagged by this signed-in name")
    p.add_argument("--reason", type=public_reason, help=f"why they go, for a public audience (pushed with each removal; at most {MAX_REMOVAL_REASON} characters)")
    p.add_argument("--by", default="", help="who removes them, as recorded with each removal (default: nobody named)")
    p.add_argument("--dry-run", action="store_true", help="list the drawings that would go; remove nothing")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    args = p.parse_args(argv)
    if sum(map(bool, (args.ids, args.person_of, args.author))) != 1:
        p.error("name the drawings one way: IDs, --person-of ID or --author NAME")
    if args.reason is None and not args.dry_run:
        p.error("the following arguments are required: --reason")
    state_dir = resolve_state_dir(args.state_dir, create=False)
    try:
        store = open_collected_store(state_dir)
    except FileNotFoundError as e:
        print(f"error: {e}; nothing removed", file=sys.stderr)
        return 2
    try:
        records = chosen_records(store, args.ids, args.person_of, args.author)
        if args.dry_run:
            print("\n".join(f"would remove {r.id[:8]}: {describe_drawing(r)}" for r in records))
            print(f"{len(records)} drawings ({sum(r.fooled for r in records)} fooled the model); nothing removed (--dry-run)")
            return 0
        store.remove_many([r.id for r in records], args.reason, args.by.strip())
    except KeyError as e:
        print(f"error: {e.args[0]}; nothing removed", file=sys.stderr)
        return 2
    except StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        store.close()
    print("\n".join(f"removed {r.id[:8]} for good: {describe_drawing(r)}" for r in records))
    if len(records) > 1:
        print(f"{len(records)} drawings removed for good ({sum(r.fooled for r in records)} had fooled the model)")
    still_there = sorted({r.shard for r in records if (store.data_dir / r.shard / r.drawing_file_name).exists()})
    if still_there:
        print(f"an app is writing {', '.join(still_there)}: every reader forgets them now, and that app deletes the lines and images at its next refresh (a flag, a vote, an open Rounds tab)")
    else:
        print(f"{'its line and images are' if len(records) == 1 else 'their lines and images are all'} gone from {store.data_dir}")
    print("an app pushing to the Hub (--hub-dataset) deletes the Hub copies at its next push")
    from training.rollback import learned_note, models_that_learned  # torch: only once something was removed

    if learned := models_that_learned(state_dir, {r.id for r in records}):
        print(f'{learned_note(learned, len(records))}, and `python -m training.rollback --to {learned[1]} --reason "..."` puts it back live')
    return 0


if __name__ == "__main__":
    sys.exit(main())
