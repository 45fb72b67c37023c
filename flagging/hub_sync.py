"""Push the flag store to a Hugging Face dataset repo with `huggingface_hub.CommitScheduler`.

Off unless a repo id and a token are configured. The scheduler is created lazily in a
background thread, so a Hub that is down at start-up delays the first push instead of
stopping the app; a failed push is retried at the next interval (CommitScheduler only marks
files uploaded after a successful commit, so nothing is lost). A final push runs at stop.
A restarted app pushes only what the repo lacks (see `StoreScheduler`). The token is passed to
the client and never logged, stored or shown.
"""

from __future__ import annotations

import argparse
import logging
import threading
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

from huggingface_hub import CommitOperationAdd, CommitOperationDelete, CommitScheduler, HfApi
from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile

from flagging.store import not_store_files, removals_in

log = logging.getLogger(__name__)

# Never push temp files of in-flight writes or hidden files.
IGNORE_PATTERNS = ["**/*.tmp", "*.tmp", "**/.*", ".*"]


# Files that are written once (images) or only appended to (metadata, votes, removals): a local file
# as big as the repo's copy is that copy. (A removal rewrites a metadata file shorter: see `push_removals`.)
APPEND_ONLY_FOLDERS = ("data/", "votes/", "removals/")


def files_in_repo(api: HfApi, repo_id: str, repo_type: str) -> list[str]:
    """The paths of every file in a repo; [] for one that does not exist yet or is empty."""
    try:
        return api.list_repo_files(repo_id, repo_type=repo_type)
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError):
        return []


def repo_files(api: HfApi, repo_id: str) -> dict[str, int]:
    """{path: size} of every file in the dataset repo; {} for a repo nothing was pushed to yet."""
    try:
        return {f.path: f.size for f in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True) if isinstance(f, RepoFile)}
    except (EntryNotFoundError, RevisionNotFoundError):
        return {}


def already_on_hub(remote: dict[str, int], folder: Path) -> dict[Path, float]:
    """{local path: mtime} of the store's append-only files not to push, given the repo's files `remote`:
    those whose copy in the dataset repo is complete, and those the repo holds longer than this disk
    (which lost data: pushing them would cut the repo's copy short; their shard's writer is gone, so
    they never grow here again)."""
    known = {}
    for relpath, size in remote.items():
        if not relpath.startswith(APPEND_ONLY_FOLDERS):
            continue
        try:
            stat = (folder / relpath).stat()
        except FileNotFoundError:
            continue
        if stat.st_size < size:
            # a disk that lost data; or a removal not pushed yet, which pushes the file itself (`push_removals`)
            log.warning("%s is shorter here than in the dataset repo: keeping the repo's copy, not pushing this one", relpath)
        if stat.st_size <= size:  # one stat: if it grows after this, its mtime changes and it is pushed
            known[folder / relpath] = stat.st_mtime
    return known


class StoreScheduler(CommitScheduler):
    """A CommitScheduler that starts out knowing what the repo already has.

    CommitScheduler pushes every file it has not pushed itself, so each start of the app (a Space
    restarts often) would commit the whole store again: on a popular Space 100,000 files in one
    commit, where the Hub recommends small commits. Before its first push this one counts as pushed
    every append-only file the repo holds whole (`already_on_hub`), which includes flags restored
    from the Hub at start. Pushes run one at a time (CommitScheduler's single worker).
    """

    knows_the_repo = False
    on_hub: frozenset[str] = frozenset()  # the repo's files as last listed, plus those pushed since
    in_step_at: str | None = None  # UTC time of the last push that succeeded (or found nothing new)
    push_error: str | None = None  # why the last push failed; None once one succeeds

    def push_to_hub(self):
        try:
            commit = self.push_what_changed()
        except Exception as e:
            self.push_error = f"{hub_error(e)} at {utc_clock()} UTC"
            raise
        self.push_error, self.in_step_at = None, utc_clock()
        return commit

    def push_what_changed(self):
        if not self.knows_the_repo:
            remote = repo_files(self.api, self.repo_id)
            self.last_uploaded.update(already_on_hub(remote, self.folder_path))
            self.on_hub = frozenset(remote)
            self.knows_the_repo = True
        self.push_removals()
        commit = super().push_to_hub()
        self.on_hub |= {path.relative_to(self.folder_path).as_posix() for path in self.last_uploaded}
        return commit

    def push_removals(self) -> None:
        """One commit that deletes from the repo the images of drawings removed here, with their shards'
        metadata as it is now (without their lines). Only once this disk has erased them: a removal in
        another live writer's shard waits for that writer. The Hub keeps earlier commits (see docs/dataset.md)."""
        with self.lock:
            deletes, removed, shards = [], 0, {}  # shards: {name: its metadata now, None if it has none}
            for removal in removals_in(self.folder_path):
                metadata = self.folder_path / "data" / removal.shard / "metadata.jsonl"
                images = [f"data/{removal.shard}/{removal.flag_id}{end}" for end in (".png", "-input.png")]
                pending = [p for p in images if p in self.on_hub and not (self.folder_path / p).exists()]
                if not pending:
                    continue
                now = metadata.read_bytes() if metadata.exists() else None
                if removal.flag_id.encode() in (now or b""):
                    continue  # its line is still there: not erased yet
                deletes, removed, shards[removal.shard] = deletes + pending, removed + 1, now
            if not deletes:
                return
            mtimes = {name: (self.folder_path / "data" / name / "metadata.jsonl").stat().st_mtime for name, now in shards.items() if now is not None}
        operations = [CommitOperationDelete(path) for path in deletes]
        operations += [CommitOperationAdd(path_in_repo=f"data/{name}/metadata.jsonl", path_or_fileobj=shards[name]) for name in mtimes]
        self.api.create_commit(self.repo_id, operations, commit_message=f"Remove {removed} drawing(s) a maintainer took down", repo_type=self.repo_type, revision=self.revision)
        self.on_hub -= set(deletes)
        for path in deletes:
            self.last_uploaded.pop(self.folder_path / path, None)
        for name, mtime in mtimes.items():
            self.last_uploaded[self.folder_path / "data" / name / "metadata.jsonl"] = mtime


def hub_error(e: Exception) -> str:
    """What went wrong, for maintainers: the error's kind and HTTP status (401/403: the token; 5xx: the
    Hub), never its message, which could quote a request."""
    status = getattr(getattr(e, "response", None), "status_code", None)
    return f"{type(e).__name__}, HTTP {status}" if status else type(e).__name__


def utc_clock() -> str:
    return datetime.now(timezone.utc).strftime("%H:%M")


def first_few(paths: list[str], shown: int = 3) -> str:
    """A few of a repo's files by name, for a message that says why it is not ours."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def not_flags_repo(repo_id: str, foreign: list[str]) -> str:
    return f"{repo_id} holds files that are not this app's flags ({first_few(foreign)}), another dataset, whose card a push would overwrite: set --hub-dataset to a repo of its own"


def hub_endpoint(url: str) -> str:
    """An `--hub-endpoint` option's type: a URL with a scheme and a host, or argparse's error naming the option
    (otherwise every Hub request fails, retried in the background for as long as the app runs)."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise argparse.ArgumentTypeError(f"must be an http:// or https:// URL such as https://huggingface.co, not {url!r}")
    return url


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if it looks like "namespace/name"; ValueError with a clear message if not."""
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"repo id must look like 'namespace/name', not {repo_id!r}")
    return repo_id


class HubSync:
    """Pushes `folder` to the dataset repo `repo_id` every `every_minutes`, and once at stop.

    Args:
        folder: the store root.
        repo_id: "namespace/name" of the dataset repo (created if missing).
        token: a write token; held only in memory.
        lock: the store's lock, held while files are listed so no half-written record is pushed.
        every_minutes: push interval (CommitScheduler accepts fractions, which tests use).
        endpoint: the Hub URL (default: huggingface_hub's, i.e. $HF_ENDPOINT or huggingface.co).
        retry_seconds: wait between attempts to reach the Hub at start-up.
        private: create the repo private when it does not exist yet (an existing repo keeps its visibility).

    >>> sync = HubSync(store.root, "me/digits", token, store.lock, every_minutes=5)
    >>> sync.start(); ...; sync.stop()
    """

    def __init__(
        self,
        folder: Path,
        repo_id: str,
        token: str,
        lock: threading.Lock,
        *,
        every_minutes: float = 5,
        endpoint: str | None = None,
        retry_seconds: float = 30,
        private: bool = False,
    ):
        check_repo_id(repo_id)
        if not every_minutes > 0:
            raise ValueError(f"every_minutes must be positive, not {every_minutes!r}")
        self.folder, self.repo_id, self.lock = Path(folder), repo_id, lock
        self.every_minutes, self.retry_seconds, self.private = every_minutes, retry_seconds, private
        self._api = HfApi(endpoint=endpoint, token=token)
        self._scheduler: CommitScheduler | None = None
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None  # shown to maintainers; never contains the token
        self.refused = ""  # why nothing is ever pushed to this repo: it holds another dataset

    def start(self) -> None:
        self._thread = threading.Thread(target=self._connect, name="hub-sync-connect", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        while not self._stopped.is_set():
            try:
                # Created first (as the scheduler would): a Hub that is down fails this at once, while a
                # listing retries for ~20 s; an existing repo is left as it is.
                self._api.create_repo(self.repo_id, repo_type="dataset", exist_ok=True, private=self.private or None)
                if foreign := not_store_files(files_in_repo(self._api, self.repo_id, "dataset")):
                    self.refused = not_flags_repo(self.repo_id, foreign)  # for good: a retry would find the same
                    log.error("not pushing: %s", self.refused)
                    return
                scheduler = StoreScheduler(
                    repo_id=self.repo_id,
                    repo_type="dataset",
                    folder_path=self.folder,
                    every=self.every_minutes,
                    hf_api=self._api,
                    ignore_patterns=IGNORE_PATTERNS,
                    private=self.private or None,  # None: the Hub's default (public, unless the organisation's is private)
                )
                scheduler.lock = self.lock  # one lock for writers and the push listing
                self._scheduler = scheduler
                self.last_error = None
                log.info("pushing %s to dataset repo %s every %s min", self.folder, self.repo_id, self.every_minutes)
                return
            except Exception as e:  # the Hub is down or refuses: retry, the app keeps serving
                self.last_error = f"{hub_error(e)}: could not reach the Hub for {self.repo_id}"
                log.warning("%s; retrying in %s s", self.last_error, self.retry_seconds)
                self._stopped.wait(self.retry_seconds)

    def relearn_the_repo(self) -> None:
        """Files arrived that the repo already has (restored from it): list the repo again before the
        next push instead of pushing them back."""
        if self._scheduler is not None:
            self._scheduler.knows_the_repo = False

    @property
    def connected(self) -> bool:
        return self._scheduler is not None

    def status(self) -> str:
        """One line for the Rounds tab: is the dataset repo in step with this disk, and if not, why."""
        repo = f"the dataset repo {self.repo_id}"
        scheduler = self._scheduler
        if self.refused:
            return f"Flags are not pushed to {repo}: {self.refused}. They are kept on this disk."
        if scheduler is None:
            why = f" ({self.last_error}); retrying every {self.retry_seconds:g} s" if self.last_error else ""
            return f"Flags are not pushed to {repo} yet{why}. They are kept on this disk meanwhile."
        if scheduler.push_error:
            return (
                f"Pushing flags to {repo} failed ({scheduler.push_error}); the next try is in {self.every_minutes:g} min. "
                "Nothing is lost: the flags stay on this disk until a push succeeds."
            )
        in_step = f" (in step as of {scheduler.in_step_at} UTC)" if scheduler.in_step_at else ""
        return f"Flags are pushed to {repo} every {self.every_minutes:g} min{in_step}."

    def push_now(self):
        """Push what changed now; returns the CommitInfo (None if nothing changed). Raises on failure."""
        if self._scheduler is None:
            raise RuntimeError(f"not connected to the Hub yet ({self.last_error or 'connecting'})")
        return self._scheduler.trigger().result()

    def stop(self) -> None:
        """Final push (errors logged, not raised), then stop the scheduler."""
        self._stopped.set()
        if self._scheduler is not None:
            try:
                self.push_now()
            except Exception as e:
                log.error("final push to %s failed: %s", self.repo_id, type(e).__name__)
            self._scheduler.stop()
