"""The app over HTTP with the real gradio_client: /predict takes an image and answers top-3."""

import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from tests.digit_strokes import draw_digit, photo_of


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def save_png(array, path):
    Image.fromarray(array).save(path)
    return str(path)


@pytest.mark.parametrize("digit", [1, 3, 7])
def test_predict_endpoint_returns_top3_for_an_image(client, tmp_path, digit):
    result = client.predict(handle_file(save_png(draw_digit(digit), tmp_path / "d.png")), api_name="/predict")
    assert result["label"] == str(digit)
    confidences = result["confidences"]
    assert len(confidences) == 3
    assert confidences[0]["label"] == str(digit) and confidences[0]["confidence"] > 0.5
    assert sum(c["confidence"] for c in confidences) <= 1.0 + 1e-6


def test_a_sideways_phone_photo_is_read_as_its_exif_tag_shows_it(client, tmp_path):
    # A portrait phone photo: pixels stored turned 90° counter-clockwise, EXIF orientation 6 turns them back.
    photo = photo_of(Image.fromarray(draw_digit(3)).convert("RGB"), 6, tmp_path / "photo.jpg", "JPEG")
    assert client.predict(handle_file(photo), api_name="/predict")["label"] == "3"


def test_blank_image_gets_a_clear_error_and_the_server_keeps_serving(client, tmp_path):
    blank = np.full((400, 400, 4), 255, np.uint8)
    with pytest.raises(Exception, match="Draw a digit first"):
        client.predict(handle_file(save_png(blank, tmp_path / "blank.png")), api_name="/predict")
    ok = client.predict(handle_file(save_png(draw_digit(4), tmp_path / "d.png")), api_name="/predict")
    assert ok["label"] == "4"


def test_a_file_that_is_not_an_image_is_refused(client, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all")
    with pytest.raises(Exception):
        client.predict(handle_file(str(text)), api_name="/predict")
    ok = client.predict(handle_file(save_png(draw_digit(2), tmp_path / "d.png")), api_name="/predict")
    assert ok["label"] == "2"



def test_predict_refuses_huge_and_damaged_images_with_a_clear_message(client, tmp_path):
    huge = tmp_path / "huge.png"
    Image.new("L", (10_000, 10_000), 255).save(huge)
    with pytest.raises(Exception, match="Image size \\(100000000 pixels\\) exceeds limit"):
        client.predict(handle_file(str(huge)), api_name="/predict")
    damaged = tmp_path / "damaged.png"
    Image.fromarray(draw_digit(4)).save(damaged)
    damaged.write_bytes(damaged.read_bytes()[:2000])  # truncated download
    with pytest.raises(Exception, match="damaged and cannot be read"):
        client.predict(handle_file(str(damaged)), api_name="/predict")
    ok = client.predict(handle_file(save_png(draw_digit(2), tmp_path / "d.png")), api_name="/predict")
    assert ok["label"] == "2"


def test_attack_endpoint_returns_the_twin_and_the_smallest_eps_that_fools_the_model(client, tmp_path):
    drawing = {"background": None, "layers": [], "composite": handle_file(save_png(draw_digit(7), tmp_path / "seven.png"))}
    seen, on_drawing, twin, on_twin, smallest = client.predict(drawing, 0.0, api_name="/attack")
    assert on_drawing["label"] == "7" and on_twin["label"] == "7"  # ε = 0: the twin is the drawing
    assert Image.open(seen).size == Image.open(twin).size == (196, 196)
    # "The smallest ε that fools the model: **0.17**. There FGSM makes it read your 7 as a 3, …"
    eps = float(smallest.split("**")[1])
    assert 0 < eps <= 0.5 and "read your 7 as a" in smallest
    *_, on_twin_there, same_note = client.predict(drawing, eps, api_name="/attack")
    assert on_twin_there["label"] != "7" and same_note == smallest
