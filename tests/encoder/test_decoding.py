from hybrid_ie.document import clashes
from hybrid_ie.encoder.decoding import (
    PairCandidate,
    SpanCandidate,
    best_per_pair,
    best_per_span,
    decode_entities,
    decode_relations,
)
from hybrid_ie.schema import load_schema


def spans(cands):
    return [(c.start, c.end, c.label) for c in cands]


def test_flat_keeps_the_best_of_overlapping_spans():
    cands = [
        SpanCandidate(0, 2, "Peop", 0.9),
        SpanCandidate(1, 3, "Org", 0.95),
        SpanCandidate(0, 1, "Peop", 0.8),
        SpanCandidate(4, 5, "Loc", 0.7),
    ]
    kept, dropped = decode_entities(cands, 0.5)
    assert spans(kept) == [(0, 1, "Peop"), (1, 3, "Org"), (4, 5, "Loc")]
    assert spans(dropped) == [(0, 2, "Peop")]


def test_the_most_specific_passing_label_wins_its_span():
    cands = [
        SpanCandidate(0, 2, "person", 0.9),
        SpanCandidate(0, 2, "politician", 0.4),  # passes: beats the more general "person"
        SpanCandidate(3, 4, "person", 0.8),
        SpanCandidate(3, 4, "politician", 0.2),  # below its cut-off: "person" keeps the span
        SpanCandidate(5, 6, "misc", 0.9),
        SpanCandidate(5, 6, "city", 0.5),  # anything specific beats a catch-all
    ]
    general = {"politician": {"person", "misc"}, "person": {"misc"}, "city": {"misc"}}
    kept, _ = decode_entities(cands, 0.3, general=general)
    assert spans(kept) == [(0, 2, "politician"), (3, 4, "person"), (5, 6, "city")]
    kept, _ = decode_entities(cands, 0.3)  # without the links, the highest score
    assert spans(kept) == [(0, 2, "person"), (3, 4, "person"), (5, 6, "misc")]


def test_nested_allows_containment_but_not_crossing():
    cands = [
        SpanCandidate(0, 4, "Method", 0.9),
        SpanCandidate(1, 2, "Task", 0.8),  # inside (0, 4): allowed
        SpanCandidate(3, 6, "Task", 0.85),  # crosses (0, 4): dropped
    ]
    kept, dropped = decode_entities(cands, 0.5, nested=True)
    assert spans(kept) == [(0, 4, "Method"), (1, 2, "Task")]
    assert spans(dropped) == [(3, 6, "Task")]
    flat, _ = decode_entities(cands, 0.5, nested=False)
    assert spans(flat) == [(0, 4, "Method")]


def test_one_label_per_span_and_threshold():
    cands = [SpanCandidate(0, 2, "Peop", 0.6), SpanCandidate(0, 2, "Org", 0.7), SpanCandidate(3, 4, "Loc", 0.4)]
    kept, dropped = decode_entities(cands, 0.5, nested=True)
    assert spans(kept) == [(0, 2, "Org")]
    assert spans(dropped) == [(0, 2, "Peop")]  # below-threshold items are in neither list


def test_clashes_rules():
    assert clashes((0, 2), (0, 2), nested=True)
    assert clashes((0, 2), (1, 3), nested=True)
    assert not clashes((0, 3), (1, 2), nested=True)
    assert clashes((0, 3), (1, 2), nested=False)
    assert not clashes((0, 1), (1, 2), nested=False)  # touching is not overlapping


def test_best_per_span_and_pair_keep_max_score():
    merged = best_per_span([SpanCandidate(0, 2, "A", 0.3), SpanCandidate(0, 2, "A", 0.6), SpanCandidate(0, 2, "B", 0.1)])
    assert [(c.label, c.score) for c in merged] == [("A", 0.6), ("B", 0.1)]
    pairs = best_per_pair([PairCandidate((0, 1), (2, 3), "r", 0.2), PairCandidate((0, 1), (2, 3), "r", 0.9)])
    assert [p.score for p in pairs] == [0.9]


def test_relations_respect_schema_types_and_threshold():
    schema = load_schema("conll04")
    labels = {(0, 1): "Peop", (2, 3): "Org", (4, 5): "Loc"}
    cands = [
        PairCandidate((0, 1), (2, 3), "Work_For", 0.9),  # Peop -> Org: allowed
        PairCandidate((2, 3), (0, 1), "Work_For", 0.9),  # Org -> Peop: not allowed
        PairCandidate((0, 1), (4, 5), "Live_In", 0.4),  # below threshold
        PairCandidate((0, 1), (6, 7), "Live_In", 0.9),  # tail is not an accepted entity
        PairCandidate((2, 3), (4, 5), "OrgBased_In", 0.8),
    ]
    kept = decode_relations(cands, labels, 0.5, allows=schema.allows, symmetric=schema.symmetric_relations)
    assert [(c.head, c.tail, c.label) for c in kept] == [
        ((0, 1), (2, 3), "Work_For"),
        ((2, 3), (4, 5), "OrgBased_In"),
    ]


def test_symmetric_relation_is_written_once_in_canonical_order():
    schema = load_schema("scierc")
    labels = {(0, 1): "Method", (5, 6): "Method"}
    cands = [
        PairCandidate((5, 6), (0, 1), "Compare", 0.8),
        PairCandidate((0, 1), (5, 6), "Compare", 0.6),
        PairCandidate((5, 6), (0, 1), "Used-for", 0.7),  # not symmetric: direction kept
    ]
    kept = decode_relations(cands, labels, 0.5, allows=schema.allows, symmetric=schema.symmetric_relations)
    assert [(c.head, c.tail, c.label, c.score) for c in kept] == [
        ((0, 1), (5, 6), "Compare", 0.8),
        ((5, 6), (0, 1), "Used-for", 0.7),
    ]


def test_a_document_never_keeps_a_sentence_period_on_a_span_and_its_pairs_follow():
    from hybrid_ie.chunking import word_spans
    from hybrid_ie.encoder.windowed import Thresholds, Window, build_document

    text = "Smith lives in Galveston."
    spans_ = word_spans(text)
    smith, galveston = (0, 5), (15, 25)  # the second span ends in the sentence's period
    window = Window(0, spans_, [text[s:e] for s, e in spans_])
    window.entities = [SpanCandidate(*smith, "Peop", 0.9), SpanCandidate(*galveston, "Loc", 0.8),
                       SpanCandidate(15, 24, "Loc", 0.6)]  # fmt: skip
    window.pairs = [PairCandidate(smith, galveston, "Live_In", 0.7)]
    cut = Thresholds(entity=0.5, relation=0.5, nested=False, floor=0.1)
    doc = build_document("d", text, load_schema("conll04"), [window], cut, backend="test")
    assert [(e.text, e.label, e.score) for e in doc.entities] == [("Smith", "Peop", 0.9), ("Galveston", "Loc", 0.8)]
    assert [(r.head, r.tail, r.label) for r in doc.relations] == [("E1", "E2", "Live_In")]
    assert all(text[e.start : e.end] == e.text for e in doc.entities)
