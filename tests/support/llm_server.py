"""A real chat-completions HTTP server on 127.0.0.1 that misbehaves on purpose, for tests.

    from support.llm_server import LLMServer, Reply

    with LLMServer() as server:                          # binds port 0: a free port
        server.script(Reply.rate_limited(retry_after=0.05), Reply.ok({"entities": [], "relations": []}))
        config = LLMConfig(backend="openai", base_url=server.base_url, ...)
        ...                                              # first request: 429, second: the answer
        server.requests                                  # every request, in order (RecordedRequest)

`POST /v1/chat/completions` answers with the next scripted `Reply`; once the script is used up
it answers with `server.default` (`Reply.ok()` unless set). Replies:

- `Reply.ok(content=None)`: a 200 answer. `content` is a dict (sent as JSON), a string (sent as
  is) or a callable `(RecordedRequest) -> dict | str`; None builds the smallest instance valid
  for the response schema in the request (empty lists, exactly `minItems` items, the first enum
  value: for hybrid-ie's verify task that is "ok" for every candidate).
- `Reply.broken_json()`: truncated JSON. `Reply.schema_invalid()`: JSON of the wrong shape.
- `Reply.bad_labels(label="Weapon")`: a schema-shaped answer whose enum values are `label`.
- `Reply.rate_limited(retry_after=0.05)`: 429 with a Retry-After header (seconds, or any
  string: a malformed value).
- `Reply.server_error(status=500)`: a 5xx (or any status) with an error body.
- `Reply.hang(seconds)`: waits `seconds` before answering (set it past the client timeout).
- `Reply.drop()`: closes the connection without answering.
- `Reply.truncated()`: a 200 answer cut off with `finish_reason="length"`.
- `Reply.trickle(interval_s)`: a 200 answer sent one byte every `interval_s` seconds.

The answer is a message `content` for JSON-schema requests and a tool call when the request
sends `tools`. Every reply carries `usage` (`prompt_tokens`, `completion_tokens`, settable per
reply; defaults 100 and 20) so token accounting can be checked.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Self

from hybrid_ie.benchmark.loopback import LoopbackServer

DEFAULT_PROMPT_TOKENS = 100
DEFAULT_COMPLETION_TOKENS = 20


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    reply: str = ""  # the kind of reply it got

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    @property
    def last_user_message(self) -> str:
        users = [m.get("content") or "" for m in self.messages if m.get("role") == "user"]
        return users[-1] if users else ""

    @property
    def chunk_text(self) -> str:
        """The chunk of hybrid-ie's prompts: the last user message's `Text: ...` line."""
        first = self.last_user_message.split("\n", 1)[0]
        return first.removeprefix("Text: ")

    @property
    def response_schema(self) -> dict[str, Any] | None:
        """The JSON schema the client asked for, in whichever request format it used."""
        fmt = self.body.get("response_format") or {}
        if "json_schema" in fmt:
            return fmt["json_schema"].get("schema")
        if "schema" in fmt:
            return fmt["schema"]
        tools = self.body.get("tools") or []
        if tools:
            return tools[0]["function"].get("parameters")
        return None


Content = dict[str, Any] | str | Callable[[RecordedRequest], dict[str, Any] | str] | None


@dataclass
class Reply:
    """How the server answers one request (build with the classmethods)."""

    kind: str
    status: int = 200
    content: Content = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    finish_reason: str = "stop"
    enum_value: str | None = None
    prompt_tokens: int = DEFAULT_PROMPT_TOKENS
    completion_tokens: int = DEFAULT_COMPLETION_TOKENS

    @classmethod
    def ok(cls, content: Content = None, *, prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
           completion_tokens: int = DEFAULT_COMPLETION_TOKENS) -> Reply:
        return cls("ok", content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

    @classmethod
    def broken_json(cls) -> Reply:
        return cls("broken_json", content='{"entities": [{"text": "Ste')

    @classmethod
    def schema_invalid(cls) -> Reply:
        return cls("schema_invalid", content={"entities": "Steve Jobs", "extra": 1})

    @classmethod
    def bad_labels(cls, label: str = "Weapon") -> Reply:
        return cls("bad_labels", enum_value=label)

    @classmethod
    def rate_limited(cls, retry_after: float | str = 0.05) -> Reply:
        value = retry_after if isinstance(retry_after, str) else f"{retry_after:g}"
        return cls("rate_limited", status=429, headers={"Retry-After": value})

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls("server_error", status=status)

    @classmethod
    def hang(cls, seconds: float, content: Content = None) -> Reply:
        return cls("hang", content=content, delay_s=seconds)

    @classmethod
    def drop(cls) -> Reply:
        return cls("drop")

    @classmethod
    def trickle(cls, interval_s: float, content: Content = None) -> Reply:
        return cls("trickle", content=content, delay_s=interval_s)

    @classmethod
    def truncated(cls) -> Reply:
        return cls("truncated", content='{"entities": [{"text": "A", "type"', finish_reason="length")


def instance_for(schema: dict[str, Any] | None, *, enum_value: str | None = None) -> Any:
    """The smallest instance of a JSON schema; with `enum_value`, every enum is set to it and
    every array that may hold an item holds one (so the bad value is really sent)."""
    if schema is None:
        return {}
    defs = schema.get("$defs", {})

    def build(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return build(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "anyOf" in node:
            return build(node["anyOf"][0])
        if "enum" in node:
            return enum_value if enum_value is not None else node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            props = node.get("properties", {})
            return {name: build(props[name]) for name in node.get("required", list(props))}
        if kind == "array":
            count = node.get("minItems", 0)
            if enum_value is not None and node.get("maxItems", 1) >= 1:
                count = max(count, 1)
            return [build(node.get("items", {})) for _ in range(count)]
        if kind == "string":
            return "x" * max(1, node.get("minLength", 1))
        if kind in ("integer", "number"):
            return 0
        if kind == "boolean":
            return False
        return None

    return build(schema)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any  # the LoopbackServer's HTTP server; `.owner` is the LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `requests`, not a log."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        request = RecordedRequest(self.path, dict(self.headers), body)
        owner = self.server.owner
        reply = owner.next_reply()
        request.reply = reply.kind
        with owner.lock:
            owner.requests.append(request)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        if reply.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.kind == "trickle":
            self._trickle(self._completion(reply, request), reply.delay_s)
            return
        if reply.delay_s and owner.stopping.wait(reply.delay_s):
            return
        if reply.status != 200:
            message = {429: "rate limited", 500: "internal error"}.get(reply.status, f"status {reply.status}")
            self._send_json(reply.status, {"error": {"message": message, "type": reply.kind}}, reply.headers)
            return
        self._send_json(200, self._completion(reply, request), reply.headers)

    def _completion(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        content = reply.content
        if callable(content):
            content = content(request)
        if content is None:
            content = instance_for(request.response_schema, enum_value=reply.enum_value)
        text = content if isinstance(content, str) else json.dumps(content)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if request.body.get("tools"):
            name = request.body["tools"][0]["function"]["name"]
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": "call_0", "type": "function", "function": {"name": name, "arguments": text}}],
            }
        return {
            "id": f"chatcmpl-{len(self.server.owner.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.body.get("model", "test-model"),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    def _trickle(self, payload: dict[str, Any], interval_s: float) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            for i in range(len(data)):
                self.wfile.write(data[i : i + 1])
                self.wfile.flush()
                if self.server.owner.stopping.wait(interval_s):
                    return
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (e.g. after a hang)
            self.close_connection = True


class LLMServer(LoopbackServer):
    """The loopback server; use as a context manager (or `start()` / `stop()`)."""

    handler = _Handler
    thread_name = "llm-test-server"

    def __init__(self, default: Reply | None = None):
        self.default = default or Reply.ok()
        self.requests: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._script: deque[Reply] = deque()

    def script(self, *replies: Reply) -> Self:
        """Queue replies for the next requests, in order."""
        with self.lock:
            self._script.extend(replies)
        return self

    def next_reply(self) -> Reply:
        with self.lock:
            return self._script.popleft() if self._script else self.default

    @property
    def pending(self) -> int:
        """Scripted replies not used yet."""
        with self.lock:
            return len(self._script)

    def stop(self) -> None:
        self.stopping.set()
        super().stop()


def client_config(server: LLMServer, **overrides: Any):
    """An `LLMConfig` for the openai backend aimed at `server`, with test-sized timeouts and
    backoffs and no cache (pass `cache=True, cache_path=...` for one). The LLM reads and writes
    the schema's type names (`label_style="name"`), so scripted answers say "Peop", "Work_For"."""
    from hybrid_ie.llm import LLMConfig

    settings: dict[str, Any] = {
        "backend": "openai",
        "model": "test-model",
        "base_url": server.base_url,
        "request_format": "json_schema",
        "label_style": "name",
        "timeout_s": 1.0,
        "deadline_s": 10.0,
        "max_retries": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        "max_reasks": 2,
        "cache": False,
    }
    settings.update(overrides)
    return LLMConfig(**settings)
