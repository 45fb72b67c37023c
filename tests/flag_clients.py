"""Helpers for tests that flag through the real API with gradio_client."""

import re

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from tests.digit_strokes import draw_digit

RECEIPT = re.compile(r"saved as `([0-9a-f]{8})`")


def distinct_drawing(i: int, path) -> str:
    """The i-th of many different drawings (digit, size and position vary): saved as a PNG."""
    rng = np.random.default_rng(i)
    digit = [0, 1, 2, 3, 4, 7][i % 6]
    height, top = 150 + i % 140, 10 + (i // 140) * 15 % 90  # (height, top) unique for i < 840
    left = int(rng.integers(10, 390 - height * 0.65))
    canvas = draw_digit(digit, canvas=400, left=left, top=top, height=height, stroke_width=int(rng.integers(14, 34)))
    Image.fromarray(canvas).save(path)
    return str(path)


def sketchpad_payload(png_path) -> dict:
    return {"background": None, "layers": [], "composite": handle_file(str(png_path))}


def flag(client: Client, png_path, label) -> str:
    return client.predict(sketchpad_payload(png_path), label, api_name="/flag")


def receipt(message: str) -> str:
    match = RECEIPT.search(message)
    assert match, message
    return match.group(1)
