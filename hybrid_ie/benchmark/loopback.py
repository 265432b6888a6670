"""A threaded HTTP server on 127.0.0.1 (a free port) that serves an OpenAI-style `/v1` API from
a handler class: the plumbing shared by the oracle LLM servers and the tests' misbehaving server.

Subclasses set `handler` (a `BaseHTTPRequestHandler` that reads its owner as `self.server.owner`)
and `thread_name`; use them as context managers, or `start()` / `stop()`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Any


class LoopbackServer:
    handler: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str] = "loopback-llm"
    poll_interval: ClassVar[float] = 0.02

    _httpd: _Server | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> Self:
        self._httpd = _Server(("127.0.0.1", 0), self.handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=self.thread_name, daemon=True)  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
