"""Turn a drawing into the model's input the way MNIST itself was made.

MNIST digits were cropped to their ink, scaled (keeping the aspect ratio, anti-aliased)
so the longest side is 20 px, then placed in a 28×28 frame with their centre of mass at
the centre. `preprocess_drawing` does the same for whatever a drawing arrives as: the
Sketchpad's dict, an RGBA / RGB / grayscale numpy array, a PIL image, or an MNIST-like
28×28 array.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

MAX_SIDE = 4096  # larger inputs are refused: a canvas is ~1000 px, and 4096² RGBA is 64 MiB
DIGIT_BOX = 20  # MNIST: the longest side of the digit is 20 px
FRAME = 28
INK_THRESHOLD = 40  # of 255: fainter pixels are paper texture / JPEG noise, not ink
ORIENTATION_TAG = 0x0112  # EXIF: how a stored image is turned for display; 1 = as stored
MIN_INK_PIXELS = 4  # fewer ink pixels than this is an empty canvas, not a digit
INVERT_LUT = [255 - v for v in range(256)]
INK_MASK_LUT = [255 if v >= INK_THRESHOLD else 0 for v in range(256)]
REDUCE_TO = 400  # canvases twice this size or more are box-reduced first; the digit stays ≫ WORK_BOX px
WORK_BOX = 4 * DIGIT_BOX  # strokes are measured and thickened at 4× the final scale
# MNIST's median stroke width is about 3.3 px at the 20 px scale (this module's estimator on
# the test set); thinner drawn strokes are thickened to about 3 px so a fine brush still
# looks like MNIST. Thicker strokes are left alone: MNIST has bold digits too.
MIN_STROKE_WIDTH = 3.0 * WORK_BOX / DIGIT_BOX


class DrawingError(ValueError):
    """The input cannot be read as a drawing; the message is meant for the person drawing."""


def _check_size(height: int, width: int) -> None:
    if height == 0 or width == 0:
        raise DrawingError("Draw a digit first: the image is empty.")
    if max(height, width) > MAX_SIDE:
        raise DrawingError(f"The image is {width}×{height} pixels; the largest accepted is {MAX_SIDE}×{MAX_SIDE}.")


def _reduce_large(img: Image.Image) -> Image.Image:
    """Box-reduce big canvases to about REDUCE_TO px first: every later pass gets k² times cheaper."""
    factor = max(img.width, img.height) // REDUCE_TO
    return img.reduce(factor) if factor >= 2 else img


def _pil_to_ink(img: Image.Image) -> Image.Image:
    """Ink as an 8-bit image: high where there is ink. Paper may be white or transparent."""
    _check_size(img.height, img.width)
    if img.mode not in ("L", "RGB", "RGBA"):
        has_alpha = img.mode in ("LA", "PA") or "transparency" in img.info
        img = img.convert("RGBA" if has_alpha else "RGB")
    if img.mode == "RGBA" and np.asarray(img)[..., 3].min() < 255:
        # Transparent pixels are paper whatever their colour: ink = darkness × alpha.
        darkness = np.asarray(img.convert("L").point(INVERT_LUT), np.uint16)
        ink = Image.fromarray((darkness * np.asarray(img.getchannel("A")) // 255).astype(np.uint8))
        return _reduce_large(ink)
    # Opaque: gray first (one pass over the pixels), then reduce the 1-byte image, not the 4-byte one.
    return _polarity_to_ink(_reduce_large(img.convert("L")))


def _polarity_to_ink(gray: Image.Image) -> Image.Image:
    """Grayscale is ambiguous: white-on-black (MNIST) or black-on-white (paper). The border decides."""
    a = np.asarray(gray)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    if np.median(border) > 127:  # bright paper, dark ink
        return gray.point(INVERT_LUT)
    return gray


def _array_to_pil(a: np.ndarray) -> Image.Image:
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise DrawingError(f"Cannot read an array of shape {a.shape} as an image.")
    _check_size(a.shape[0], a.shape[1])
    if a.dtype != np.uint8:
        a = np.asarray(a, dtype=np.float32)
        if not np.isfinite(a).all():
            raise DrawingError("The image contains NaN or infinite values.")
        if a.max(initial=0) <= 1.0:  # floats in [0, 1]
            a = a * 255
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4 and a[..., 3].min() == 255:
        # Opaque RGBA (the Sketchpad's composite): go straight to gray, no alpha work later.
        return Image.fromarray(np.ascontiguousarray(a), "RGBA").convert("L")
    mode = "L" if a.ndim == 2 else {3: "RGB", 4: "RGBA"}[a.shape[2]]
    return Image.fromarray(np.ascontiguousarray(a), mode)


def _sketchpad_to_pil(value: dict) -> Image.Image:
    """The Sketchpad's {"background", "layers", "composite"}: the composite is what the person sees."""
    composite = value.get("composite")
    if composite is None:
        layers = [layer for layer in (value.get("layers") or []) if layer is not None]
        if not layers:
            raise DrawingError("Draw a digit first: the canvas is empty.")
        composite = layers[0] if len(layers) == 1 else _stack_layers(layers)
    return to_pil(composite)


def _stack_layers(layers) -> Image.Image:
    base = to_pil(layers[0]).convert("RGBA")
    for layer in layers[1:]:
        base.alpha_composite(to_pil(layer).convert("RGBA"))
    return base


def _open_image_file(path) -> Image.Image:
    """Open an image file with clear errors; the size is checked from the header, before decoding."""
    try:
        img = Image.open(path)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        raise DrawingError(f"The drawing is not a readable image ({type(e).__name__}).") from None
    _check_size(img.height, img.width)
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DrawingError(f"The image file is damaged and cannot be read ({e}).") from None
    return _upright(img)


def _upright(img: Image.Image) -> Image.Image:
    """A phone photo is often stored sideways with an EXIF tag saying how to turn it; every viewer turns it, so
    the person saw it upright. The canvas's PNGs carry no such tag and pass through as they are."""
    if img.getexif().get(ORIENTATION_TAG, 1) == 1:
        return img
    return ImageOps.exif_transpose(img)


def to_pil(drawing) -> Image.Image:
    if isinstance(drawing, dict):
        return _sketchpad_to_pil(drawing)
    if isinstance(drawing, (str, os.PathLike)):
        return _open_image_file(drawing)
    if isinstance(drawing, Image.Image):
        return drawing
    if isinstance(drawing, np.ndarray):
        return _array_to_pil(drawing)
    if drawing is None:
        raise DrawingError("Draw a digit first: there is no drawing.")
    raise DrawingError(f"Cannot read a {type(drawing).__name__} as a drawing.")


def center_of_mass(a: np.ndarray) -> tuple[float, float]:
    total = a.sum()
    rows, cols = np.arange(a.shape[0]), np.arange(a.shape[1])
    return float(rows @ a.sum(1) / total), float(cols @ a.sum(0) / total)


def stroke_width(ink: np.ndarray) -> float:
    """Mean stroke width in pixels: 2 × area / perimeter of the ink mask (exact for long strokes)."""
    mask = np.pad(ink >= 64, 1)
    area = int(mask.sum())
    interior = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    perimeter = area - int(interior.sum())
    return 2 * area / max(perimeter, 1)


def dilate(a: np.ndarray, size: int) -> np.ndarray:
    """Grey-level dilation with a size×size square, as two separable 1-D running maxima."""
    r = size // 2
    out = a.copy()
    for axis in (0, 1):
        src = out.copy()
        n = src.shape[axis]
        for shift in range(1, r + 1):
            if shift >= n:
                break
            lo = [slice(None)] * 2
            hi = [slice(None)] * 2
            lo[axis], hi[axis] = slice(0, n - shift), slice(shift, n)
            np.maximum(out[tuple(lo)], src[tuple(hi)], out=out[tuple(lo)])
            np.maximum(out[tuple(hi)], src[tuple(lo)], out=out[tuple(hi)])
    return out


def _fit_box(size: tuple[int, int], box: int) -> tuple[int, int]:
    w, h = size
    scale = box / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _normalise_strokes(cropped: Image.Image) -> Image.Image:
    """Resize the cropped ink to the working scale and thicken strokes thinner than MNIST's."""
    # reducing_gap: a fast box reduction first, then a proper anti-aliased resample.
    work = cropped.resize(_fit_box(cropped.size, WORK_BOX), Image.Resampling.BILINEAR, reducing_gap=2.0)
    pixels = np.asarray(work)
    missing = MIN_STROKE_WIDTH - stroke_width(pixels)
    if missing >= 1:
        work = Image.fromarray(dilate(pixels, 2 * round(missing / 2) + 1))  # grows width by size - 1
    return work


def preprocess_drawing(drawing) -> np.ndarray:
    """Return the model input for a drawing: float32 (28, 28) in [0, 1], ink = 1.

    Raises DrawingError with a message for the person when the canvas is blank or the
    input cannot be read.
    """
    ink = _pil_to_ink(to_pil(drawing))
    box = ink.point(INK_MASK_LUT).getbbox()
    if box is None:
        raise DrawingError("Draw a digit first: the canvas is empty.")
    cropped = ink.crop(box)
    if int(np.count_nonzero(np.asarray(cropped) >= INK_THRESHOLD)) < MIN_INK_PIXELS:
        raise DrawingError("Draw a digit first: there is hardly any ink on the canvas.")

    work = _normalise_strokes(cropped)
    small = np.asarray(work.resize(_fit_box(work.size, DIGIT_BOX), Image.Resampling.LANCZOS), dtype=np.float32)
    peak = small.max()
    if peak <= 0:
        raise DrawingError("Draw a digit first: the canvas is empty.")
    small /= peak  # thin strokes fade when shrunk; MNIST strokes peak at full ink

    # Place the patch so its centre of mass lands on the frame centre, clipped to stay inside.
    cy, cx = center_of_mass(small)
    top = int(np.clip(round(FRAME / 2 - cy), 0, FRAME - small.shape[0]))
    left = int(np.clip(round(FRAME / 2 - cx), 0, FRAME - small.shape[1]))
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    frame[top : top + small.shape[0], left : left + small.shape[1]] = small
    return frame
