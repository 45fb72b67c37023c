"""Restoring a store of many flags from the Hub at start-up, as a Space without persistent storage does.

    python -m bench.hub_restore [--records 2000] [--shards 5]

Writes a store in FlagStore's exact layout (bench.dataset_load), pushes it to the local
Hub-compatible server of the tests (tests/hub_server.py) with `upload_folder`, then times
`restore_flags` into an empty folder: the real client code path, over loopback HTTP. Also times
how the files to download are chosen, the part that grew with the square of the number of files:
one `allow_patterns` entry per file (the Hub client matches every file against every pattern)
against `download_patterns` (one pattern per folder that is missing whole).
"""

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")  # the local Hub speaks the plain upload protocol
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from huggingface_hub import HfApi  # noqa: E402
from huggingface_hub.utils import filter_repo_objects  # noqa: E402

from bench.dataset_load import write_store  # noqa: E402
from bench.stats import write_result  # noqa: E402
from flagging.hub_restore import download_patterns, restore_flags  # noqa: E402
from tests.hub_server import LocalHub  # noqa: E402
from training.train import bounded  # noqa: E402

REPO = "bench/dadc-digits"


def seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=bounded(int, 1), default=2000, help="flags in the store (default 2000; two images each)")
    p.add_argument("--shards", type=bounded(int, 1), default=5, help="writer shards (default 5)")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dadc-bench-restore-"))
    try:
        write_store(tmp / "pushed", args.records, args.shards)
        with LocalHub() as hub:
            api = HfApi(endpoint=hub.url, token="hf_bench")
            api.create_repo(REPO, repo_type="dataset")
            api.upload_folder(folder_path=tmp / "pushed", repo_id=REPO, repo_type="dataset")
            remote = [path for path in api.list_repo_files(REPO, repo_type="dataset") if path.startswith(("data/", "votes/"))]
            restore_s, restored = seconds(lambda: restore_flags(api, REPO, tmp / "restored"))
        assert restored == len(remote) == len(list((tmp / "restored").rglob("*.png"))) + args.shards
        per_file_s, _ = seconds(lambda: list(filter_repo_objects(remote, allow_patterns=remote)))
        by_folder_s, _ = seconds(lambda: list(filter_repo_objects(remote, allow_patterns=download_patterns(remote, remote))))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_result(
        "hub_restore",
        {
            "records": args.records,
            "files": len(remote),
            "restore_s": round(restore_s, 2),
            "choosing_files_per_file_patterns_s": round(per_file_s, 3),
            "choosing_files_download_patterns_s": round(by_folder_s, 4),
        },
    )


if __name__ == "__main__":
    main()
