"""Oracle LLMs for the benchmark: chat-completions servers on 127.0.0.1 that answer from the gold.

    with oracle_llm("oracle:0.1", gold, schema, seed=0) as (client, identity):
        client.verify(chunk, schema, candidates)     # the real LLMClient, over real HTTP

`oracle` answers each chunk with its gold entities and relations; `oracle:P` first adds noise,
seeded per chunk (the same chunk always gets the same answer): every gold entity and relation is
dropped with probability P, else its label is swapped for another with probability P (for a
relation, one the schema allows between the gold argument types when there is one), and each
gold item brings one spurious item of its kind with probability P (an entity on a random 1-3 word
window, a relation between two gold entities of the chunk), so about P x (gold items) are
spurious; a chunk without gold items gets none. A relation whose argument was dropped is still
named, by its texts; the client then finds no entity for it, as with a real LLM.

The server speaks the OpenAI chat-completions API and reads what `hybrid_ie.llm.client` sends: the
chunk from the last user message (``Text: ...``), the task and the list caps from the response
schema (``json_schema``, ``json_object`` with a schema, or ``tools``), and for verify the numbered
candidates; it answers in the response model's shape (extract: entities and relations by text;
verify: one verdict per candidate, then the gold items not among the candidates as additions,
within the caps). So an oracle run goes through the same client, grounding and reconcile code as
a real LLM, and what it loses there is measured too. A chunk is found in the gold by its exact
text (each gold document chunked as the pipeline chunks it; else any document containing it).

Evaluation only: the oracle reads the gold annotations. Only the harness builds one (`hybrid-ie
benchmark --llm oracle[:P]`): its server lives on a free port of 127.0.0.1 for the length of the
benchmark, and the LLM configuration, the pipeline and distill know nothing of it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from hybrid_ie.benchmark.loopback import LoopbackServer
from hybrid_ie.chunking import word_spans
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.llm.responses import LabelSet
from hybrid_ie.schema import Schema

NOISE_KEYS = ("gold", "dropped", "swapped", "spurious")
_SCORE_RE = re.compile(r"\s+\d+(?:\.\d+)?$")


ORACLE_BACKEND = "oracle"  # how reports and run fingerprints name the oracles' backend


def parse_oracle(spec: str) -> float:
    """The noise level of `oracle` (0) or `oracle:P` (0 <= P <= 1)."""
    name, _, level = spec.strip().partition(":")
    if name != ORACLE_BACKEND or (not level and ":" in spec):
        raise InputError(f"--llm: expected 'oracle' or 'oracle:P' with P in [0, 1], got {spec!r}")
    try:
        p = float(level) if level else 0.0
    except ValueError as exc:
        raise InputError(f"--llm: {spec!r}: the noise level {level!r} is not a number") from exc
    if not 0.0 <= p <= 1.0:
        raise InputError(f"--llm: {spec!r}: the noise level must be in [0, 1]")
    return p


def oracle_label(spec: str) -> str:
    """How report rows name an oracle: it reads the gold."""
    return f"{spec} — reads gold"


# -- the gold of a chunk, and its noisy version ------------------------------------------------


@dataclass(frozen=True)
class Item:
    """An entity (``head`` and ``tail`` None) or a relation between entity texts."""

    text: str  # entity: its text; relation: "" (see head/tail)
    label: str  # schema name
    start: int = -1  # entity: chunk-local offset (orders mentions)
    head: str | None = None
    tail: str | None = None


@dataclass
class ChunkGold:
    entities: list[Item] = field(default_factory=list)
    relations: list[Item] = field(default_factory=list)


class GoldIndex:
    """The gold items of a chunk text (chunk-local), looked up by the chunk's exact text."""

    def __init__(self, gold: Sequence[Document], max_chunk_words: int | None = None) -> None:
        from hybrid_ie.pipeline import MAX_CHUNK_WORDS, chunk_text

        self.docs = list(gold)
        self._by_text: dict[str, ChunkGold] = {}
        for doc in self.docs:
            for c in chunk_text(doc.text, max_chunk_words or MAX_CHUNK_WORDS):
                self._by_text.setdefault(c.text, self._items(doc, c.start, c.end))

    @staticmethod
    def _items(doc: Document, start: int, end: int) -> ChunkGold:
        inside = {e.id: e for e in doc.entities if start <= e.start and e.end <= end}
        ents = sorted(inside.values(), key=lambda e: (e.start, e.end))
        return ChunkGold(
            [Item(e.text, e.label, e.start - start) for e in ents],
            [Item("", r.label, head=inside[r.head].text, tail=inside[r.tail].text)
             for r in doc.relations if r.head in inside and r.tail in inside],
        )  # fmt: skip

    def find(self, text: str) -> ChunkGold | None:
        found = self._by_text.get(text)
        if found is None:
            for doc in self.docs:
                at = doc.text.find(text)
                if at >= 0:
                    found = self._by_text.setdefault(text, self._items(doc, at, at + len(text)))
                    break
        return found


class Noise:
    """Seeded, per-chunk noise at level `p` (see the module docstring); `counts` tallies what it
    did over the distinct chunks it saw, per kind (entities, relations) and NOISE_KEYS."""

    def __init__(self, p: float, seed: int, schema: Schema) -> None:
        self.p, self.seed, self.schema = p, seed, schema
        self.counts = {kind: dict.fromkeys(NOISE_KEYS, 0) for kind in ("entities", "relations")}
        self._done: dict[str, ChunkGold] = {}
        self._lock = threading.Lock()

    def apply(self, text: str, gold: ChunkGold) -> ChunkGold:
        with self._lock:
            if text not in self._done:
                self._done[text] = self._noisy(text, gold)
            return self._done[text]

    def _noisy(self, text: str, gold: ChunkGold) -> ChunkGold:
        digest = hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()
        rng, p = random.Random(int.from_bytes(digest[:8], "big")), self.p
        ent_labels = list(self.schema.entity_labels)
        ents, tally = [], self.counts["entities"]
        for e in gold.entities:
            tally["gold"] += 1
            dropped, swap, swap_to = rng.random() < p, rng.random() < p, rng.random()
            if dropped:
                tally["dropped"] += 1
                continue
            others = [x for x in ent_labels if x != e.label]
            if swap and others:
                tally["swapped"] += 1
                e = Item(e.text, others[int(swap_to * len(others))], e.start)
            ents.append(e)
        words = [w for w in word_spans(text) if text[w[0]].isalnum()]
        taken = {(e.start, e.start + len(e.text)) for e in gold.entities}
        windows = [(words[i][0], words[j][1]) for i in range(len(words)) for j in range(i, min(i + 3, len(words)))]
        for _ in gold.entities:
            free = [w for w in windows if w not in taken]
            if rng.random() < p and free:
                span = rng.choice(free)
                taken.add(span)
                tally["spurious"] += 1
                ents.append(Item(text[span[0] : span[1]], rng.choice(ent_labels), span[0]))
        ents.sort(key=lambda e: e.start)
        rels, tally = [], self.counts["relations"]
        types = {e.text: e.label for e in gold.entities}
        for r in gold.relations:
            tally["gold"] += 1
            dropped, swap, swap_to = rng.random() < p, rng.random() < p, rng.random()
            if dropped:
                tally["dropped"] += 1
                continue
            others = self._relation_labels(types.get(r.head or ""), types.get(r.tail or ""), r.label)
            if swap and others:
                tally["swapped"] += 1
                r = Item("", others[int(swap_to * len(others))], head=r.head, tail=r.tail)
            rels.append(r)
        names = list(dict.fromkeys(e.text for e in gold.entities))
        have = {(r.head, r.tail) for r in gold.relations}
        for _ in gold.relations:
            free = [(h, t) for h in names for t in names if h != t and (h, t) not in have]
            if rng.random() < p and free:
                head, tail = rng.choice(free)
                have.add((head, tail))
                tally["spurious"] += 1
                rels.append(Item("", rng.choice(self._relation_labels(types[head], types[tail], None)),
                                 head=head, tail=tail))  # fmt: skip
        return ChunkGold(ents, rels)

    def _relation_labels(self, head: str | None, tail: str | None, but: str | None) -> list[str]:
        """Relation labels other than `but`, those the schema allows between the types first."""
        others = [t.name for t in self.schema.relation_types if t.name != but]
        allowed = [x for x in others if head and tail and self.schema.allows(x, head, tail)]
        return allowed or others


# -- answering one request ---------------------------------------------------------------------


def response_schema(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema the client asked for, in whichever request format it used."""
    fmt = body.get("response_format") or body.get("extra_body", {}).get("response_format") or {}
    if "json_schema" in fmt:
        return fmt["json_schema"].get("schema") or {}
    if "schema" in fmt:
        return fmt["schema"]
    tools = body.get("tools") or []
    return (tools[0]["function"].get("parameters") or {}) if tools else {}


def _cap(props: dict[str, Any], key: str) -> int:
    return int(props.get(key, {}).get("maxItems", 10**6))


def _rows(block: str) -> list[str]:
    lines = [line for line in block.strip().splitlines() if line.strip()]
    return [] if lines == ["(none)"] else lines


def _parse_entity_row(row: str) -> tuple[str, str]:
    rest = row.split(". ", 1)[1]
    text, at = json.JSONDecoder().raw_decode(rest)
    return text, _SCORE_RE.sub("", rest[at:].strip())


def _parse_relation_row(row: str, labels: Sequence[str]) -> tuple[str, str, str]:
    rest = row.split(". ", 1)[1]
    head, at = json.JSONDecoder().raw_decode(rest)
    rest = rest[at:]
    for label in sorted(labels, key=len, reverse=True):
        if rest.startswith(f" {label} "):
            tail, _ = json.JSONDecoder().raw_decode(rest[len(label) + 2 :])
            return head, label, tail
    raise ValueError(f"cannot read the relation candidate row {row!r}")


class OracleAnswerer:
    """Turns one chat-completions request body into the oracle's JSON answer."""

    def __init__(self, gold: GoldIndex, noise: Noise, labels: LabelSet, schema: Schema) -> None:
        self.gold, self.noise, self.labels, self.schema = gold, noise, labels, schema
        self.requests = 0
        self.unmatched = 0

    def answer(self, body: dict[str, Any]) -> dict[str, Any]:
        users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
        message = (users[-1] if users else "").removeprefix("Text: ")
        props = response_schema(body).get("properties", {})
        verify = "add_entities" in props
        text = message[: message.rindex("\n\nEntity candidates:\n")] if verify else message
        self.requests += 1
        found = self.gold.find(text)
        if found is None:
            self.unmatched += 1
            found = ChunkGold()
        items = self.noise.apply(text, found)
        if verify:
            return self._verify(message[len(text):], props, items)
        ents = [{"text": e.text, "type": self.labels.entity(e.label)} for e in items.entities]
        out: dict[str, Any] = {"entities": ents[: _cap(props, "entities")]}
        if "relations" in props:
            rels = [{"head": r.head, "type": self.labels.relation(r.label), "tail": r.tail} for r in items.relations]
            out["relations"] = rels[: _cap(props, "relations")]
        return out

    def _verify(self, candidates: str, props: dict[str, Any], items: ChunkGold) -> dict[str, Any]:
        ent_block, _, rel_block = candidates.partition("\n\nRelation candidates:\n")
        ent_block = ent_block.removeprefix("\n\nEntity candidates:\n")
        covered: set[int] = set()
        verdicts = []
        for text, shown in (_parse_entity_row(r) for r in _rows(ent_block)):
            open_ = [i for i, e in enumerate(items.entities) if e.text == text and i not in covered]
            same = [i for i in open_ if self.labels.entity(items.entities[i].label) == shown]
            pick = (same or open_ or [None])[0]
            if pick is None:
                verdicts.append("drop")
                continue
            covered.add(pick)
            verdicts.append("ok" if same else self.labels.entity(items.entities[pick].label))
        out: dict[str, Any] = {"entities": verdicts}
        adds = [e for i, e in enumerate(items.entities) if i not in covered]
        out["add_entities"] = [{"text": e.text, "type": self.labels.entity(e.label)} for e in adds][
            : _cap(props, "add_entities")
        ]
        if "relations" not in props:
            return out
        symmetric = set(self.schema.symmetric_relations)
        rel_labels = self.labels.relation_labels
        rel_covered: set[int] = set()
        verdicts = []
        for head, shown, tail in (_parse_relation_row(r, rel_labels) for r in _rows(rel_block)):
            def same_pair(r: Item, head: str = head, tail: str = tail) -> bool:
                return (r.head, r.tail) == (head, tail) or (
                    r.label in symmetric and (r.head, r.tail) == (tail, head)
                )

            open_ = [i for i, r in enumerate(items.relations) if i not in rel_covered and same_pair(r)]
            same = [i for i in open_ if self.labels.relation(items.relations[i].label) == shown]
            pick = (same or open_ or [None])[0]
            if pick is None:
                verdicts.append("drop")
                continue
            rel_covered.add(pick)
            verdicts.append("ok" if same else self.labels.relation(items.relations[pick].label))
        out["relations"] = verdicts
        adds = [r for i, r in enumerate(items.relations) if i not in rel_covered]
        out["add_relations"] = [
            {"head": r.head, "type": self.labels.relation(r.label), "tail": r.tail} for r in adds
        ][: _cap(props, "add_relations")]
        return out


# -- the HTTP server ---------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any  # the LoopbackServer's HTTP server; `.owner` is the LoopbackServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        owner = self.server.owner
        try:
            with owner.lock:
                answer = json.dumps(owner.answerer.answer(body), ensure_ascii=False)
        except Exception as exc:  # noqa: BLE001 - a bad request is the client's 400, not a crash
            self._send(400, {"error": {"message": f"oracle: {type(exc).__name__}: {exc}", "type": "bad_request"}})
            return
        message: dict[str, Any] = {"role": "assistant", "content": answer}
        if body.get("tools"):
            name = body["tools"][0]["function"]["name"]
            call = {"id": "call_0", "type": "function", "function": {"name": name, "arguments": answer}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
        prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages", [])) // 4
        completion = len(answer) // 4
        self._send(200, {
            "id": f"oracle-{owner.answerer.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "oracle"),
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        })  # fmt: skip

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class OracleServer(LoopbackServer):
    """The oracle behind an OpenAI-compatible endpoint on 127.0.0.1 (a free port); a context
    manager. `stats()` says how many requests it answered, how many chunks it could not find in
    the gold, and the noise it applied."""

    handler = _Handler
    thread_name = "oracle-llm"
    poll_interval = 0.05

    def __init__(self, gold: Sequence[Document], schema: Schema, *, p: float = 0.0, seed: int = 0,
                 label_style: str = "verbose") -> None:  # fmt: skip
        self.noise = Noise(p, seed, schema)
        self.answerer = OracleAnswerer(GoldIndex(gold), self.noise, LabelSet.of(schema, label_style), schema)
        self.lock = threading.Lock()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self.answerer.requests, "unmatched_chunks": self.answerer.unmatched,
                    "noise": json.loads(json.dumps(self.noise.counts))}  # fmt: skip


def oracle_identity(spec: str, seed: int, request_format: str = "json_schema") -> dict[str, Any]:
    """What decides an oracle's answers (run fingerprints, the report's LLM line)."""
    from hybrid_ie.llm import LLMConfig

    defaults = LLMConfig()
    return {"backend": ORACLE_BACKEND, "model": spec, "noise": parse_oracle(spec), "seed": seed,
            "reads_gold": True, "label": oracle_label(spec), "request_format": request_format,
            "label_style": defaults.label_style, "few_shot": defaults.few_shot,
            "max_candidates": defaults.max_candidates}  # fmt: skip


@contextlib.contextmanager
def oracle_llm(
    spec: str, gold: Sequence[Document], schema: Schema, *, seed: int = 0, request_format: str = "json_schema"
) -> Iterator[tuple[Any, dict[str, Any], OracleServer]]:
    """A running oracle server and an `LLMClient` aimed at it: yields (client, identity, server);
    `identity` is what decides its answers (for run fingerprints and the report)."""
    from hybrid_ie.llm import LLMClient, LLMConfig

    p = parse_oracle(spec)
    with OracleServer(gold, schema, p=p, seed=seed) as server:
        config = LLMConfig(
            backend="openai", model=spec, base_url=server.base_url, api_key_env="HYBRID_IE_ORACLE_NO_KEY",
            request_format=request_format, cache=False, timeout_s=120.0, deadline_s=300.0, max_retries=2,
            max_concurrency=4,
        )  # fmt: skip
        identity = oracle_identity(spec, seed, request_format)
        client = LLMClient(config)
        try:
            yield client, identity, server
        finally:
            client.close()


__all__ = [
    "GoldIndex",
    "Noise",
    "OracleServer",
    "oracle_identity",
    "oracle_label",
    "oracle_llm",
    "parse_oracle",
]
