"""A small Hugging Face Hub-compatible HTTP server for tests: enough of the API for
`HfApi.create_repo` and `create_commit` (what CommitScheduler uses), tags and refs, repo info at
a revision, and file downloads (`hf_hub_download`, `snapshot_download`), with switchable faults.

    with LocalHub() as hub:
        api = HfApi(endpoint=hub.url, token="hf_test")
        ...
        hub.files["datasets/me/digits"]  # {path: bytes} of everything committed
        hub.tags["models/me/mnist"]      # {tag: commit id}
        hub.fail_with = 500              # every API call answers 500 until reset to None
        hub.failing_repos["me/digits"] = 503  # only calls naming that repo fail, until removed
        hub.held_downloads["datasets/me/digits"] = threading.Event()  # its file downloads wait until set
        hub.downloads_left = 10          # 10 more file downloads succeed, then they answer 500 until None
"""

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class LocalHub:
    def __init__(self, port: int = 0):
        self.files: dict[str, dict[str, bytes]] = {}  # "datasets/ns/name" → {path: content}
        self.commits: list[dict] = []
        self.snapshots: dict[str, dict[str, bytes]] = {}  # commit id → the repo's files at that commit
        self.heads: dict[str, str] = {}  # repo key → commit id of main
        self.tags: dict[str, dict[str, str]] = {}  # repo key → {tag: commit id}
        self.requests: list[tuple[str, str]] = []
        self.auth_headers: set[str] = set()
        self.fail_with: int | None = None
        self.failing_repos: dict[str, int] = {}  # "namespace/name" → the status its calls answer
        self.held_downloads: dict[str, threading.Event] = {}  # repo key → downloads from it wait until set
        self.downloads_left: int | None = None  # file downloads (GET) that succeed before the rest fail
        self.created: dict[str, dict] = {}  # repo key → the create request (type, sdk, visibility)
        self.space_secrets: dict[str, dict[str, str]] = {}  # "spaces/ns/name" → {key: value}
        self.space_variables: dict[str, dict[str, str]] = {}
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

            def _fault(self) -> int | None:
                """The injected status this request answers, if any: every call's, or its repo's."""
                parts = self.path.split("?")[0].split("/")
                named = {"/".join(parts[i : i + 2]) for i in range(len(parts) - 1)}  # a repo id is two segments in a row
                return hub.fail_with or next((status for repo, status in hub.failing_repos.items() if repo in named), None)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _snapshot(self, key, revision):
                """(commit id, files) of `revision` (main, a tag or a commit id) of repo `key`, or None."""
                revision = unquote(revision)
                if revision == "main" and key in hub.files and key not in hub.heads:
                    return ("0" * 40, {})  # a repo created but never committed to: main is empty
                oid = hub.heads.get(key) if revision == "main" else hub.tags.get(key, {}).get(revision, revision)
                return (oid, hub.snapshots[oid]) if oid in hub.snapshots else None

            def _tree(self, files, folder, recursive):
                """Entries under `folder` as the Hub lists them: files, and folders unless recursive."""
                blob = lambda c: hashlib.sha1(b"blob %d\0" % len(c) + c).hexdigest()  # noqa: E731 -- git's blob id
                prefix = f"{folder}/" if folder else ""
                below = {p: c for p, c in files.items() if p.startswith(prefix)}
                if folder and not below:
                    return self._reply(404, {"error": "entry not found"}, {"X-Error-Code": "EntryNotFound"})
                entries, folders = [], set()
                for path, content in sorted(below.items()):
                    rest = path[len(prefix) :]
                    if recursive or "/" not in rest:
                        entries.append({"type": "file", "path": path, "size": len(content), "oid": blob(content)})
                    if "/" in rest:
                        parts = rest.split("/")[:-1]
                        folders.update(prefix + "/".join(parts[: i + 1]) for i in range(len(parts) if recursive else 1))
                entries += [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(folders)]
                return self._reply(200, entries)

            def _file(self, send_body):
                m = re.match(r"^/(?:(datasets|spaces)/)?([^/]+)/([^/]+)/resolve/([^/]+)/(.+)$", self.path)
                if not m:
                    return False
                key = f"{m[1] or 'models'}/{m[2]}/{m[3]}"
                if key in hub.held_downloads:
                    hub.held_downloads[key].wait(timeout=300)
                if send_body and hub.downloads_left is not None:
                    with hub.lock:
                        failing, hub.downloads_left = hub.downloads_left <= 0, max(hub.downloads_left - 1, 0)
                    if failing:
                        self._reply(500, {"error": "injected fault: download cut off"})
                        return True
                found = self._snapshot(key, m[4])
                content = found[1].get(unquote(m[5])) if found else None
                if content is None:
                    self._reply(404, {"error": "entry not found"}, {"X-Error-Code": "EntryNotFound"})
                    return True
                self.send_response(200)
                self.send_header("Content-Length", str(len(content)))
                self.send_header("ETag", f'"{hashlib.sha256(content).hexdigest()}"')
                self.send_header("X-Repo-Commit", found[0])
                self.end_headers()
                if send_body:
                    self.wfile.write(content)
                return True

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                if status := self._fault():
                    return self._reply(status, {"error": "injected fault"})
                if not self._file(send_body=False):
                    self._reply(404, {"error": "not found"})

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                if status := self._fault():
                    return self._reply(status, {"error": "injected fault"})
                if self._file(send_body=True):
                    return
                if self.path == "/api/whoami-v2":  # who the token belongs to (Gradio's local sign-in asks)
                    return self._reply(200, {"type": "user", "name": "owner", "fullname": "The Owner", "avatarUrl": ""})
                m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/(refs|revision/([^/?]+)|tree/([^/?]+)/?([^?]*))(?:\?(.*))?$", self.path)
                if m:
                    key = f"{m[1]}/{m[2]}/{m[3]}"
                    if m[4] == "refs":
                        head = hub.heads.get(key, "0" * 40)
                        tags = [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": oid} for t, oid in sorted(hub.tags.get(key, {}).items())]
                        return self._reply(200, {"branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": head}], "tags": tags, "converts": []})
                    found = self._snapshot(key, m[5] or m[6])
                    if found is None:
                        return self._reply(404, {"error": "revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    if m[6]:  # the listing of a folder (the root by default), recursive or one level
                        return self._tree(found[1], unquote(m[7]).strip("/"), "recursive=true" in (m[8] or "").lower())
                    return self._reply(200, {"id": f"{m[2]}/{m[3]}", "sha": found[0], "siblings": [{"rfilename": p} for p in sorted(found[1])], "private": False})
                m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/?]+)", self.path)
                if m:
                    key = f"{m[1]}/{m[2]}/{m[3]}"
                    if key in hub.files:
                        siblings = [{"rfilename": p} for p in sorted(hub.files[key])]
                        return self._reply(200, {"id": f"{m[2]}/{m[3]}", "sha": hub.heads.get(key, "0" * 40), "siblings": siblings, "private": False})
                return self._reply(404, {"error": "not found"}, {"X-Error-Code": "RepoNotFound"})

            def do_POST(self):
                body = self._body()
                hub.requests.append(("POST", self.path))
                hub.auth_headers.add(self.headers.get("Authorization", ""))
                if status := self._fault():
                    return self._reply(status, {"error": "injected fault"})
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
                        hub.created.setdefault(key, req)
                    url = f"{hub.url}/{kind}/{ns}/{req['name']}"
                    return self._reply(409 if existed else 200, {"url": url, "error": "exists" if existed else None})
                m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)/tag/(.+)$", self.path)
                if m:
                    key = f"{m[1]}/{m[2]}/{m[3]}"
                    found = self._snapshot(key, m[4])
                    if found is None:
                        return self._reply(404, {"error": "revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    tag = json.loads(body)["tag"]
                    with hub.lock:
                        if tag in hub.tags.setdefault(key, {}):
                            return self._reply(409, {"error": f"tag {tag} already exists"})
                        hub.tags[key][tag] = found[0]
                    return self._reply(200, {})
                m = re.match(r"^/api/spaces/([^/]+)/([^/]+)/(secrets|variables)$", self.path)
                if m:
                    key = f"spaces/{m[1]}/{m[2]}"
                    if key not in hub.files:
                        return self._reply(404, {"error": "repo not found"}, {"X-Error-Code": "RepoNotFound"})
                    item = json.loads(body)
                    with hub.lock:
                        settings = (hub.space_secrets if m[3] == "secrets" else hub.space_variables).setdefault(key, {})
                        settings[item["key"]] = item["value"]
                        # secrets are never sent back; variables are, as the Hub does
                        answer = {} if m[3] == "secrets" else {k: {"value": v, "updatedAt": "2026-01-01T00:00:00.000Z"} for k, v in settings.items()}
                    return self._reply(200, answer)
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
                added, deleted, header = {}, [], {}
                for line in body.decode().splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        header = item["value"]
                    if item["key"] == "file":
                        value = item["value"]
                        added[value["path"]] = base64.b64decode(value["content"])
                    if item["key"] == "deletedFile":
                        deleted.append(item["value"]["path"])
                with hub.lock:
                    for path in deleted:
                        hub.files[key].pop(path, None)
                    hub.files[key].update(added)
                    oid = hashlib.sha1(json.dumps(sorted(added)).encode() + str(len(hub.commits)).encode()).hexdigest()
                    hub.commits.append({"repo": key, "files": sorted(added), "oid": oid, "message": header.get("summary", "")})
                    hub.snapshots[oid] = dict(hub.files[key])
                    hub.heads[key] = oid
                return self._reply(200, {"commitUrl": f"{hub.url}/{key}/commit/{oid}", "commitOid": oid})

        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        self._port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for gate in self.held_downloads.values():
            gate.set()  # no handler thread stays waiting
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
