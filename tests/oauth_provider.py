"""A small OpenID Connect provider for tests: what "Sign in with Hugging Face" talks to on a Space.

A Space with `hf_oauth: true` gets OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_SCOPES and
OPENID_PROVIDER_URL; Gradio's LoginButton then runs the authorization-code flow against that
provider (discovery document, authorize redirect, token exchange, RS256-signed ID token checked
against the provider's JWKS and the session's nonce). This server plays the provider, with one
account that is always signed in:

    with OAuthProvider("mia") as provider:
        env = provider.space_env()  # the variables a Space would set
        ...
        provider.logins             # usernames that completed a sign-in
"""

import base64
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.app_process import space_rendering

CLIENT_ID = "dadc-test-client"
CLIENT_SECRET = "dadc-test-secret"


class OAuthProvider:
    def __init__(self, username: str):
        self.username = username
        self.logins: list[str] = []
        self._codes: dict[str, dict] = {}  # authorization code → what the token request must match
        self._key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def space_env(self) -> dict[str, str]:
        return {
            "SYSTEM": "spaces",  # with SPACE_ID: what makes Gradio run the real OAuth flow, not its local mock
            "SPACE_ID": "dadc/digits-test",
            "OAUTH_CLIENT_ID": CLIENT_ID,
            "OAUTH_CLIENT_SECRET": CLIENT_SECRET,
            "OAUTH_SCOPES": "openid profile",
            "OPENID_PROVIDER_URL": self.url,
            **space_rendering(),  # the page through Node, as on a Space: sign-in must survive the proxy
        }

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": f"user-{self.username}",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 3600,
            "nonce": nonce,
            "name": self.username.title(),
            "preferred_username": self.username,
            "profile": f"https://huggingface.co/{self.username}",
            "picture": "",
        }
        return jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self._key)

    def start(self) -> "OAuthProvider":
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _json(self, status: int, body: dict):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                url = urlparse(self.path)
                if url.path == "/.well-known/openid-configuration":
                    return self._json(200, {
                        "issuer": provider.url,
                        "authorization_endpoint": f"{provider.url}/oauth/authorize",
                        "token_endpoint": f"{provider.url}/oauth/token",
                        "jwks_uri": f"{provider.url}/oauth/jwks",
                        "response_types_supported": ["code"],
                        "id_token_signing_alg_values_supported": ["RS256"],
                    })  # fmt: skip
                if url.path == "/oauth/jwks":
                    return self._json(200, {"keys": [provider._key.as_dict(private=False)]})
                if url.path == "/oauth/authorize":  # the account is signed in and consents at once
                    q = {k: v[0] for k, v in parse_qs(url.query).items()}
                    if q.get("client_id") != CLIENT_ID or q.get("response_type") != "code":
                        return self._json(400, {"error": "invalid_request"})
                    code = secrets.token_urlsafe(16)
                    provider._codes[code] = {"nonce": q.get("nonce", ""), "redirect_uri": q["redirect_uri"]}
                    separator = "&" if "?" in q["redirect_uri"] else "?"
                    self.send_response(302)
                    self.send_header("Location", q["redirect_uri"] + separator + urlencode({"code": code, "state": q.get("state", "")}))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self._json(404, {"error": "not found"})

            def do_POST(self):
                if urlparse(self.path).path != "/oauth/token":
                    return self._json(404, {"error": "not found"})
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()).items()}
                basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {basic}":
                    return self._json(401, {"error": "invalid_client"})
                grant = provider._codes.pop(form.get("code", ""), None)
                if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
                    return self._json(400, {"error": "invalid_grant"})
                provider.logins.append(provider.username)
                self._json(200, {
                    "access_token": secrets.token_urlsafe(16),
                    "token_type": "Bearer",
                    "expires_in": 3600,
                    "scope": "openid profile",
                    "id_token": provider._id_token(grant["nonce"]),
                })  # fmt: skip

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> "OAuthProvider":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
