"""The reconciler: merge the encoder's and the LLM's answers for one escalated chunk.

Both answers arrive as Documents over the same chunk text (character offsets into it). Items are
matched by span: an entity by (start, end, label), a relation by (head span, tail span, label),
with symmetric relations in canonical order. Strategies:

``llm_corrects``
    The LLM's answer is the chunk's answer: what it confirms is kept (source ``both``), what it
    relabels takes its label (``llm``), what it leaves out is removed, what it adds is added
    (``llm``).
``union``
    Everything either side found (``both`` when they agree).
``vote``
    A score-weighted vote per item. Each side votes *yes* with its score for the items it
    returned; a side that did not return an item votes *no*: the LLM with `llm_score`, the
    encoder with ``1 - s`` where ``s`` is the item's score among the encoder's sub-threshold
    candidates (``1 - candidate_floor`` when it was not even a candidate). The item is kept when
    ``yes / (yes + no) >= 0.5``, with that ratio as its score. With a per-label `trust` t in
    [0, 1] (`hybrid_ie.competence.Competence.trust_map`: what the encoder's answers are worth on
    that label in this run) the encoder's votes on an item of that label are multiplied by t: its
    *yes* becomes ``t * s`` and its *no* ``t * (1 - s)``; t = 1 (a label without an entry) is the
    plain vote, t = 0 lets the LLM decide alone. A per-label `llm_trust` u weighs the LLM's votes
    the same way (its *yes* ``u * llm``, its *no* ``u * llm_score``; u may exceed 1): measured
    competence gives each side's votes the weight of its F1 on that label relative to the other
    side's, and makes the LLM's votes count its measured F1 (`Competence.llm_trust`).

Scores: an LLM item without a score counts as `llm_score`; an item both sides returned gets the
noisy-or ``1 - (1 - a)(1 - b)`` in ``llm_corrects`` and ``union``, the mean in ``vote``. After merging, the schema is
re-checked: entity labels must be schema types; one label per span (the higher score wins);
flat decoding keeps no overlapping spans and nested decoding no crossing ones (greedy by score);
relations are re-linked by span to the surviving entities and kept only when the schema allows
their label between the entities' (possibly relabelled) types.

`DEFAULT_STRATEGY` and `LLM_SCORE` were chosen by measurement on conll04 dev (the rule below;
`eval/bench_reconcile.py` measures it again). With ``vote`` and `LLM_SCORE` 0.5 the LLM overrules the encoder only where the
encoder was unsure: an encoder item scored below 0.5 that the LLM leaves out is dropped, an LLM
addition survives only when the encoder had it as a candidate scored 0.5 or more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from hybrid_ie.document import Document, Entity, Relation, Source, Span, clashes, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema
from hybrid_ie.tiers import CANDIDATE_FLOOR

STRATEGIES = ("llm_corrects", "union", "vote")
# Chosen on conll04 dev (first 80 sentences, budget 0.2, shipped encoder, local 0.5B LLM, verify
# task; eval/bench_reconcile.py): the best relation F1 (then entity
# F1) of the three strategies x LLM scores 0.2-0.8 was vote with 0.5. llm_corrects lost 5 points
# of entity F1 and 4 of relation F1 there: the small local LLM drops and relabels good spans.
DEFAULT_STRATEGY = "vote"
LLM_SCORE = 0.5

EntityKey = tuple[int, int, str]
RelationKey = tuple[Span, Span, str]


@dataclass
class _Votes:
    """What each side said about one item: its score, or None when it did not return it."""

    encoder: float | None = None
    llm: float | None = None
    encoder_candidate: float | None = None


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InputError(f"unknown reconcile strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return strategy


def _or(score: float | None, default: float) -> float:
    return default if score is None else score


def noisy_or(a: float, b: float) -> float:
    return 1.0 - (1.0 - a) * (1.0 - b)


def _majority(yes: float, no: float, source: Source) -> tuple[float, Source] | None:
    ratio = yes / (yes + no) if yes + no > 0 else 0.0
    return (ratio, source) if ratio >= 0.5 else None


def _decide(
    votes: _Votes, strategy: str, llm_score: float, candidate_floor: float, trust: float = 1.0, llm_trust: float = 1.0
) -> tuple[float, Source] | None:
    """Keep or drop one item; returns (score, source) when kept (`trust`, `llm_trust`: the
    encoder's and the LLM's weights)."""
    enc, llm = votes.encoder, votes.llm
    if enc is not None and llm is not None:
        return ((enc + llm) / 2.0 if strategy == "vote" else noisy_or(enc, llm)), "both"
    if llm is not None:
        if strategy != "vote":
            return llm, "llm"
        against = votes.encoder_candidate if votes.encoder_candidate is not None else candidate_floor
        return _majority(llm_trust * llm, trust * (1.0 - against), "llm")
    if enc is None or strategy == "llm_corrects":
        return None
    if strategy == "union":
        return enc, "encoder"
    return _majority(trust * enc, llm_trust * llm_score, "encoder")


def _canonical(head: Span, tail: Span, label: str, symmetric: set[str]) -> RelationKey:
    if label in symmetric and tail < head:
        head, tail = tail, head
    return (head, tail, label)


def _entity_votes(encoder: Document, llm: Document, llm_score: float) -> dict[EntityKey, _Votes]:
    votes: dict[EntityKey, _Votes] = {}
    for ent in encoder.entities:
        votes.setdefault((ent.start, ent.end, ent.label), _Votes()).encoder = _or(ent.score, 1.0)
    for ent in llm.entities:
        votes.setdefault((ent.start, ent.end, ent.label), _Votes()).llm = _or(ent.score, llm_score)
    for cand in encoder.meta.get("encoder", {}).get("candidates", []):
        key = (int(cand["start"]), int(cand["end"]), str(cand["label"]))
        if key in votes:
            votes[key].encoder_candidate = float(cand["score"])
    return votes


def _relation_votes(encoder: Document, llm: Document, llm_score: float, symmetric: set[str]) -> dict[RelationKey, _Votes]:
    votes: dict[RelationKey, _Votes] = {}
    for doc, side in ((encoder, "encoder"), (llm, "llm")):
        ents = doc.entity_map()
        for rel in doc.relations:
            key = _canonical(ents[rel.head].span, ents[rel.tail].span, rel.label, symmetric)
            default = 1.0 if side == "encoder" else llm_score
            setattr(votes.setdefault(key, _Votes()), side, _or(rel.score, default))
    for cand in encoder.meta.get("encoder", {}).get("relation_candidates", []):
        key = _canonical(tuple(cand["head"]), tuple(cand["tail"]), str(cand["label"]), symmetric)  # type: ignore[arg-type]
        if key in votes:
            votes[key].encoder_candidate = float(cand["score"])
    return votes


def resolve_spans(
    items: Iterable[tuple[EntityKey, float, Source]], schema: Schema, *, nested: bool
) -> list[tuple[EntityKey, float, Source]]:
    """Schema labels only, one label per span, and no overlapping (flat) or crossing (nested)
    spans; conflicts are resolved greedily by score (ties: shorter span first, then position)."""
    allowed = set(schema.entity_labels)
    ranked = sorted(
        (it for it in items if it[0][2] in allowed),
        key=lambda it: (-it[1], it[0][1] - it[0][0], it[0][0], it[0][2]),
    )
    kept: list[tuple[EntityKey, float, Source]] = []
    for item in ranked:
        span = item[0][:2]
        if any(clashes(k[0][:2], span, nested=nested) for k in kept):  # type: ignore[arg-type]
            continue
        kept.append(item)
    return sorted(kept, key=lambda it: it[0])


def build_document(
    doc_id: str,
    text: str,
    entities: Iterable[tuple[EntityKey, float, Source]],
    relations: Iterable[tuple[RelationKey, float, Source]],
    schema: Schema,
    *,
    meta: dict | None = None,
) -> Document:
    """A Document from span-keyed items: entity ids T1.. by start (outer spans before the spans
    nested in them); relations re-linked by span and kept only when both arguments exist and
    the schema allows their types."""
    ents: list[Entity] = []
    by_span: dict[Span, Entity] = {}
    for (start, end, label), score, source in sorted(entities, key=lambda it: (it[0][0], -it[0][1], it[0][2])):
        ent = make_entity(text, start, end, label, id=f"T{len(ents) + 1}", score=round(score, 6), source=source)
        ents.append(ent)
        by_span[(start, end)] = ent
    rels: list[Relation] = []
    seen: set[tuple[str, str, str]] = set()
    for (head_span, tail_span, label), score, source in sorted(relations, key=lambda it: it[0]):
        head, tail = by_span.get(head_span), by_span.get(tail_span)
        if head is None or tail is None or head.id == tail.id:
            continue
        if not schema.allows(label, head.label, tail.label) or (head.id, tail.id, label) in seen:
            continue
        seen.add((head.id, tail.id, label))
        rels.append(Relation(head=head.id, tail=tail.id, label=label, score=round(score, 6), source=source))
    return Document(id=doc_id, text=text, entities=ents, relations=rels, meta=meta or {})


def reconcile(
    encoder: Document,
    llm: Document,
    schema: Schema,
    strategy: str = DEFAULT_STRATEGY,
    *,
    nested: bool = False,
    llm_score: float = LLM_SCORE,
    candidate_floor: float = CANDIDATE_FLOOR,
    trust: Mapping[str, Mapping[str, float]] | None = None,
    llm_trust: Mapping[str, Mapping[str, float]] | None = None,
) -> Document:
    """Merge the encoder's and the LLM's Documents for one chunk (same text) into one Document.

    The result keeps the encoder Document's id and meta; every item carries its provenance
    (`source` encoder | llm | both) and a combined score (see the module docstring). `trust`
    ({"entities": {label: t}, "relations": {label: t}}) weighs the encoder's votes per label in
    ``vote``; None or a missing label is 1; `llm_trust` (same shape) weighs the LLM's votes.
    """
    check_strategy(strategy)
    if encoder.text != llm.text:
        raise InputError(f"reconcile: the encoder and LLM documents of {encoder.id!r} have different texts")
    symmetric = schema.symmetric_relations
    ent_trust, rel_trust = (trust or {}).get("entities", {}), (trust or {}).get("relations", {})
    ent_llm, rel_llm = (llm_trust or {}).get("entities", {}), (llm_trust or {}).get("relations", {})
    entities = []
    for key, votes in _entity_votes(encoder, llm, llm_score).items():
        label = key[2]
        decided = _decide(votes, strategy, llm_score, candidate_floor, ent_trust.get(label, 1.0), ent_llm.get(label, 1.0))
        if decided is not None:
            entities.append((key, *decided))
    relations = []
    for key, votes in _relation_votes(encoder, llm, llm_score, symmetric).items():
        label = key[2]
        decided = _decide(votes, strategy, llm_score, candidate_floor, rel_trust.get(label, 1.0), rel_llm.get(label, 1.0))
        if decided is not None:
            relations.append((key, *decided))
    kept = resolve_spans(entities, schema, nested=nested)
    return build_document(encoder.id, encoder.text, kept, relations, schema, meta=dict(encoder.meta))


def only_candidates(llm: Document, spans: set[Span], pairs: set[tuple[Span, Span]]) -> Document:
    """The LLM's verify answer without additions: only its entities on a span of `spans` (the
    candidates its prompt showed; a new label there is a relabel), and only its relations between
    a (head span, tail span) pair of `pairs`."""
    kept = [e for e in llm.entities if e.span in spans]
    by_id = {e.id: e for e in kept}
    relations = [r for r in llm.relations if r.head in by_id and r.tail in by_id
                 and (by_id[r.head].span, by_id[r.tail].span) in pairs]  # fmt: skip
    return llm.model_copy(update={"entities": kept, "relations": relations})


def normalize(doc: Document, schema: Schema, *, nested: bool = False, default_score: float = LLM_SCORE) -> Document:
    """Re-check one side's Document alone against the schema (labels, overlaps, relation types,
    duplicates), keeping each item's own score (`default_score` when it has none) and source."""
    symmetric = schema.symmetric_relations
    ents = doc.entity_map()
    entities = [((e.start, e.end, e.label), _or(e.score, default_score), e.source) for e in doc.entities]
    relations = [
        (_canonical(ents[r.head].span, ents[r.tail].span, r.label, symmetric), _or(r.score, default_score), r.source)
        for r in doc.relations
    ]
    kept = resolve_spans(entities, schema, nested=nested)
    return build_document(doc.id, doc.text, kept, relations, schema, meta=dict(doc.meta))


__all__ = [
    "CANDIDATE_FLOOR",
    "DEFAULT_STRATEGY",
    "LLM_SCORE",
    "STRATEGIES",
    "build_document",
    "check_strategy",
    "noisy_or",
    "normalize",
    "only_candidates",
    "reconcile",
    "resolve_spans",
]
