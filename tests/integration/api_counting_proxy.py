"""A counting reverse proxy for the test API server (test-only, never shipped).

It listens on plain HTTP on loopback, records every request (method, path, query) and forwards it
over TLS to the real kube-apiserver with the admin kubeconfig's client credentials, so clients
pointed at :meth:`CountingProxy.kubeconfig` need no credentials of their own. Tests use it to
assert how many reads and writes a module makes. ``before_forward`` lets a test act between a
client's request and the server's answer (for example, write to a Node concurrently); when it
returns ``(status, message)`` the proxy answers that instead of forwarding (a server error on demand).
"""

from __future__ import annotations

import base64
import json
import http
import http.client
import http.server
import os
import ssl
import tempfile
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

# Hop-by-hop headers are the proxy's business, not the origin's (RFC 9110 section 7.6.1).
_HOP_HEADERS = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]

    @property
    def is_write(self) -> bool:
        return self.method in _WRITE_METHODS


def _credential_file(user: dict, key: str, directory: str) -> str | None:
    """The path of a kubeconfig credential given as a file or as base64 ``-data``."""
    if user.get(key):
        return user[key]
    data = user.get(key + "-data")
    if not data:
        return None
    path = os.path.join(directory, key)
    Path(path).write_bytes(base64.b64decode(data))
    return path


def _status_answer(status: int, message: str):
    """A Kubernetes-style Status response (what clients parse from a failed request)."""
    reason = http.HTTPStatus(status).phrase
    body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
                       "reason": reason.replace(" ", ""), "code": status}).encode()
    return status, reason, [("Content-Type", "application/json")], body


class CountingProxy:
    """Start with ``with CountingProxy(kubeconfig) as proxy:``; read ``proxy.requests``."""

    def __init__(self, kubeconfig: str | os.PathLike):
        config = yaml.safe_load(Path(kubeconfig).read_text(encoding="utf-8"))
        context_name = config["current-context"]
        context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        self._tmp = tempfile.TemporaryDirectory(prefix="counting-proxy-")
        upstream = urllib.parse.urlsplit(cluster["server"])
        self._upstream = (upstream.hostname, upstream.port or 443)
        self._tls = ssl.create_default_context(cafile=_credential_file(cluster, "certificate-authority", self._tmp.name))
        cert = _credential_file(user, "client-certificate", self._tmp.name)
        if cert:
            self._tls.load_cert_chain(cert, _credential_file(user, "client-key", self._tmp.name))
        self._token = user.get("token")
        self.requests: list[Request] = []
        self.before_forward: Callable[[Request], tuple[int, str] | None] | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self.kubeconfig = Path(self._tmp.name) / "kubeconfig"
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "proxy",
            "clusters": [{"name": "proxy", "cluster": {"server": self.url}}],
            "users": [{"name": "proxy", "user": {}}],
            "contexts": [{"name": "proxy", "context": {"cluster": "proxy", "user": "proxy"}}],
        }), encoding="utf-8")

    def __enter__(self) -> "CountingProxy":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._tmp.cleanup()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method) and (path is None or r.path == path))

    def writes(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.is_write]

    def _connection(self) -> http.client.HTTPSConnection:
        # One upstream connection per handler thread: each client connection keeps its own.
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPSConnection(*self._upstream, context=self._tls, timeout=120)
            self._local.connection = connection
        return connection

    def _forward(self, method: str, target: str, headers: dict[str, str], body: bytes | None):
        for attempt in (1, 2):
            connection = self._connection()
            try:
                connection.request(method, target, body=body, headers=headers)
                response = connection.getresponse()
                return response.status, response.reason, response.getheaders(), response.read()
            except (http.client.HTTPException, ConnectionError):
                # The server closed an idle keep-alive connection: reconnect once.
                connection.close()
                self._local.connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _handler_class(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002  (signature of the base class)
                pass

            def _handle(self):
                split = urllib.parse.urlsplit(self.path)
                request = Request(self.command, split.path, urllib.parse.parse_qs(split.query))
                with proxy._lock:
                    proxy.requests.append(request)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                answer = proxy.before_forward(request) if proxy.before_forward else None
                if answer:
                    status, reason, response_headers, data = _status_answer(*answer)
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS | {"host"}}
                    if proxy._token:
                        headers["Authorization"] = "Bearer " + proxy._token
                    try:
                        status, reason, response_headers, data = proxy._forward(self.command, self.path, headers, body)
                    except OSError as error:
                        status, reason, response_headers, data = _status_answer(
                            502, "upstream %s:%d: %s" % (*proxy._upstream, error))
                self.send_response(status, reason)
                for key, value in response_headers:
                    if key.lower() not in _HOP_HEADERS | {"content-length"}:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler
