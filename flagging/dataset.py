"""Load the flag store as a `datasets.Dataset` (imagefolder: images + metadata.jsonl shards)."""

from pathlib import Path


def load_flags(store_root: Path):
    """All flagged records, with `drawing` and `model_input` decoded as PIL images."""
    import datasets

    data_dir = Path(store_root) / "data"
    if not any(data_dir.glob("*/metadata.jsonl")):
        raise FileNotFoundError(f"no flagged examples in {data_dir} yet")
    return datasets.load_dataset("imagefolder", data_dir=str(data_dir), split="train")
