"""Reconciler: the three strategies, provenance, combined scores, re-linking, schema re-checks."""

from __future__ import annotations

import pytest

from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.reconcile import STRATEGIES, noisy_or, normalize, reconcile
from hybrid_ie.schema import load_schema

SCHEMA = load_schema("conll04")
TEXT = "John Smith works for Acme Corp in Boston ."
JOHN, ACME, BOSTON = (0, 10), (21, 30), (34, 40)


def doc(entities=(), relations=(), source="encoder", candidates=(), relation_candidates=()) -> Document:
    """entities: (span, label, score); relations: (head index, tail index, label, score)."""
    ents = [
        make_entity(TEXT, s, e, label, id=f"E{i}", score=score, source=source)
        for i, ((s, e), label, score) in enumerate(entities)
    ]
    rels = [
        Relation(head=f"E{h}", tail=f"E{t}", label=label, score=score, source=source)
        for h, t, label, score in relations
    ]
    meta = {"encoder": {"candidates": list(candidates), "relation_candidates": list(relation_candidates)}}
    return Document(id="c1", text=TEXT, entities=ents, relations=rels, meta=meta)


def merge(encoder: Document, llm: Document, schema, strategy: str, **options) -> Document:
    """`reconcile` with the LLM score these tests' hand computations use (0.8)."""
    return reconcile(encoder, llm, schema, strategy, **{"llm_score": 0.8, **options})


def items(result: Document) -> set:
    ents = result.entity_map()
    return {(e.text, e.label, e.source) for e in result.entities} | {
        (ents[r.head].text, r.label, ents[r.tail].text, r.source) for r in result.relations
    }


ENC = doc(
    [(JOHN, "Peop", 0.9), (ACME, "Loc", 0.6), (BOSTON, "Loc", 0.55)],
    [(0, 2, "Live_In", 0.7)],
)
# The LLM confirms John, relabels Acme Corp as Org, drops Boston and adds Work_For.
LLM = doc([(JOHN, "Peop", None), (ACME, "Org", None)], [(0, 1, "Work_For", None)], source="llm")


def test_llm_corrects_confirms_relabels_removes_and_adds():
    result = merge(ENC, LLM, SCHEMA, "llm_corrects")
    assert items(result) == {
        ("John Smith", "Peop", "both"),
        ("Acme Corp", "Org", "llm"),
        ("John Smith", "Work_For", "Acme Corp", "llm"),
    }
    john = result.entities[0]
    assert john.score == pytest.approx(noisy_or(0.9, 0.8))


def test_union_keeps_both_sides_and_resolves_same_span_labels_by_score():
    result = merge(ENC, LLM, SCHEMA, "union")
    # Acme Corp: encoder Loc 0.6 vs LLM Org 0.8 -> Org wins; Live_In(John, Boston) survives.
    assert items(result) == {
        ("John Smith", "Peop", "both"),
        ("Acme Corp", "Org", "llm"),
        ("Boston", "Loc", "encoder"),
        ("John Smith", "Live_In", "Boston", "encoder"),
        ("John Smith", "Work_For", "Acme Corp", "llm"),
    }


def test_vote_weighs_scores_against_the_other_sides_silence():
    enc = doc(
        [(JOHN, "Peop", 0.9), (ACME, "Org", 0.55), (BOSTON, "Loc", 0.95)],
        candidates=[{"start": 0, "end": 4, "text": "John", "label": "Peop", "score": 0.3}],
    )
    llm = doc([(JOHN, "Peop", None), ((0, 4), "Peop", None), ((5, 10), "Peop", None)], source="llm")
    result = merge(enc, llm, SCHEMA, "vote")
    scores = {(e.text, e.label): (e.score, e.source) for e in result.entities}
    # Boston: encoder yes 0.95 vs LLM no 0.8 -> kept with 0.95 / 1.75.
    assert scores[("Boston", "Loc")] == (pytest.approx(0.95 / 1.75), "encoder")
    # Acme Corp: encoder yes 0.55 vs LLM no 0.8 -> dropped.
    assert ("Acme Corp", "Org") not in scores
    # John Smith both yes -> mean of the scores.
    assert scores[("John Smith", "Peop")] == (pytest.approx((0.9 + 0.8) / 2), "both")
    # "Smith" alone: LLM yes 0.8 vs encoder no 1 - 0.1 (not even a candidate) -> kept only if 0.8 >= 0.9: no.
    # "John" overlaps the kept "John Smith" in flat mode and loses anyway.
    assert set(scores) == {("John Smith", "Peop"), ("Boston", "Loc")}


def test_vote_counts_an_encoder_candidate_as_a_weak_yes():
    enc = doc(candidates=[{"start": 34, "end": 40, "text": "Boston", "label": "Loc", "score": 0.45}])
    llm = doc([(BOSTON, "Loc", None)], source="llm")
    result = merge(enc, llm, SCHEMA, "vote")
    # LLM yes 0.8 vs encoder no 1 - 0.45 = 0.55 -> kept with 0.8 / 1.35.
    assert [(e.text, e.score) for e in result.entities] == [("Boston", pytest.approx(0.8 / 1.35, abs=1e-6))]


def test_relations_are_relinked_and_rechecked_against_relabelled_entities():
    # Union keeps the encoder's Work_For(John, Acme) but the LLM relabels Acme Corp as Loc with a
    # higher score: Work_For(Peop, Loc) is not allowed by the schema and is dropped.
    enc = doc([(JOHN, "Peop", 0.9), (ACME, "Org", 0.6)], [(0, 1, "Work_For", 0.9)])
    llm = doc([(ACME, "Loc", 0.95)], source="llm")
    result = merge(enc, llm, SCHEMA, "union")
    assert items(result) == {("John Smith", "Peop", "encoder"), ("Acme Corp", "Loc", "llm")}


def test_duplicates_merge_by_span_and_flat_overlaps_resolve_greedily():
    enc = doc([(JOHN, "Peop", 0.9)])
    llm = doc([(JOHN, "Peop", None), ((0, 4), "Peop", 0.95), ((21, 40), "Loc", 0.7), (ACME, "Org", 0.6)], source="llm")
    flat = merge(enc, llm, SCHEMA, "union")
    assert [(e.text, e.source) for e in flat.entities] == [("John Smith", "both"), ("Acme Corp in Boston", "llm")]
    nested = merge(enc, llm, SCHEMA, "union", nested=True)
    assert [e.text for e in nested.entities] == ["John Smith", "John", "Acme Corp in Boston", "Acme Corp"]


def test_symmetric_relations_merge_in_either_order():
    schema = load_schema("scierc")
    sym = min(schema.symmetric_relations)
    rtype = schema.relation_type(sym)
    label = rtype.head_types[0] if rtype.head_types else schema.entity_labels[0]
    enc = doc([(JOHN, label, 0.9), (BOSTON, label, 0.9)], [(0, 1, sym, 0.9)])
    llm = doc([(JOHN, label, None), (BOSTON, label, None)], [(1, 0, sym, None)], source="llm")
    result = merge(enc, llm, schema, "union")
    assert [(r.label, r.source) for r in result.relations] == [(sym, "both")]


def test_entity_labels_outside_the_schema_are_dropped():
    llm = doc([(JOHN, "Person", 0.99), (ACME, "Org", None)], source="llm")
    result = reconcile(doc(), llm, SCHEMA, "llm_corrects")
    assert [e.label for e in result.entities] == ["Org"]


def test_offsets_hold_and_ids_are_fresh():
    for strategy in STRATEGIES:
        result = merge(ENC, LLM, SCHEMA, strategy)
        assert [e.id for e in result.entities] == [f"T{i + 1}" for i in range(len(result.entities))]
        assert all(TEXT[e.start : e.end] == e.text for e in result.entities)


def test_normalize_checks_one_side_alone():
    llm = doc([(JOHN, "Peop", None), ((0, 4), "Peop", 0.5), (ACME, "Org", None)], [(1, 2, "Work_For", None)], source="llm")
    result = normalize(llm, SCHEMA, default_score=0.8)
    # "John" loses to "John Smith" (0.8 > 0.5); the relation pointed at "John" and is dropped.
    assert items(result) == {("John Smith", "Peop", "llm"), ("Acme Corp", "Org", "llm")}


def test_unknown_strategy_and_mismatched_texts_are_clear_errors():
    with pytest.raises(InputError, match="unknown reconcile strategy"):
        merge(ENC, LLM, SCHEMA, "majority")
    other = Document(id="c1", text="Something else")
    with pytest.raises(InputError, match="different texts"):
        merge(ENC, other, SCHEMA, "union")


def test_the_default_vote_overrules_the_encoder_only_where_it_was_unsure():
    enc = doc(
        [(JOHN, "Peop", 0.45), (ACME, "Org", 0.55)],
        candidates=[
            {"start": 34, "end": 40, "text": "Boston", "label": "Loc", "score": 0.5},
            {"start": 0, "end": 4, "text": "John", "label": "Peop", "score": 0.3},
        ],
    )
    llm = doc([(BOSTON, "Loc", None), ((5, 10), "Peop", None)], source="llm")
    result = reconcile(enc, llm, SCHEMA)  # DEFAULT_STRATEGY, LLM_SCORE
    # John Smith (0.45, left out by the LLM) goes; Acme Corp (0.55) stays; Boston, a candidate at
    # 0.5 that the LLM returned, comes in; "Smith" (not an encoder candidate) does not.
    assert {(e.text, e.source) for e in result.entities} == {("Acme Corp", "encoder"), ("Boston", "llm")}
