"""Push the flag store to a Hugging Face dataset repo with `huggingface_hub.CommitScheduler`.

Off unless a repo id and a token are configured. The scheduler is created lazily in a
background thread, so a Hub that is down at start-up delays the first push instead of
stopping the app; a failed push is retried at the next interval (CommitScheduler only marks
files uploaded after a successful commit, so nothing is lost). A final push runs at stop.
A restarted app pushes only what the repo lacks (see `StoreScheduler`). The token is passed to
the client and never logged, stored or shown.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from huggingface_hub import CommitScheduler, HfApi
from huggingface_hub.errors import EntryNotFoundError, RevisionNotFoundError
from huggingface_hub.hf_api import RepoFile

log = logging.getLogger(__name__)

# Never push temp files of in-flight writes or hidden files.
IGNORE_PATTERNS = ["**/*.tmp", "*.tmp", "**/.*", ".*"]


# Files that are written once (images) or only appended to (metadata, votes): a local file as big as
# the repo's copy is that copy.
APPEND_ONLY_FOLDERS = ("data/", "votes/")


def already_on_hub(api: HfApi, repo_id: str, folder: Path) -> dict[Path, float]:
    """{local path: mtime} of the store's append-only files not to push: those whose copy in the dataset
    repo is complete, and those the repo holds longer than this disk (which lost data: pushing them
    would cut the repo's copy short; their shard's writer is gone, so they never grow here again)."""
    try:
        remote = {f.path: f.size for f in api.list_repo_tree(repo_id, repo_type="dataset", recursive=True) if isinstance(f, RepoFile)}
    except (EntryNotFoundError, RevisionNotFoundError):
        return {}  # an empty repo: nothing pushed yet
    known = {}
    for relpath, size in remote.items():
        if not relpath.startswith(APPEND_ONLY_FOLDERS):
            continue
        try:
            stat = (folder / relpath).stat()
        except FileNotFoundError:
            continue
        if stat.st_size < size:
            log.warning("%s is shorter here than in %s: keeping the repo's copy, not pushing this one", relpath, repo_id)
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

    def push_to_hub(self):
        if not self.knows_the_repo:
            self.last_uploaded.update(already_on_hub(self.api, self.repo_id, self.folder_path))
            self.knows_the_repo = True
        return super().push_to_hub()


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

    def start(self) -> None:
        self._thread = threading.Thread(target=self._connect, name="hub-sync-connect", daemon=True)
        self._thread.start()

    def _connect(self) -> None:
        while not self._stopped.is_set():
            try:
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
                self.last_error = f"{type(e).__name__}: could not reach the Hub for {self.repo_id}"
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
