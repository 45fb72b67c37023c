"""The baselines for HTTP benchmarks: a bare Gradio app serving an identity function (text in,
text out), or with the app's own components (an image file in, a fixed top-3 label out)."""

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr  # noqa: E402

FIXED_LABEL = {"7": 0.9, "1": 0.06, "9": 0.04}


def identity(text: str) -> str:
    return text


def fixed_label(image_path: str) -> dict[str, float]:
    return FIXED_LABEL


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state-dir", default=None, help="ignored; accepted so the same launcher starts both apps")
    p.add_argument("--io", choices=["text", "image"], default="text", help="text: identity on a Textbox; image: the app's /predict components, a fixed answer")
    args = p.parse_args()
    with gr.Blocks() as demo:
        if args.io == "text":
            text_input, text_output = gr.Textbox(), gr.Textbox()
            gr.Button().click(identity, text_input, text_output, api_name="predict")
        else:
            image_input, label_output = gr.Image(type="filepath", image_mode=None), gr.Label(num_top_classes=3)
            image_input.change(fixed_label, image_input, label_output, api_name="predict")
    demo.queue(default_concurrency_limit=8).launch(server_name="127.0.0.1", server_port=args.port)


if __name__ == "__main__":
    main()
