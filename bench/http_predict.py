"""/predict over HTTP compared with bare Gradio apps, same load generator, same run.

    python -m bench.http_predict [--sequential 200] [--clients 16] [--per-client 25]

The apps run as real servers (subprocesses) on loopback. The load generator speaks
Gradio's raw HTTP API: POST /gradio_api/call/predict, then read the event stream until
`complete`; each client keeps one session, as browsers and gradio_client do. The drawing (a 400×400 RGBA PNG, the app's canvas size) is uploaded once and
referenced by its server path, as the browser does after an upload. Reported as ratios
app / bare (target: within 1.2×) against three baselines: an identity app (text in, text out)
with Gradio's defaults and with the app's queue setting, and an app with /predict's own
components (an image file in, a fixed label out), which separates Gradio's handling of the
image from the app's own work (decoding the PNG, preprocessing, the model).
"""

import argparse
import json
import threading
import time
import uuid
from io import BytesIO

import httpx
from PIL import Image

from bench.stats import summarize_ms, write_result
from data.state_dir import resolve_state_dir
from tests.app_process import running_app
from tests.digit_strokes import draw_digit
from training.train import bounded


def call(session: httpx.Client, url: str, payload: dict, api_name: str = "predict") -> dict:
    r = session.post(f"{url}/gradio_api/call/{api_name}", json=payload)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    with session.stream("GET", f"{url}/gradio_api/call/{api_name}/{event_id}") as stream:
        event = None
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                if event == "error":
                    raise RuntimeError(line)
                return json.loads(line[5:])
    raise RuntimeError("stream ended without a result")


def upload_png(url: str, image: Image.Image) -> dict:
    buf = BytesIO()
    image.save(buf, format="PNG")
    r = httpx.post(f"{url}/gradio_api/upload", files={"files": ("digit.png", buf.getvalue(), "image/png")}, timeout=30)
    r.raise_for_status()
    return {"path": r.json()[0], "meta": {"_type": "gradio.FileData"}}


def with_session(payload: dict) -> dict:
    """Each client keeps one Gradio session, as a browser tab or gradio_client does (a call
    without one makes Gradio build a new session per request: cost grows with the UI's size)."""
    return {**payload, "session_hash": uuid.uuid4().hex}


def sequential(url, payload, n):
    payload = with_session(payload)
    s = httpx.Client(timeout=60)
    for _ in range(10):
        call(s, url, payload)  # warm-up
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call(s, url, payload)
        times.append(time.perf_counter() - start)
    return summarize_ms(times)


def concurrent(url, payload, clients, per_client):
    times, lock = [], threading.Lock()

    def worker():
        session_payload = with_session(payload)
        s = httpx.Client(timeout=60)
        for _ in range(per_client):
            start = time.perf_counter()
            call(s, url, session_payload)
            with lock:
                times.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"clients": clients, "requests": len(times), "throughput_rps": round(len(times) / wall, 2), **summarize_ms(times)}


# The app sets GRADIO_ANALYTICS_CACHE_FREQUENCY=1000 (see app.py): Gradio's default rebuilds a summary
# of past events after every event, which makes the default bare app slower than it need be.
APP_QUEUE_SETTING = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}
BASELINES = {
    "bare identity app, Gradio's defaults": ([], {}),
    "bare identity app, the app's queue setting": ([], APP_QUEUE_SETTING),
    "bare app with /predict's components (image in, fixed label out), the app's queue setting": (["--io", "image"], APP_QUEUE_SETTING),
}


def drawing_payload(url: str) -> dict:
    image = Image.fromarray(draw_digit(7, canvas=400, left=120, top=75, height=250, stroke_width=28))
    return {"data": [upload_png(url, image)]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sequential", type=bounded(int, 1), default=200, help="sequential requests per app (default 200)")
    p.add_argument("--clients", type=bounded(int, 1), default=16, help="concurrent clients (default 16)")
    p.add_argument("--per-client", type=bounded(int, 1), default=25, help="requests per concurrent client (default 25)")
    args = p.parse_args(argv)
    state_dir = resolve_state_dir()
    results = {}
    for name, (extra, env) in BASELINES.items():
        with running_app(state_dir, *extra, script="bench/bare_app.py", env=env) as url:
            payload = drawing_payload(url) if extra else {"data": ["7"]}
            results[name] = {"sequential": sequential(url, payload, args.sequential), "concurrent": concurrent(url, payload, args.clients, args.per_client)}
    with running_app(state_dir) as url:
        payload = drawing_payload(url)
        assert call(httpx.Client(timeout=60), url, payload)[0]["label"] == "7"
        results["app /predict"] = {"sequential": sequential(url, payload, args.sequential), "concurrent": concurrent(url, payload, args.clients, args.per_client)}
    app = results["app /predict"]
    ratios = {}
    for name in BASELINES:
        bare = results[name]
        ratios[f"vs {name}"] = {
            "sequential_p50_ratio": round(app["sequential"]["p50_ms"] / bare["sequential"]["p50_ms"], 3),
            "throughput_ratio_bare_over_app": round(bare["concurrent"]["throughput_rps"] / app["concurrent"]["throughput_rps"], 3),
        }
    write_result("http_predict", {"target": "within 1.2x of the bare app", "results": results, "ratios": ratios})


if __name__ == "__main__":
    main()
