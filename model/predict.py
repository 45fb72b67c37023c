"""Prediction: the live-model holder the app serves from.

The app holds one `LiveModel`. Predictions read the current (model, metadata) pair in a
single attribute read, so a retrain can swap in a new model at any moment without a
request ever seeing half of one and the other half of another.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from model.network import MNIST_Model
from model.preprocess import preprocess_drawing


@dataclass(frozen=True)
class Prediction:
    model_input: np.ndarray  # (28, 28) float32 in [0, 1]
    probabilities: np.ndarray  # (10,) float32, sums to 1
    model_round: int | None

    @property
    def label(self) -> int:
        return int(self.probabilities.argmax())

    def top(self, k: int = 3) -> dict[str, float]:
        return top_classes(self.probabilities, k)


def top_classes(probabilities: np.ndarray, k: int = 3) -> dict[str, float]:
    """The k most likely digits and their probabilities, as gr.Label takes them."""
    order = np.argsort(probabilities)[::-1][:k]
    return {str(int(c)): float(probabilities[c]) for c in order}


class LiveModel:
    """The model currently serving predictions, replaceable while serving.

    >>> live = LiveModel(model, {"round": 0})
    >>> live.predict(drawing).label
    """

    def __init__(self, model: MNIST_Model, metadata: dict):
        self._current = (model.eval(), metadata)
        self._swap_lock = threading.Lock()

    @property
    def metadata(self) -> dict:
        return self._current[1]

    @property
    def model(self) -> MNIST_Model:
        return self._current[0]

    def swap(self, model: MNIST_Model, metadata: dict) -> None:
        with self._swap_lock:
            self._current = (model.eval(), metadata)

    def classify(self, model_input: np.ndarray) -> Prediction:
        """Classify a preprocessed (28, 28) input with the model current at call time."""
        model, metadata = self._current  # one read: a concurrent swap cannot split it
        with torch.inference_mode():
            probs = model(torch.from_numpy(model_input).view(1, 1, 28, 28)).exp()[0].numpy()  # (10,)
        return Prediction(model_input, probs, metadata.get("round"))

    def predict(self, drawing) -> Prediction:
        """Preprocess a drawing and classify it; raises DrawingError for blank or unreadable input."""
        return self.classify(preprocess_drawing(drawing))
