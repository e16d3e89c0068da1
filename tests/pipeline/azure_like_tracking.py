"""A loopback proxy in front of a real ``mlflow server`` that answers like Azure ML's tracking server
where the two differ in a way gridcast depends on: MLflow 3's logged-models API does not exist.

What it models, from public evidence: Azure ML answers every ``/api/2.0/mlflow/logged-models``
request with 404 and an empty body, which the MLflow client reports as "API request to endpoint
/api/2.0/mlflow/logged-models failed with error code 404 != 200. Response body: ''"
(Azure/azure-sdk-for-python#44896, azureml-mlflow 1.60/1.61 with MLflow 3.5 and 3.8;
Azure/azureml-examples#3885 replaces ``log_model`` with save_model + log_artifacts + register
for the same reason). Everything else is forwarded unchanged to the real server.

What it cannot show: Azure ML's own registry semantics (naming rules, tag limits, latency,
authentication with Entra ID tokens, the azureml:// artifact store). See README "Registry layout".
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOGGED_MODELS = "/mlflow/logged-models"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


class AzureLikeProxy(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.refused: list[str] = []
        """Every logged-models request answered with 404 (method and path)."""
        self.forwarded = 0
        self.calls: list[str] = []
        """Every request as ``METHOD /path`` (no query), in order."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: AzureLikeProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet: pytest shows failures, not traffic
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        body = self._body()
        self.server.calls.append(f"{self.command} {urlsplit(self.path).path}")
        if LOGGED_MODELS in urlsplit(self.path).path:
            self.server.refused.append(f"{self.command} {self.path}")
            self.send_response(404)  # Azure ML: status 404, empty body
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        upstream = http.client.HTTPConnection(self.server.upstream.hostname, self.server.upstream.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP | {"host"}}
        headers["Content-Length"] = str(len(body))
        upstream.request(self.command, self.path, body=body, headers=headers)
        response = upstream.getresponse()
        payload = response.read()
        upstream.close()
        self.server.forwarded += 1
        self.send_response(response.status)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


@contextmanager
def azure_like_proxy(upstream: str) -> Iterator[AzureLikeProxy]:
    proxy = AzureLikeProxy(upstream)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        proxy.shutdown()
        proxy.server_close()
