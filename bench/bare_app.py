"""The baseline for HTTP benchmarks: a bare Gradio app serving an identity function."""

import argparse
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
import gradio as gr  # noqa: E402


def identity(text: str) -> str:
    return text


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--state-dir", default=None, help="ignored; accepted so the same launcher starts both apps")
    args = p.parse_args()
    with gr.Blocks() as demo:
        text_input, text_output = gr.Textbox(), gr.Textbox()
        gr.Button().click(identity, text_input, text_output, api_name="predict")
    demo.queue(default_concurrency_limit=8).launch(server_name="127.0.0.1", server_port=args.port)


if __name__ == "__main__":
    main()
