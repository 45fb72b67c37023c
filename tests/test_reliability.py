"""Reliability under load, crashes and several writers: real servers, real clients, real files."""

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client, handle_file

from flagging.dataset import load_flags
from tests.app_process import running_app, start_app, stop_app
from tests.flag_clients import distinct_drawing, flag, receipt


def make_drawings(tmp_path, n, offset=0):
    folder = tmp_path / f"drawings-{offset}"
    folder.mkdir()
    return [distinct_drawing(offset + i, folder / f"{offset + i}.png") for i in range(n)]


def flag_all(url, drawings, clients, stop=None):
    """`clients` concurrent gradio_client clients flag the drawings; returns the receipts acknowledged."""
    receipts, lock = [], threading.Lock()

    def work(client_index):
        client = Client(url, verbose=False)
        for i in range(client_index, len(drawings), clients):
            if stop is not None and stop.is_set():
                return
            try:
                message = flag(client, drawings[i], str(i % 10))
            except Exception:
                if stop is not None and stop.is_set():
                    return  # the server was killed under us: expected
                raise
            with lock:
                receipts.append(receipt(message))

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(work, c) for c in range(clients)]:
            future.result()
    return receipts


def test_32_concurrent_clients_flag_500_examples(fresh_state, tmp_path):
    drawings = make_drawings(tmp_path, 500)
    with running_app(fresh_state) as url:
        receipts = flag_all(url, drawings, clients=32)
    assert len(receipts) == 500 and len(set(receipts)) == 500
    ds = load_flags(fresh_state / "flags")
    assert len(ds) == 500 and len(set(ds["id"])) == 500
    assert {i[:8] for i in ds["id"]} == set(receipts)
    assert all(img.size == (28, 28) for img in ds["model_input"][:50])


def test_sigkill_in_a_flagging_burst_loses_no_acknowledged_flag(fresh_state, tmp_path):
    drawings = make_drawings(tmp_path, 400)
    proc, url = start_app(fresh_state)
    stop = threading.Event()
    acknowledged = []

    def burst():
        acknowledged.extend(flag_all(url, drawings, clients=8, stop=stop))

    worker = threading.Thread(target=burst)
    worker.start()
    flags_file_count = lambda: sum(1 for _ in (fresh_state / "flags" / "data").glob("*/*-input.png"))  # noqa: E731
    while flags_file_count() < 40 and worker.is_alive():
        stop.wait(0.05)
    stop.set()
    os.kill(proc.pid, signal.SIGKILL)  # mid-burst: requests are in flight
    proc.wait()
    worker.join()
    assert 0 < len(acknowledged) < 400

    with running_app(fresh_state) as restarted_url:  # restart: the store is repaired and loads
        ds = load_flags(fresh_state / "flags")
        stored = {i[:8] for i in ds["id"]}
        assert set(acknowledged) <= stored
        assert len(set(ds["id"])) == len(ds)
        more = flag_all(restarted_url, make_drawings(tmp_path, 10, offset=500), clients=2)
    assert len(load_flags(fresh_state / "flags")) == len(ds) + len(more)


def test_two_app_processes_write_one_store(fresh_state, tmp_path):
    drawings = make_drawings(tmp_path, 160)
    (proc_a, url_a), (proc_b, url_b) = start_app(fresh_state), start_app(fresh_state)
    try:
        with ThreadPoolExecutor(2) as pool:
            a = pool.submit(flag_all, url_a, drawings[:80], 8)
            b = pool.submit(flag_all, url_b, drawings[80:], 8)
            receipts = a.result() + b.result()
    finally:
        stop_app(proc_a)
        stop_app(proc_b)
    shards = list((fresh_state / "flags" / "data").glob("*/metadata.jsonl"))
    assert len(shards) == 2  # one shard per writer process
    for shard in shards:  # every line is one whole JSON record: nothing interleaved
        for line in shard.read_text().splitlines():
            assert json.loads(line)["id"]
    ds = load_flags(fresh_state / "flags")
    assert len(ds) == 160 and {i[:8] for i in ds["id"]} == set(receipts)


def files_under(folder):
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_uploads_leave_gradio_cache_after_keep_uploads_hours_and_flags_stay(fresh_state, tmp_path):
    """Every stroke uploads the canvas to Gradio's cache: a server running for weeks must not keep them all."""
    cache = tmp_path / "gradio-cache"
    drawing = distinct_drawing(0, tmp_path / "0.png")
    with running_app(fresh_state, "--keep-uploads-hours", "0.001", env={"GRADIO_TEMP_DIR": str(cache)}) as url:  # 3.6 s
        client = Client(url, verbose=False)
        flag_id = receipt(flag(client, drawing, "3"))
        assert files_under(cache), "the upload should be in Gradio's cache at first"
        deadline = time.monotonic() + 30
        while files_under(cache) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not files_under(cache), f"still cached after 30 s: {files_under(cache)}"
        assert client.predict(handle_file(drawing), api_name="/predict")["label"] in "0123456789"  # still serving
    ds = load_flags(fresh_state / "flags")
    assert [i[:8] for i in ds["id"]] == [flag_id] and ds[0]["drawing"].size == (400, 400)  # the flag kept its own copy
