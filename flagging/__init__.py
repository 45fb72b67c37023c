"""Flagging: the store of flagged drawings, the flag callback, Hub sync and validation."""
