"""The DADC web app: draw a digit, see what the model thinks, try to fool it.

    python app.py                      # http://127.0.0.1:7860, local defaults
    python app.py --host 0.0.0.0 --port 7861 --state-dir /data/dadc

Logic lives in the packages; this file builds the UI in `build_demo` and wires events.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from functools import partial

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue rebuilds a pandas summary of the last 10,000 events after *every* event
# (for its monitoring page, unused here): ~40% of the server's CPU under load. Recompute rarely.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000")

import gradio as gr  # noqa: E402
import torch  # noqa: E402

from data.state_dir import resolve_state_dir  # noqa: E402
from model.checkpoint import load_checkpoint  # noqa: E402
from model.predict import LiveModel  # noqa: E402
from model.preprocess import DrawingError  # noqa: E402

log = logging.getLogger("dadc.app")

CANVAS_SIZE = (400, 400)
# Brush radius in canvas pixels: a digit drawn ~250 px tall gets strokes ~3/20 of its height, like MNIST.
BRUSH_RADIUS = 14

# Gradio starts the Sketchpad with no tool selected; click "Brush" so a person can draw at once.
SELECT_BRUSH_JS = """
() => {
  const pick = (tries) => {
    const brush = document.querySelector('#drawing button[aria-label="Brush"]');
    if (brush) { brush.click(); return; }
    if (tries > 0) setTimeout(() => pick(tries - 1), 100);
  };
  pick(50);
}
"""

CSS = """
#drawing { max-width: 440px; }
"""


def label_for_drawing(live: LiveModel, drawing) -> dict[str, float]:
    """Top-3 classes for the Predict button and the API: a blank canvas is an error the person sees."""
    try:
        return live.predict(drawing).top(3)
    except DrawingError as e:
        raise gr.Error(str(e), print_exception=False) from None


def label_while_drawing(live: LiveModel, drawing) -> dict | None:
    """Live updates as strokes finish: an empty canvas (e.g. after Clear) just clears the label."""
    try:
        return live.predict(drawing).top(3)
    except DrawingError:
        return None


def build_demo(live: LiveModel) -> gr.Blocks:
    with gr.Blocks(title="Fool the digit model") as demo:
        gr.Markdown(
            "# Fool the digit model\n"
            "Draw a digit from 0 to 9. The model's guess updates as you draw. "
            "Can you draw one that a person reads easily but the model gets wrong?"
        )
        with gr.Tabs():
            with gr.Tab("Fool the model"):
                with gr.Row():
                    with gr.Column():
                        drawing_input = gr.Sketchpad(
                            type="numpy",
                            image_mode="RGBA",
                            canvas_size=CANVAS_SIZE,
                            fixed_canvas=True,
                            brush=gr.Brush(default_size=BRUSH_RADIUS, colors=["#000000"], color_mode="fixed"),
                            layers=False,
                            transforms=(),
                            label="Draw a digit",
                            elem_id="drawing",
                        )
                        with gr.Row():
                            predict_button = gr.Button("Predict", variant="primary")
                            clear_button = gr.Button("Clear")
                    with gr.Column():
                        label_output = gr.Label(num_top_classes=3, label="Model's guess", elem_id="guess")
                        model_info = gr.Markdown(model_description(live.metadata))
        # API-only endpoint: `Client(url).predict(handle_file("digit.png"), api_name="/predict")`.
        api_image = gr.Image(type="pil", image_mode=None, visible=False)  # keep alpha: preprocessing reads it
        api_label = gr.Label(num_top_classes=3, visible=False)

        # --- events ---
        drawing_input.change(
            partial(label_while_drawing, live),
            inputs=drawing_input,
            outputs=label_output,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )
        predict_button.click(partial(label_for_drawing, live), inputs=drawing_input, outputs=label_output, api_name="predict_drawing")
        clear_button.click(clear_drawing, outputs=[drawing_input, label_output], api_visibility="private").then(None, js=SELECT_BRUSH_JS)
        api_image.change(partial(label_for_drawing, live), inputs=api_image, outputs=api_label, api_name="predict")
        demo.load(None, js=SELECT_BRUSH_JS)
        demo.load(partial(model_description_for, live), outputs=model_info, api_visibility="private")
    return demo


def clear_drawing():
    return None, None


def model_description_for(live: LiveModel) -> str:
    return model_description(live.metadata)


def model_description(metadata: dict) -> str:
    acc = metadata.get("metrics", {}).get("mnist_test_accuracy")
    acc_text = f", MNIST test accuracy {acc:.2%}" if acc is not None else ""
    return f"Model: round {metadata.get('round', '?')}{acc_text}."


def load_or_train_round0(state_dir) -> LiveModel:
    from training.prepare import ensure_round0  # training code is imported only when needed

    return LiveModel(*load_checkpoint(ensure_round0(state_dir)))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default=os.environ.get("DADC_HOST", "127.0.0.1"), help="address to bind (default 127.0.0.1, env DADC_HOST)")
    p.add_argument("--port", type=int, default=int(os.environ.get("DADC_PORT", "7860")), help="port (default 7860, env DADC_PORT)")
    p.add_argument("--state-dir", default=None, help="state directory (default: $DADC_STATE_DIR or ./state)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = parse_args(argv)
    torch.set_num_threads(1)  # one 28×28 forward pass gains nothing from more threads; requests run in parallel
    state_dir = resolve_state_dir(args.state_dir)
    live = load_or_train_round0(state_dir)
    demo = build_demo(live)
    demo.queue(default_concurrency_limit=8).launch(server_name=args.host, server_port=args.port, css=CSS, show_error=True)


if __name__ == "__main__":
    sys.exit(main())
