"""A small Hugging Face Hub-compatible HTTP server for tests: enough of the API for
`HfApi.create_repo` and `create_commit` (what CommitScheduler uses), with switchable faults.

    with LocalHub() as hub:
        api = HfApi(endpoint=hub.url, token="hf_test")
        ...
        hub.files["datasets/me/digits"]  # {path: bytes} of everything committed
        hub.fail_with = 500              # every API call answers 500 until reset to None
"""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalHub:
    def __init__(self, port: int = 0):
        self.files: dict[str, dict[str, bytes]] = {}  # "datasets/ns/name" → {path: content}
        self.commits: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.auth_headers: set[str] = set()
        self.fail_with: int | None = None
        self.lock = threading.Lock()
        self._port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> "LocalHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status, body=None, headers=None):
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                if hub.fail_with:
                    return self._reply(hub.fail_with, {"error": "injected fault"})
                m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/?]+)", self.path)
                if m:
                    key = f"{m[1]}/{m[2]}/{m[3]}"
                    if key in hub.files:
                        siblings = [{"rfilename": p} for p in sorted(hub.files[key])]
                        return self._reply(200, {"id": f"{m[2]}/{m[3]}", "sha": "0" * 40, "siblings": siblings, "private": False})
                return self._reply(404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})

            def do_POST(self):
                body = self._body()
                hub.requests.append(("POST", self.path))
                hub.auth_headers.add(self.headers.get("Authorization", ""))
                if hub.fail_with:
                    return self._reply(hub.fail_with, {"error": "injected fault"})
                if self.path == "/api/validate-yaml":  # the dataset card's YAML header is checked first
                    return self._reply(200, {"errors": [], "warnings": []})
                if self.path == "/api/repos/create":
                    req = json.loads(body)
                    kind = (req.get("type") or "model") + "s"
                    ns = req.get("organization") or "user"
                    key = f"{kind}/{ns}/{req['name']}"
                    with hub.lock:
                        existed = key in hub.files
                        hub.files.setdefault(key, {})
                    url = f"{hub.url}/{kind}/{ns}/{req['name']}"
                    return self._reply(409 if existed else 200, {"url": url, "error": "exists" if existed else None})
                m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/(preupload|commit)/(.+)$", self.path)
                if not m:
                    return self._reply(404, {"error": f"unknown endpoint {self.path}"})
                kind, ns, name, action, _revision = m.groups()
                key = f"{kind}/{ns}/{name}"
                if key not in hub.files:
                    return self._reply(404, {"error": "repo not found"}, {"X-Error-Code": "RepoNotFound"})
                if action == "preupload":
                    files = json.loads(body)["files"]
                    return self._reply(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                added = {}
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        value = item["value"]
                        added[value["path"]] = base64.b64decode(value["content"])
                with hub.lock:
                    hub.files[key].update(added)
                    oid = hashlib.sha1(json.dumps(sorted(added)).encode() + str(len(hub.commits)).encode()).hexdigest()
                    hub.commits.append({"repo": key, "files": sorted(added)})
                return self._reply(200, {"commitUrl": f"{hub.url}/{key}/commit/{oid}", "commitOid": oid})

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
