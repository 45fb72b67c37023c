"""Hand-drawn-looking digits as strokes, for tests that draw like a person would.

Each digit is a list of strokes; a stroke is a list of (x, y) points in a unit box
(x to the right, y down, the digit about 0.6 wide and 1 tall). The same strokes are
drawn with PIL (unit tests) and with the mouse in a real browser (browser tests).
"""

import math

import numpy as np
from PIL import Image, ImageDraw

from model.preprocess import ORIENTATION_TAG


def _arc(cx, cy, rx, ry, start_deg, end_deg, n=24):
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in np.linspace(start_deg, end_deg, n)
    ]


DIGIT_STROKES = {
    0: [_arc(0.3, 0.5, 0.28, 0.48, -90, 270, 40)],
    1: [[(0.18, 0.2), (0.34, 0.02), (0.34, 1.0)]],
    2: [_arc(0.3, 0.28, 0.27, 0.26, 200, 380, 20) + [(0.0, 1.0), (0.62, 1.0)]],
    3: [_arc(0.28, 0.25, 0.27, 0.24, 200, 450, 20) + _arc(0.28, 0.74, 0.3, 0.26, -90, 150, 20)],
    4: [[(0.48, 1.0), (0.48, 0.0), (0.0, 0.68), (0.64, 0.68)]],
    7: [[(0.0, 0.02), (0.62, 0.02), (0.2, 1.0)]],
}
# Drawings people read easily and the round-0 model does not (the README's screenshot): not in
# DIGIT_STROKES, whose digits every model must read right.
FOOLING_STROKES = {
    # A 1 as much of Europe writes it, with a long up-stroke: round-0 reads a 7.
    "european 1": [[(0.0, 0.3), (0.34, 0.02), (0.34, 1.0)]],
}


def stroke_points(digit, left, top, height):
    """The digit's strokes in pixel coordinates, for a digit of `height` px at (left, top)."""
    strokes = FOOLING_STROKES[digit] if digit in FOOLING_STROKES else DIGIT_STROKES[digit]
    return [[(left + x * height, top + y * height) for x, y in stroke] for stroke in strokes]


def draw_digit(digit, canvas=800, left=250, top=150, height=500, stroke_width=40) -> np.ndarray:
    """An RGBA canvas (white, opaque) with the digit in black: what the Sketchpad's composite holds."""
    img = Image.new("RGBA", (canvas, canvas), (255, 255, 255, 255))
    draw = ImageDraw.Draw(img)
    for stroke in stroke_points(digit, left, top, height):
        draw.line(stroke, fill=(0, 0, 0, 255), width=stroke_width, joint="curve")
        r = stroke_width / 2  # round caps, like a brush
        for x, y in (stroke[0], stroke[-1]):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(0, 0, 0, 255))
    return np.asarray(img).copy()


def sketchpad_value(rgba: np.ndarray) -> dict:
    """Wrap a canvas as gr.Sketchpad(type="numpy") delivers it: background, one ink layer, composite."""
    background = np.full_like(rgba, 255)
    layer = np.zeros_like(rgba)
    ink = rgba[..., 0] < 128
    layer[ink] = (0, 0, 0, 255)
    return {"background": background, "layers": [layer], "composite": rgba}


# What each EXIF orientation asks a viewer to do to the stored pixels (Pillow's own table in ImageOps):
# a camera stores the inverse, so the photo looks upright everywhere.
STORED_FOR_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # shown turned 270° (90° clockwise): a portrait phone photo
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def photo_of(rgb: Image.Image, orientation: int, path, format="PNG"):
    """`rgb` saved as a camera saves it: the pixels turned, and an EXIF tag saying how to turn them back."""
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    stored = rgb.transpose(STORED_FOR_ORIENTATION[orientation]) if orientation != 1 else rgb
    stored.save(path, format=format, exif=exif.tobytes(), **({"quality": 95} if format == "JPEG" else {}))
    return str(path)
