"""Candidates in, grounded answers out: the glue between Documents and the LLM's JSON.

- `verify_candidates(doc, limit)`: the encoder's Document for a chunk (accepted entities and
  relations plus the near-threshold candidates in `doc.meta["encoder"]`) -> numbered candidate
  lists for the verify prompt.
- `read_extraction` / `read_verification`: a validated answer -> Entities with character offsets
  (source "llm") and Relations between them, with grounding counts.

A relation is kept when its label is the schema's and its head and tail are entities of this
answer; its argument types are checked after the merge (`hybrid_ie.reconcile`, or
`reconcile.normalize` in llm mode), against the labels the entities end up with, since the LLM's
own label of an argument may be the one the merge replaces. Where a mention repeats, the pair the
schema allows comes first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from hybrid_ie.chunking import span_end_before_closing_period
from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.llm.grounding import Grounder, empty_counts, mention_key
from hybrid_ie.llm.prompts import EntityRow, RelationRow
from hybrid_ie.llm.responses import CONFIRM, DROP, LabelSet
from hybrid_ie.schema import Schema


@dataclass(frozen=True)
class CandidateEntity:
    start: int
    end: int
    text: str
    label: str
    score: float | None


@dataclass(frozen=True)
class CandidateRelation:
    head: int  # index into the entity candidates
    tail: int
    label: str
    score: float | None


@dataclass
class Candidates:
    entities: list[CandidateEntity] = field(default_factory=list)
    relations: list[CandidateRelation] = field(default_factory=list)

    def entity_rows(self, labels: LabelSet) -> list[EntityRow]:
        return [EntityRow(c.text, labels.entity(c.label), c.score) for c in self.entities]

    def relation_rows(self, labels: LabelSet) -> list[RelationRow]:
        return [
            RelationRow(self.entities[r.head].text, labels.relation(r.label), self.entities[r.tail].text, r.score)
            for r in self.relations
        ]


def _top(items: list[Any], limit: int) -> list[Any]:
    """The `limit` highest-scored items (a missing score counts as certain)."""
    ranked = sorted(items, key=lambda c: -(1.0 if c.score is None else c.score))
    return ranked[:limit]


def verify_candidates(doc: Document, limit: int) -> Candidates:
    """Numbered candidates for the verify prompt, in reading order, at most `limit` of each kind."""
    encoder_meta = doc.meta.get("encoder") or {}
    found: dict[tuple[int, int, str], CandidateEntity] = {}
    rows = [(e.start, e.end, e.label, e.score) for e in doc.entities] + [
        (c["start"], c["end"], c["label"], c.get("score")) for c in encoder_meta.get("candidates", [])
    ]
    for start, end, label, score in rows:
        key = (start, end, label)
        if key not in found and 0 <= start < end <= len(doc.text):
            found[key] = CandidateEntity(start, end, doc.text[start:end], label, score)
    entities = sorted(_top(list(found.values()), limit), key=lambda c: (c.start, c.end, c.label))
    index_of_span: dict[tuple[int, int], int] = {}
    for i, c in enumerate(entities):
        index_of_span.setdefault((c.start, c.end), i)

    spans = {e.id: (e.start, e.end) for e in doc.entities}
    pairs = [(spans[r.head], spans[r.tail], r.label, r.score) for r in doc.relations] + [
        (tuple(c["head"]), tuple(c["tail"]), c["label"], c.get("score"))
        for c in encoder_meta.get("relation_candidates", [])
    ]
    relations: dict[tuple[int, int, str], CandidateRelation] = {}
    for head_span, tail_span, label, score in pairs:
        head, tail = index_of_span.get(head_span), index_of_span.get(tail_span)
        if head is None or tail is None or head == tail or (head, tail, label) in relations:
            continue
        relations[(head, tail, label)] = CandidateRelation(head, tail, label, score)
    kept = sorted(_top(list(relations.values()), limit), key=lambda r: (r.head, r.tail, r.label))
    return Candidates(entities, kept)


class AnswerBuilder:
    """Collects grounded entities and their relations for one chunk text."""

    def __init__(self, text: str, schema: Schema):
        self.text = text
        self.schema = schema
        self.grounder = Grounder(text)
        self.grounding = empty_counts()
        self.entities: list[Entity] = []
        self.relations: list[Relation] = []
        self.dropped_relations = 0
        self._by_span: dict[tuple[int, int, str], Entity] = {}
        self._by_mention: dict[str, list[Entity]] = {}
        self._relation_keys: set[tuple[str, str, str]] = set()
        # entity id -> (how its span was found, similarity of the mention to the span text)
        self.entity_grounding: dict[str, tuple[str, float]] = {}
        self._cursor = 0  # start of the last mention grounded: answers list mentions in reading order

    def add_entity(
        self, start: int, end: int, label: str, mention: str | None = None, *, grounding: tuple[str, float] = ("candidate", 1.0)
    ) -> Entity:
        key = (start, end, label)
        if key not in self._by_span:
            entity = Entity(
                id=f"L{len(self.entities) + 1}", start=start, end=end, text=self.text[start:end],
                label=label, source="llm",
            )
            self.entities.append(entity)
            self._by_span[key] = entity
            self.entity_grounding[entity.id] = grounding
            for name in {mention_key(entity.text), mention_key(mention or entity.text)}:
                self._by_mention.setdefault(name, []).append(entity)
        return self._by_span[key]

    def ground_entity(self, mention: str, label: str) -> Entity | None:
        taken = {(k[0], k[1]) for k in self._by_span}
        span = self.grounder.locate(mention, after=self._cursor, taken=taken)
        if span is None:
            self.grounding["ungrounded"] += 1
            return None
        self.grounding[span.status] += 1
        self._cursor = span.start
        similarity = 1.0 if span.method == "exact" else SequenceMatcher(
            None, mention_key(mention), mention_key(span.text), autojunk=False
        ).ratio()
        end = span_end_before_closing_period(self.text, span.start, span.end)  # the encoder's rule too
        return self.add_entity(span.start, end, label, mention, grounding=(span.method, round(similarity, 4)))

    def add_relation(self, heads: list[Entity], label: str, tails: list[Entity]) -> None:
        """Keep the head/tail pair that lie closest together (a mention repeated in the chunk: the
        relation is stated near its arguments), among the pairs the schema allows for `label` when
        there are any (types are checked again after the merge); count it dropped when an
        argument is missing. A relation already kept is not added twice."""
        pairs = [(h, t) for h in heads for t in tails if h.id != t.id]
        pairs = [p for p in pairs if self.schema.allows(label, p[0].label, p[1].label)] or pairs
        if not pairs:
            self.dropped_relations += 1
            return
        head, tail = min(pairs, key=lambda p: abs(p[0].start - p[1].start))
        key = (head.id, tail.id, label)
        if key not in self._relation_keys:
            self._relation_keys.add(key)
            self.relations.append(Relation(head=head.id, tail=tail.id, label=label, source="llm"))

    def entities_named(self, mention: str) -> list[Entity]:
        """The entities a relation's head or tail string refers to: those listed under that
        string, else those overlapping where the string is found in the text ("President
        Kennedy" -> the entity "Kennedy")."""
        listed = self._by_mention.get(mention_key(mention))
        if listed:
            return listed
        span = Grounder(self.text).locate(mention)  # a fresh grounder: no mention counting
        if span is None:
            return []
        return [e for e in self.entities if e.start < span.end and span.start < e.end]

    def relate_mentions(self, head: str, label: str, tail: str) -> None:
        self.add_relation(self.entities_named(head), label, self.entities_named(tail))


def _read_items(out: AnswerBuilder, labels: LabelSet, entities: Any, relations: Any) -> None:
    for item in entities:
        out.ground_entity(item.text, labels.entity_name(item.type))
    for item in relations:
        out.relate_mentions(item.head, labels.relation_name(item.type), item.tail)


def read_extraction(text: str, schema: Schema, labels: LabelSet, answer: Any) -> AnswerBuilder:
    out = AnswerBuilder(text, schema)
    _read_items(out, labels, answer.entities, getattr(answer, "relations", []))
    return out


def read_verification(
    text: str, schema: Schema, labels: LabelSet, candidates: Candidates, answer: Any
) -> AnswerBuilder:
    out = AnswerBuilder(text, schema)
    kept: dict[int, Entity] = {}
    for i, (cand, verdict) in enumerate(zip(candidates.entities, answer.entities, strict=True)):
        if verdict != DROP:
            label = cand.label if verdict == CONFIRM else labels.entity_name(verdict)
            kept[i] = out.add_entity(cand.start, cand.end, label)
    for cand, verdict in zip(candidates.relations, getattr(answer, "relations", []), strict=True):
        if verdict != DROP and cand.head in kept and cand.tail in kept:
            label = cand.label if verdict == CONFIRM else labels.relation_name(verdict)
            out.add_relation([kept[cand.head]], label, [kept[cand.tail]])
        elif verdict != DROP:
            out.dropped_relations += 1
    _read_items(out, labels, answer.add_entities, getattr(answer, "add_relations", []))
    return out
