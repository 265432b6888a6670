"""The HTTP transport of the openai backend, bounded from the outside.

A server may send an answer of any size, at any speed. The transport the openai client gets here
(`bounded_http_client`) reads each response body through a guard that stops:

- at `max_answer_bytes` (also when ``Content-Length`` announces more): `AnswerTooLarge`, an
  `openai.OpenAIError`, so it is not retried (the same server would send it again);
- at the attempt's wall-clock deadline (`attempt_deadline`, set by the client around each
  request): a read timeout, even when the server keeps sending a byte now and then (httpx's own
  read timeout restarts with every byte).

httpx's connect / read / write / pool timeouts still apply to each operation. `cut` shortens a
text kept in an error or a log to `ERROR_CHARS`, saying how much was cut.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import openai

ERROR_CHARS = 400
_attempt = threading.local()


class AnswerTooLarge(openai.OpenAIError):
    """The server's answer was larger than the configured cap; it was not read to the end."""


def http_module() -> Any:
    """The HTTP library the installed openai SDK speaks (httpx, or its successor httpx2)."""
    try:
        import httpx2
        from openai import _base_client

        if getattr(_base_client, "httpx2", None) is httpx2:
            return httpx2
    except ImportError:
        pass
    import httpx

    return httpx


def cut(text: str, keep: int = ERROR_CHARS) -> str:
    """`text`, or its first `keep` characters and a note of how many were cut."""
    if len(text) <= keep:
        return text
    return f"{text[:keep]}… [cut {len(text) - keep:,} of {len(text):,} characters]"


@contextlib.contextmanager
def attempt_deadline(deadline: float) -> Iterator[None]:
    """Requests made by this thread inside the block must have their body by `deadline`
    (`time.monotonic()` seconds)."""
    before = getattr(_attempt, "deadline", None)
    _attempt.deadline = deadline
    try:
        yield
    finally:
        _attempt.deadline = before


def bounded_http_client(*, timeout_s: float, max_answer_bytes: int) -> Any:
    """An HTTP client for `openai.OpenAI(http_client=...)` whose responses are bounded."""
    http = http_module()

    class Body(http.SyncByteStream):
        def __init__(self, inner: Any, request: Any):
            self.inner, self.request = inner, request
            self.deadline = getattr(_attempt, "deadline", None)

        def __iter__(self) -> Iterator[bytes]:
            seen = 0
            for chunk in self.inner:
                seen += len(chunk)
                if seen > max_answer_bytes:
                    raise AnswerTooLarge(f"answer larger than max_answer_bytes={max_answer_bytes:,}; not read further")
                if self.deadline is not None and time.monotonic() > self.deadline:
                    raise http.ReadTimeout("answer still arriving at the attempt's deadline", request=self.request)
                yield chunk

        def close(self) -> None:
            self.inner.close()

    class Transport(http.BaseTransport):
        def __init__(self) -> None:
            self.inner = http.HTTPTransport()

        def handle_request(self, request: Any) -> Any:
            response = self.inner.handle_request(request)
            announced = response.headers.get("content-length", "")
            if announced.isdigit() and int(announced) > max_answer_bytes:
                response.close()
                raise AnswerTooLarge(
                    f"answer of {int(announced):,} bytes announced, over max_answer_bytes={max_answer_bytes:,}"
                )
            return http.Response(response.status_code, headers=response.headers, stream=Body(response.stream, request),
                                 extensions=response.extensions, request=request)  # fmt: skip

        def close(self) -> None:
            self.inner.close()

    timeout = http.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    return openai.DefaultHttpxClient(transport=Transport(), timeout=timeout)


__all__ = ["ERROR_CHARS", "AnswerTooLarge", "attempt_deadline", "bounded_http_client", "cut", "http_module"]
