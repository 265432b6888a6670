"""Wrappers that let every run of a benchmark share one encoder pass and count every LLM call.

`SharedEncoder` stands in for a `JointEncoder`: `predict` results are kept per (text, schema,
decoding options), so the encoder reads each chunk once however many runs (encoder-only, hybrid
at each budget) ask for it. `MeteredLLM` stands in for an `LLMClient`: it forwards each call and
records what it cost (tokens, latency, cache hit, grounding, schema validity). Both forward every
other attribute to the wrapped object, so the pipeline sees the interfaces of contract 2 and 3.

Stand-alone cost: with the LLM's response cache a higher budget re-uses the calls of a lower one
and runs faster (a cache hit reports no tokens and almost no latency). `MeteredLLM` remembers the
latency, tokens and cost each call had when it was really computed (keyed by task, text, schema
and candidates), so a run's cost can be stated as if its cache had been empty
(`CallRecord.standalone`). A hit on an answer cached before this benchmark started has no known
cost: `standalone_known` is False for it and its stand-alone numbers are those of the hit.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.document import Document, iter_json_lines
from hybrid_ie.schema import Schema

# Options of JointEncoder.predict that change only speed or display, never the output.
_OUTPUT_NEUTRAL_OPTIONS = frozenset({"batch_size", "progress"})


class SharedEncoder:
    """A `JointEncoder` whose predictions are computed once per distinct input and re-used.

    `seconds` is the time spent inside the wrapped encoder, `requests` the number of `predict`
    calls received (hits included), `texts_encoded` the texts the wrapped encoder really read.
    """

    def __init__(self, encoder: Any) -> None:
        self._encoder = encoder
        self._memo: dict[tuple[str, str, str], Document] = {}
        self._lock = threading.Lock()
        self.seconds = 0.0
        self.requests = 0
        self.texts_encoded = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._encoder, name)

    @property
    def wrapped(self) -> Any:
        return self._encoder

    def predict(
        self, texts: Sequence[str], schema: Schema, *, ids: Sequence[str] | None = None, **options: Any
    ) -> list[Document]:
        texts = list(texts)
        # Without ids, name documents as JointEncoder.predict does, so hits and misses agree.
        ids = [str(i) for i in ids] if ids is not None else [f"doc-{i}" for i in range(len(texts))]
        options_key = json.dumps(
            {k: v for k, v in sorted(options.items()) if k not in _OUTPUT_NEUTRAL_OPTIONS}, default=str
        )
        keys = [(text, schema.fingerprint, options_key) for text in texts]
        with self._lock:
            self.requests += 1
            todo = sorted({i for i, key in enumerate(keys) if key not in self._memo})
            if todo:
                started = time.perf_counter()
                fresh = self._encoder.predict(
                    [texts[i] for i in todo],
                    schema,
                    ids=[ids[i] for i in todo],
                    **options,
                )
                self.seconds += time.perf_counter() - started
                self.texts_encoded += len(todo)
                for i, doc in zip(todo, fresh, strict=True):
                    self._memo.setdefault(keys[i], doc)
        out = []
        for i, key in enumerate(keys):
            doc = self._memo[key]
            out.append(doc.model_copy(deep=True, update={"id": ids[i]}))
        return out


@dataclass(frozen=True)
class ComputedCost:
    """What a call cost when it was computed (not served from the cache)."""

    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0


@dataclass
class CallRecord:
    """One LLM call as the benchmark saw it."""

    task: str
    key: str
    status: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    wall_s: float
    retries: int
    reasks: int
    cost: float
    cache_hit: bool
    schema_valid: bool
    grounding: dict[str, int] = field(default_factory=dict)
    standalone: ComputedCost | None = None
    standalone_known: bool = True


def _call_key(task: str, text: str, schema: Schema, candidates: Document | None, identity: str) -> str:
    payload = {"task": task, "text": text, "schema": schema.fingerprint, "llm": identity}
    if candidates is not None:
        payload["candidates"] = candidates.model_dump(mode="json", exclude={"meta", "id"})
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


class MeteredLLM:
    """An `LLMClient` whose calls are recorded in `calls` (in call order, thread-safe).

    `identity` names the LLM configuration (part of every call key). With `ledger`, a JSONL
    file, the computed cost of every call that was not a cache hit is appended there as it
    happens, and the ledger's earlier lines are read at start: an invocation that was killed
    still leaves the costs of the answers it put in the LLM cache, so a later one that finds
    them in the cache knows what they cost.
    """

    def __init__(self, client: Any, *, identity: str = "", ledger: str | Path | None = None) -> None:
        self._client = client
        self._identity = identity
        self._lock = threading.Lock()
        self._computed: dict[str, ComputedCost] = {}
        self._ledger = Path(ledger) if ledger is not None else None
        self.calls: list[CallRecord] = []
        self.listeners: list[Callable[[CallRecord], None]] = []
        if self._ledger is not None and self._ledger.exists():
            for _, entry in iter_json_lines(self._ledger):
                self._computed.setdefault(entry["key"], ComputedCost(**entry["cost"]))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    @property
    def wrapped(self) -> Any:
        return self._client

    def prime(self, calls: Sequence[CallRecord]) -> None:
        """Learn the computed costs of calls recorded by an earlier invocation (`--resume`), so
        cache hits on them keep a known stand-alone cost."""
        with self._lock:
            for call in calls:
                if call.standalone_known and call.standalone is not None:
                    self._computed.setdefault(call.key, call.standalone)

    def extract(self, text: str, schema: Schema) -> Any:
        return self._metered(
            "extract",
            _call_key("extract", text, schema, None, self._identity),
            lambda: self._client.extract(text, schema),
        )

    def verify(self, text: str, schema: Schema, candidates: Document) -> Any:
        return self._metered(
            "verify",
            _call_key("verify", text, schema, candidates, self._identity),
            lambda: self._client.verify(text, schema, candidates),
        )

    def _metered(self, task: str, key: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        result = call()
        wall = time.perf_counter() - started
        usage = result.usage
        spent = ComputedCost(
            latency_s=float(usage.latency_s or 0.0),
            prompt_tokens=int(usage.prompt_tokens or 0),
            completion_tokens=int(usage.completion_tokens or 0),
            cost=float(usage.cost or 0.0),
        )
        with self._lock:
            if not usage.cache_hit and key not in self._computed:
                self._computed[key] = spent
                self._append_to_ledger(task, key, spent)
            computed = self._computed.get(key)
            self.calls.append(
                CallRecord(
                    task=task,
                    key=key,
                    status=result.status,
                    prompt_tokens=spent.prompt_tokens,
                    completion_tokens=spent.completion_tokens,
                    latency_s=spent.latency_s,
                    wall_s=wall,
                    retries=int(usage.retries or 0),
                    reasks=int(usage.reasks or 0),
                    cost=spent.cost,
                    cache_hit=bool(usage.cache_hit),
                    schema_valid=bool(result.schema_valid),
                    grounding={k: int(v) for k, v in (result.grounding or {}).items()},
                    standalone=computed or spent,
                    standalone_known=computed is not None,
                )
            )
            record = self.calls[-1]
        for listener in self.listeners:
            listener(record)
        return result

    def _append_to_ledger(self, task: str, key: str, spent: ComputedCost) -> None:
        if self._ledger is None:
            return
        self._ledger.parent.mkdir(parents=True, exist_ok=True)
        with self._ledger.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"task": task, "key": key, "cost": asdict(spent)}) + "\n")
