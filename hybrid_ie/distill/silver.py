"""The silver set: LLM answers (or a hybrid run's escalated chunks) -> weighted training documents.

A silver document is an ordinary `Document` over one chunk (its text is the chunk text, offsets
into it), so `hybrid-ie eval`, `render` and the Label Studio export read it; what distillation
needs besides sits in ``meta["silver"]``:

- ``origin``: the input document id and the chunk's start offset in it (``harvest``: true when
  it came from ``extract --silver-out``);
- ``entities``: per entity (same order as ``entities``): ``provenance`` (``llm``: the LLM alone,
  ``llm+encoder``: the encoder predicted the same span and label too, ``encoder``: a harvested
  item the reconciler kept from the encoder alone), ``grounding`` (how the LLM's string was put
  on the text: exact / case / space / fuzzy; ``candidate`` for a verified encoder span,
  ``reconciled`` for a harvested item), ``grounding_score`` (similarity of the LLM's string to
  the span text, 1.0 for exact) and ``weight`` (its weight in the training loss);
- ``relations``: the same per relation (provenance, weight);
- ``llm``: the task and whether the first answer needed a re-ask.

Filtering (`silver_from_answer`): only answers that came back valid (``status == "ok"``: the
response model and the JSON schema validated them, labels are schema enums) are used; an
entity whose string was not found in the text never becomes an entity (the LLM tier counts it
``ungrounded``), and one found only with a similarity below `SilverSettings.min_grounding` is
dropped here, with the relations that use it; relations already passed the schema's
type-signature filter; overlaps are resolved as in ``--mode llm`` (`reconcile.normalize`).

Weights: an item the encoder also predicts is more likely right (two different models agree),
so it weighs `weight_both`; an LLM-only item `weight_llm`; a harvested encoder-only item
`weight_encoder`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.document import Document, read_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.reconcile import LLM_SCORE, normalize
from hybrid_ie.schema import Schema

PROVENANCE = ("llm", "llm+encoder", "encoder")
_SOURCE_PROVENANCE = {"llm": "llm", "both": "llm+encoder", "encoder": "encoder"}


@dataclass(frozen=True)
class SilverSettings:
    """What enters the silver set, and with which loss weight."""

    min_grounding: float = 0.9  # a fuzzy-grounded entity needs this similarity to its span text
    weight_llm: float = 1.0
    weight_both: float = 2.0
    weight_encoder: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.min_grounding <= 1.0:
            raise InputError(f"min_grounding must be in [0, 1], got {self.min_grounding}")
        for name in ("weight_llm", "weight_both", "weight_encoder"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")

    def weight(self, provenance: str) -> float:
        return {"llm": self.weight_llm, "llm+encoder": self.weight_both, "encoder": self.weight_encoder}[provenance]


@dataclass
class SilverStats:
    """Counts over a silver set (written into the model card)."""

    chunks: int = 0  # chunks asked (or harvested)
    answers_ok: int = 0
    answers_failed: int = 0
    answers_reasked: int = 0
    documents: int = 0  # silver documents (chunks with a usable answer)
    entities: int = 0
    relations: int = 0
    ungrounded: int = 0  # LLM strings not found in the text
    dropped_low_grounding: int = 0  # found only fuzzily, below min_grounding
    dropped_relations: int = 0  # type-signature filter, or an argument dropped
    provenance: Counter = field(default_factory=Counter)
    grounding: Counter = field(default_factory=Counter)
    labels: Counter = field(default_factory=Counter)

    def add_document(self, doc: Document) -> None:
        info = doc.meta["silver"]
        self.documents += 1
        self.entities += len(doc.entities)
        self.relations += len(doc.relations)
        for e, item in zip(doc.entities, info["entities"], strict=True):
            self.provenance[f"entity:{item['provenance']}"] += 1
            self.grounding[item["grounding"]] += 1
            self.labels[e.label] += 1
        for r, item in zip(doc.relations, info["relations"], strict=True):
            self.provenance[f"relation:{item['provenance']}"] += 1
            self.labels[r.label] += 1

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("provenance", "grounding", "labels"):
            out[key] = dict(sorted(getattr(self, key).items()))
        return out


def _entity_keys(doc: Document | None) -> set[tuple[int, int, str]]:
    return {(e.start, e.end, e.label) for e in doc.entities} if doc is not None else set()


def _relation_keys(doc: Document | None, symmetric: set[str]) -> set[tuple]:
    if doc is None:
        return set()
    ents = doc.entity_map()
    out = set()
    for r in doc.relations:
        h, t = ents[r.head].span, ents[r.tail].span
        out.add((h, t, r.label))
        if r.label in symmetric:
            out.add((t, h, r.label))
    return out


def silver_from_answer(
    chunk_id: str,
    text: str,
    result: Any,
    schema: Schema,
    settings: SilverSettings,
    *,
    encoder_doc: Document | None = None,
    origin: dict[str, Any] | None = None,
    stats: SilverStats | None = None,
    nested: bool = False,
) -> Document | None:
    """One LLM answer (`LLMResult`) for a chunk -> its silver Document, or None when the call
    failed. `encoder_doc`: the encoder's prediction for the same chunk text (agreement)."""
    stats = stats if stats is not None else SilverStats()
    stats.chunks += 1
    if result.status != "ok":
        stats.answers_failed += 1
        return None
    stats.answers_ok += 1
    stats.answers_reasked += 0 if result.schema_valid else 1
    stats.ungrounded += int(result.grounding.get("ungrounded", 0))
    stats.dropped_relations += int(result.dropped_relations)
    grounding: dict[tuple[int, int, str], tuple[str, float]] = {}
    kept = []
    for e in result.entities:
        kind, similarity = result.entity_grounding.get(e.id, ("exact", 1.0))
        if similarity < settings.min_grounding:
            stats.dropped_low_grounding += 1
            continue
        kept.append(e)
        grounding[(e.start, e.end, e.label)] = (kind, similarity)
    ids = {e.id for e in kept}
    relations = [r for r in result.relations if r.head in ids and r.tail in ids]
    stats.dropped_relations += len(result.relations) - len(relations)
    raw = Document(id=chunk_id, text=text, entities=kept, relations=relations)
    doc = normalize(raw, schema, nested=nested, default_score=LLM_SCORE)
    stats.dropped_relations += len(relations) - len(doc.relations)
    agree_ents = _entity_keys(encoder_doc)
    agree_rels = _relation_keys(encoder_doc, schema.symmetric_relations)
    ent_info, entities = [], []
    for e in doc.entities:
        provenance = "llm+encoder" if (e.start, e.end, e.label) in agree_ents else "llm"
        kind, similarity = grounding.get((e.start, e.end, e.label), ("exact", 1.0))
        entities.append(e.model_copy(update={"source": "both" if provenance == "llm+encoder" else "llm"}))
        ent_info.append({"id": e.id, "provenance": provenance, "grounding": kind, "grounding_score": similarity,
                         "weight": settings.weight(provenance)})  # fmt: skip
    spans = {e.id: e.span for e in doc.entities}
    rel_info, rels = [], []
    for r in doc.relations:
        provenance = "llm+encoder" if (spans[r.head], spans[r.tail], r.label) in agree_rels else "llm"
        rels.append(r.model_copy(update={"source": "both" if provenance == "llm+encoder" else "llm"}))
        rel_info.append({"provenance": provenance, "weight": settings.weight(provenance)})
    meta = {"silver": {"origin": origin or {}, "entities": ent_info, "relations": rel_info,
                       "llm": {"task": result.task, "reasked": not result.schema_valid}}}  # fmt: skip
    out = Document(id=chunk_id, text=text, entities=entities, relations=rels, meta=meta)
    stats.add_document(out)
    return out


def harvest(doc: Document, settings: SilverSettings) -> list[Document]:
    """The escalated chunks of a hybrid run's Document (``meta["route"]``) as silver Documents:
    their reconciled items with the reconciler's provenance. A document whose LLM calls failed
    (``error``) gives none: which chunk failed is not recorded."""
    if doc.error or not doc.meta.get("route"):
        return []
    out = []
    for i, entry in enumerate(doc.meta["route"]):
        if not entry.get("escalated"):
            continue
        start, end = int(entry["start"]), int(entry["end"])
        inside = [e for e in doc.entities if start <= e.start and e.end <= end]
        ids = {e.id for e in inside}
        text = doc.text[start:end]
        entities = [e.model_copy(update={"start": e.start - start, "end": e.end - start}) for e in inside]
        relations = [r for r in doc.relations if r.head in ids and r.tail in ids]
        ent_info = [{"id": e.id, "provenance": _SOURCE_PROVENANCE.get(e.source, "encoder"), "grounding": "reconciled",
                     "grounding_score": 1.0} for e in entities]  # fmt: skip
        rel_info = [{"provenance": _SOURCE_PROVENANCE.get(r.source, "encoder")} for r in relations]
        for item in (*ent_info, *rel_info):
            item["weight"] = settings.weight(item["provenance"])
        meta = {"silver": {"origin": {"doc": doc.id, "start": start, "harvest": True}, "entities": ent_info,
                           "relations": rel_info, "llm": {"task": "hybrid", "reasked": False}}}  # fmt: skip
        out.append(Document(id=f"{doc.id}#{i}", text=text, entities=entities, relations=relations, meta=meta))
    return out


def harvest_file(extracted: str | Path, path: str | Path, settings: SilverSettings | None = None) -> int:
    """`harvest` every Document of an extract output JSONL into a silver JSONL; returns the count."""
    settings = settings or SilverSettings()
    return write_silver((d for doc in read_jsonl(extracted) for d in harvest(doc, settings)), path)


def write_silver(docs: Iterable[Document], path: str | Path) -> int:
    """Write silver Documents as JSONL (one per line); returns how many."""
    path = Path(path)
    n = 0
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            for doc in docs:
                handle.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
                n += 1
    except OSError as exc:
        raise InputError(f"{path}: cannot write the silver set ({exc.strerror or exc})") from exc
    return n


def read_silver(paths: Sequence[str | Path], schema: Schema) -> list[Document]:
    """Silver Documents from JSONL files written by `distill --silver-out` or `extract
    --silver-out`; every document must carry ``meta["silver"]`` and use the schema's labels."""
    out: list[Document] = []
    allowed_ents, allowed_rels = set(schema.entity_labels), set(schema.relation_labels)
    for path in paths:
        if not Path(path).exists():
            raise InputError(f"{path}: no such silver file")
        for i, doc in enumerate(read_jsonl(path), start=1):
            info = doc.meta.get("silver")
            if not isinstance(info, dict) or len(info.get("entities", ())) != len(doc.entities) or len(
                info.get("relations", ())
            ) != len(doc.relations):
                raise InputError(
                    f"{path}:{i}: not a silver document (no meta.silver matching its items); write silver sets with "
                    "`hybrid-ie distill --silver-out` or `hybrid-ie extract --mode hybrid --silver-out`"
                )
            bad = sorted({e.label for e in doc.entities} - allowed_ents | {r.label for r in doc.relations} - allowed_rels)
            if bad:
                raise InputError(f"{path}:{i}: labels {bad} are not in the schema {schema.name!r}")
            out.append(doc)
    return out


def loss_weights(doc: Document) -> tuple[dict[str, float], dict[int, float]]:
    """(entity id -> weight, relation index -> weight) of a silver Document."""
    info = doc.meta["silver"]
    ents = {e.id: float(item.get("weight", 1.0)) for e, item in zip(doc.entities, info["entities"], strict=True)}
    rels = {i: float(item.get("weight", 1.0)) for i, item in enumerate(info["relations"])}
    return ents, rels


__all__ = [
    "PROVENANCE",
    "SilverSettings",
    "SilverStats",
    "harvest",
    "harvest_file",
    "loss_weights",
    "read_silver",
    "silver_from_answer",
    "write_silver",
]
