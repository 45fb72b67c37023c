"""The flag callback: turn a drawing and the digit its author meant into a stored record.

The server recomputes the prediction from the drawing it receives; it never trusts a
prediction sent by the client. This is the one module of the package that imports gradio.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import gradio as gr
import numpy as np
from PIL import Image

from flagging.store import FlagRecord, FlagStore
from model.predict import LiveModel
from model.preprocess import DrawingError, to_pil


DIGITS = [str(d) for d in range(10)]


class FlagInputError(ValueError):
    """The flag request is incomplete or invalid; the message is meant for the person."""


@dataclass(frozen=True)
class FlagOutcome:
    record: FlagRecord
    duplicate: bool

    @property
    def message(self) -> str:
        r = self.record
        receipt = f"(saved as `{r.id[:8]}`)"
        if self.duplicate:
            # Most often a double-clicked Flag: the second answer replaces the first, so it repeats the outcome.
            outcome = (
                f"it fooled the model (it said {r.prediction}, you drew {r.label})"
                if r.fooled
                else f"the model read it right (it said {r.prediction})"
            )
            return f"Already saved: this exact drawing with this label is in the dataset, and {outcome} {receipt}."
        if r.fooled:
            return f"**You fooled the model!** It said {r.prediction}, you drew {r.label} {receipt}."
        return f"The model got it right (it said {r.prediction}): try something harder {receipt}."


def parse_label(label) -> int:
    """The digit the person says they drew: an int or a one-digit string, 0-9."""
    if label is None or (isinstance(label, str) and not label.strip()):
        raise FlagInputError("Choose the digit you drew (0-9) before flagging.")
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label <= 9:
        return label
    if isinstance(label, str) and label.strip() in DIGITS:
        return int(label.strip())
    raise FlagInputError(f"The label must be a digit from 0 to 9, not {label!r}.")


def png_bytes(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=1)  # fast; these files are small either way
    return buf.getvalue()


class DatasetFlagger(gr.FlaggingCallback):
    """Stores flagged drawings in a `FlagStore` (imagefolder layout, Hub-pushable).

    Args:
        store: the open store.
        live: the live model; its current round is recorded with each example.
    """

    def __init__(self, store: FlagStore, live: LiveModel):
        self.store = store
        self.live = live

    def setup(self, components, flagging_dir) -> None:
        """Nothing to prepare: the store is opened (and repaired) when the app starts."""
        self.components = components

    def flag(self, flag_data: list, flag_option: str | None = None, username: str | None = None) -> int:
        """gr.FlaggingCallback API: flag_data is [drawing, label]; returns the number of stored records."""
        drawing, label = flag_data[0], flag_data[1]
        self.flag_drawing(drawing, label, session_hash=flag_option or "", username=username or "")
        return len(self.store.records)

    def flag_drawing(self, drawing, label, session_hash: str, username: str = "") -> FlagOutcome:
        """Validate, predict on the server, store durably; raises FlagInputError, DrawingError or StoreError."""
        if drawing is None:
            raise DrawingError("Draw a digit first, then flag it.")
        digit = parse_label(label)
        canvas = to_pil(drawing)
        prediction = self.live.predict(canvas)  # DrawingError for a blank canvas
        model_input = Image.fromarray(np.rint(prediction.model_input * 255).astype(np.uint8), mode="L")
        fields = {
            "label": digit,
            "prediction": prediction.label,
            "probabilities": [round(float(p), 6) for p in prediction.probabilities],
            "model_round": int(prediction.model_round or 0),
            "fooled": prediction.label != digit,
            "session_hash": session_hash,
            "username": username,
        }
        record, duplicate = self.store.append(fields, png_bytes(canvas), png_bytes(model_input))
        return FlagOutcome(record, duplicate)
