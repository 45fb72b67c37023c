"""`datasets` load time of a flag store with many records.

    python -m bench.dataset_load [--records 100000] [--shards 10]

Writes a store in the exact on-disk format of `FlagStore` (records built from the same
dataclass; small real PNGs; a second apart in order of arrival, spread over the shards as
concurrent writers would) without the per-record fsyncs, then times `load_flags` twice:
the first load builds datasets' Arrow cache (a fresh cache directory), the second reuses it.
"""

import argparse
import io
import json
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from PIL import Image

from bench.stats import write_result
from flagging.store import FlagRecord, dataset_card, dedupe_key
from training.train import bounded


def tiny_png(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (28, 28), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


FIRST_FLAG = datetime(2026, 1, 1, tzinfo=timezone.utc)


def write_store(root: Path, records: int, shards: int, rounds: int = 1) -> None:
    """`records` fooling examples in FlagStore's layout, collected against `rounds` models in turn (the
    first records against round 0, the last against round `rounds - 1`)."""
    (root / "data").mkdir(parents=True)
    (root / "README.md").write_text(dataset_card(root.as_posix()))
    pngs = [tiny_png(i) for i in range(64)]
    for s in range(shards):
        shard = root / "data" / f"bench-{s:03d}"
        shard.mkdir()
        lines = []
        for i in range(s, records, shards):
            rid = uuid.uuid4().hex
            png = pngs[i % 64]
            created_at = (FIRST_FLAG + timedelta(seconds=i)).isoformat(timespec="milliseconds")
            record = FlagRecord(rid, f"{rid}.png", f"{rid}-input.png", i % 10, (i + 1) % 10, [0.1] * 10, i * rounds // records, True, created_at, f"session-{i}", "", dedupe_key(f"session-{i}", i % 10, png))
            (shard / record.drawing_file_name).write_bytes(png)
            (shard / record.model_input_file_name).write_bytes(png)
            lines.append(json.dumps({k: v for k, v in asdict(record).items() if k != "shard"}))
        (shard / "metadata.jsonl").write_text("\n".join(lines) + "\n")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=bounded(int, 1), default=100_000, help="records in the store (default 100000)")
    p.add_argument("--shards", type=bounded(int, 1), default=10, help="writer shards (default 10)")
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="dadc-bench-load-"))
    os.environ["HF_DATASETS_CACHE"] = str(tmp / "hf-cache")  # a cold cache, not the user's
    try:
        start = time.perf_counter()
        write_store(tmp / "flags", args.records, args.shards)
        write_s = time.perf_counter() - start
        from flagging.dataset import load_flags

        timings = []
        for _ in range(2):
            start = time.perf_counter()
            ds = load_flags(tmp / "flags")
            timings.append(time.perf_counter() - start)
            assert len(ds) == args.records
        first_row = ds[0]
        assert first_row["model_input"].size == (28, 28)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_result(
        "dataset_load",
        {"records": args.records, "shards": args.shards, "write_store_s": round(write_s, 1), "first_load_s": round(timings[0], 1), "cached_load_s": round(timings[1], 2)},
    )


if __name__ == "__main__":
    main()
