"""Canvas preprocessing: drawings become MNIST-like 28×28 inputs, whatever their position,
size and stroke width, and whatever form they arrive in."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from model.predict import LiveModel
from model.preprocess import MAX_SIDE, ORIENTATION_TAG, DrawingError, center_of_mass, preprocess_drawing
from tests.digit_strokes import DIGIT_STROKES, draw_digit, photo_of, sketchpad_value

def blur(x: np.ndarray) -> np.ndarray:
    """Two passes of a 3×3 box filter: compares shapes, not exact pixels."""
    t = torch.from_numpy(x)[None, None]
    return F.avg_pool2d(F.avg_pool2d(t, 3, 1, 1), 3, 1, 1)[0, 0].numpy()


VARIANTS = [
    dict(left=250, top=150, height=500, stroke_width=40),  # centred, large
    dict(left=20, top=30, height=300, stroke_width=28),  # small, top-left corner
    dict(left=520, top=380, height=400, stroke_width=34),  # bottom-right
    dict(left=300, top=100, height=600, stroke_width=20),  # thin strokes
    dict(left=300, top=100, height=600, stroke_width=70),  # thick marker
]


def test_output_is_mnist_like():
    x = preprocess_drawing(draw_digit(7))
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() >= 0 and x.max() == pytest.approx(1.0)
    rows, cols = np.nonzero(x > 0.05)
    # The digit fits a 20×20 box (plus anti-aliasing) and its centre of mass is at the centre.
    assert max(np.ptp(rows), np.ptp(cols)) <= 21
    cy, cx = center_of_mass(x)
    assert abs(cy - 14) < 1 and abs(cx - 14) < 1


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_position_size_and_stroke_width_barely_matter(digit):
    inputs = [preprocess_drawing(draw_digit(digit, **v)) for v in VARIANTS]
    reference = inputs[0]
    for v, x in zip(VARIANTS[1:], inputs[1:]):
        # Same shape up to stroke thickness and the 1 px rounding of centring.
        corr = max(
            np.corrcoef(blur(reference).ravel(), np.roll(blur(x), (dy, dx), (0, 1)).ravel())[0, 1]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
        assert corr > 0.9, f"{v}: correlation {corr:.2f}"


@pytest.mark.parametrize("digit", sorted(DIGIT_STROKES))
def test_prediction_is_the_drawn_digit_everywhere_on_the_canvas(digit, round0):
    live = LiveModel(*round0)
    predictions = [live.predict(draw_digit(digit, **v)).label for v in VARIANTS]
    assert predictions == [digit] * len(VARIANTS)


def test_every_input_form_gives_the_same_model_input():
    rgba = draw_digit(4)
    expected = preprocess_drawing(rgba)
    gray = np.asarray(Image.fromarray(rgba).convert("L"))
    forms = {
        "sketchpad dict": sketchpad_value(rgba),
        "sketchpad layers only": {"background": None, "layers": [sketchpad_value(rgba)["layers"][0]], "composite": None},
        "rgb array": rgba[..., :3],
        "grayscale array": gray,
        "float array in [0, 1]": gray.astype(np.float32) / 255,
        "PIL RGBA": Image.fromarray(rgba),
        "PIL L": Image.fromarray(gray),
        "transparent paper, black ink": np.where(rgba[..., :1] < 128, rgba, 0).astype(np.uint8),
    }
    for name, form in forms.items():
        np.testing.assert_allclose(preprocess_drawing(form), expected, atol=0.02, err_msg=name)


def test_an_mnist_digit_passes_through_unchanged_in_shape(state_dir):
    from data.mnist import load_mnist

    mnist = load_mnist(state_dir)
    image = mnist.test_images[0]  # white ink on black, already 28×28
    x = preprocess_drawing(image)
    corr = np.corrcoef(x.ravel(), image.ravel().astype(np.float32))[0, 1]
    assert corr > 0.9


@pytest.mark.parametrize(
    "blank",
    [
        np.full((800, 800, 4), 255, np.uint8),  # untouched white canvas
        {"background": np.full((800, 800, 4), 255, np.uint8), "layers": [], "composite": np.full((800, 800, 4), 255, np.uint8)},
        {"background": None, "layers": [], "composite": None},
        np.zeros((28, 28), np.uint8),
        None,
    ],
)
def test_blank_canvas_is_refused_with_a_clear_message(blank):
    with pytest.raises(DrawingError, match="Draw a digit first"):
        preprocess_drawing(blank)


def test_a_speck_is_not_a_digit():
    canvas = np.full((800, 800, 4), 255, np.uint8)
    canvas[400, 400, :3] = 0  # one stray pixel
    with pytest.raises(DrawingError, match="Draw a digit first"):
        preprocess_drawing(canvas)


@pytest.mark.parametrize("bad", [np.zeros((5, 5, 7), np.uint8), np.zeros((2, 2, 2, 2)), "a string", np.full((28, 28), np.nan)])
def test_unreadable_input_is_refused(bad):
    with pytest.raises(DrawingError):
        preprocess_drawing(bad)


def test_huge_input_is_refused_with_its_size_in_the_message():
    with pytest.raises(DrawingError, match=f"largest accepted is {MAX_SIDE}"):
        preprocess_drawing(Image.new("L", (10_000, 10_000)))
    huge_array = np.broadcast_to(np.uint8(255), (10_000, 10_000, 4))  # a view: no 400 MB allocation
    with pytest.raises(DrawingError, match="10000×10000"):
        preprocess_drawing(huge_array)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photo_is_read_the_way_it_is_shown_whatever_its_exif_orientation(orientation, tmp_path):
    upright = Image.fromarray(draw_digit(7)).convert("RGB")
    stored = photo_of(upright, orientation, tmp_path / "photo.png")
    assert Image.open(stored).getexif()[ORIENTATION_TAG] == orientation
    np.testing.assert_array_equal(preprocess_drawing(stored), preprocess_drawing(upright))


def test_a_sideways_phone_photo_of_a_3_is_read_as_a_3(round0, tmp_path):
    upright = Image.fromarray(draw_digit(3)).convert("RGB").resize((400, 400))
    photo = photo_of(upright, 6, tmp_path / "photo.jpg", "JPEG")
    live = LiveModel(*round0)
    assert Image.open(photo).size == (400, 400) and live.predict(photo).label == 3
    sideways = Image.open(photo).copy()  # the stored pixels as they are, untouched: a 3 lying on its side
    assert live.predict(sideways).label != 3
