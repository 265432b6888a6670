"""An on-disk (sqlite) cache of validated LLM answers.

The key is a sha256 over everything that can change an answer: backend and model, the full
message list (prompt templates, few-shot examples and the chunk), the response JSON schema,
the extraction schema's fingerprint and the generation parameters. Answers are stored only when
they passed validation, so a cached answer never needs a re-ask. A failure is stored (`put_failure`,
a table of its own) only when the client says the model would give it again: an answer-level
failure (cut off at max_tokens, invalid after every re-ask) at temperature 0; a transport failure or
a deadline is never stored. `get` returns either, a failure with its `error` set. The file is shared safely between
threads and processes (WAL journal, one connection per cache object guarded by a lock).

A failure to open the file raises `HybridIEError` (the client then goes on without a cache); a
failure to read or write it later (a lock held too long by another process, a disk error, a
corrupt file) is logged once and turns the cache off for this object: `get` misses, `put` is a
no-op, the job goes on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_ie.errors import HybridIEError

log = logging.getLogger(__name__)
BUSY_TIMEOUT_S = 10.0  # how long a read or write waits for another process's lock


@dataclass(frozen=True)
class CachedAnswer:
    answer: str  # the validated answer's JSON; "" for a stored failure
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None  # the reason, for a stored failure


def cache_key(**parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class ResponseCache:
    """`get(key)` / `put(key, ...)` over one sqlite file; counts hits and misses."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S):
        self.path = Path(path)
        self.hits = 0
        self.misses = 0
        self.failed: str | None = None  # why the cache was turned off
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=busy_timeout_s, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " answer TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
                " completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS failures (key TEXT PRIMARY KEY, model TEXT NOT NULL,"
                " error TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
                " completion_tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self._db.commit()
        except (OSError, sqlite3.Error) as exc:
            raise HybridIEError(f"{self.path}: cannot open the LLM cache ({exc})") from exc

    def _turn_off(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        log.warning("%s: LLM cache turned off for this run (%s)", self.path, self.failed)

    def get(self, key: str) -> CachedAnswer | None:
        with self._lock:
            row = None
            if self.failed is None:
                try:
                    row = self._db.execute(
                        "SELECT answer, prompt_tokens, completion_tokens, NULL FROM answers WHERE key = ?"
                        " UNION ALL SELECT '', prompt_tokens, completion_tokens, error FROM failures"
                        " WHERE key = ? LIMIT 1",
                        (key, key),
                    ).fetchone()
                except sqlite3.Error as exc:
                    self._turn_off(exc)
            if row is None:
                self.misses += 1
                return None
            self.hits += 1
            return CachedAnswer(*row)

    def put(self, key: str, *, model: str, answer: str, prompt_tokens: int, completion_tokens: int) -> None:
        self._insert("answers", (key, model, answer, prompt_tokens, completion_tokens, time.time()))

    def put_failure(self, key: str, *, model: str, error: str, prompt_tokens: int, completion_tokens: int) -> None:
        """Store a failure the model would give again for this key (see the module docstring)."""
        self._insert("failures", (key, model, error, prompt_tokens, completion_tokens, time.time()))

    def _insert(self, table: str, row: tuple) -> None:
        with self._lock:
            if self.failed is not None:
                return
            try:
                self._db.execute(f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?, ?)", row)
                self._db.commit()
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._db.rollback()
                self._turn_off(exc)

    def __len__(self) -> int:
        """The number of stored answers (failures not counted)."""
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
