"""The one directory where everything the app writes lives.

Resolution order: an explicit argument (a CLI flag), then the DADC_STATE_DIR
environment variable, then `state/` inside the repository (gitignored).
"""

import errno
import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_VAR = "DADC_STATE_DIR"


def resolve_state_dir(explicit: str | os.PathLike | None = None, create: bool = True) -> Path:
    """Return the state directory as an absolute path, created if missing unless `create` is False:
    tools that only read what the app wrote leave a mistyped --state-dir uncreated."""
    chosen = explicit or os.environ.get(ENV_VAR) or REPO_ROOT / "state"
    path = Path(chosen).expanduser().resolve()
    if create:
        if path.exists() and not path.is_dir():  # else mkdir's "File exists" reads as if all were well
            raise NotADirectoryError(errno.ENOTDIR, "a file, not a folder", str(path))
        path.mkdir(parents=True, exist_ok=True)
    return path


def fsync_path(path: Path) -> None:
    """Flush a file, or a folder's entries (a rename into it), to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoints_dir(state_dir: Path) -> Path:
    return state_dir / "checkpoints"


def round0_checkpoint_dir(state_dir: Path) -> Path:
    return checkpoints_dir(state_dir) / "round-0"


def later_round_dirs(state_dir: Path) -> list[Path]:
    """The checkpoints of rounds after round 0 (only accepted rounds are saved), in round order."""
    found = [(int(m[1]), p) for p in checkpoints_dir(state_dir).glob("round-*") if (m := re.fullmatch(r"round-(\d+)", p.name)) and m[1] != "0"]
    return [p for _, p in sorted(found)]


def flags_dir(state_dir: Path) -> Path:
    """The flag store: every file in it is pushed to the Hub dataset repo as the collected flags."""
    return state_dir / "flags"


def in_flag_store_problem(path: Path, state_dir: Path) -> str | None:
    """Why an output (a release, a checkpoint) may not go to `path`, or None: inside the flag store it would
    be pushed to the Hub with the flags, and the next start would take that repo for another dataset's."""
    store, target = flags_dir(state_dir).resolve(), Path(path).resolve()
    if target == store or store in target.parents:
        return f"{path} is inside the flag store {flags_dir(state_dir)}, whose every file is pushed to the Hub with the flags: write it elsewhere"
    return None
