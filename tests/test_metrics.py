"""hybrid_ie.metrics: hand-computed cases, the shipped fixture, and cross-checks of the entity
numbers against seqeval (flat BIO) and nervaluate (strict / exact / partial) on generated cases."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

from hybrid_ie.document import Document, Relation, make_entity, read_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.metrics import match_partial, score, to_markdown

DATA = Path(__file__).parent / "data"
TEXT = "Alice Smith met Bob Jones at Acme Corp in Paris ."
#       0    5 6   11  15  19 20 25 28 32  38 41 46 48


def span_of(text: str, surface: str) -> tuple[int, int]:
    start = text.index(surface)
    return start, start + len(surface)


def make_doc(doc_id: str, ents: list[tuple[str, str]], rels=(), text: str = TEXT) -> Document:
    """ents: (surface, label); rels: (head index, tail index, label)."""
    entities = [make_entity(text, *span_of(text, s), label, id=f"T{i}") for i, (s, label) in enumerate(ents)]
    relations = [Relation(head=f"T{h}", tail=f"T{t}", label=lab) for h, t, lab in rels]
    return Document(id=doc_id, text=text, entities=entities, relations=relations)


def counts(row: dict) -> tuple:
    return row["tp"], row["fp"], row["fn"]


# -- hand-computed cases --------------------------------------------------------------------------


def test_perfect_prediction_scores_one_everywhere():
    gold = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "org")], [(0, 1, "works_for")])]
    report = score(gold, gold).to_dict()
    for level, schemes in (
        ("entities", ("strict", "boundary", "partial")),
        ("relations", ("strict", "boundary")),
    ):
        for scheme in schemes:
            assert report[level][scheme]["f1"] == 1.0, (level, scheme)
    assert report["macro"]["entities"]["f1"] == 1.0
    assert report["documents"]["missing_in_pred"] == []


def test_entity_schemes_by_hand():
    gold = [
        make_doc("a", [("Alice Smith", "per"), ("Bob Jones", "per"), ("Acme Corp", "org"), ("Paris", "loc")])
    ]
    # right | wrong label (boundary ok) | too short (partial) | spurious | Paris missed
    pred = [make_doc("a", [("Alice Smith", "per"), ("Bob Jones", "org"), ("Acme", "org"), ("met", "per")])]
    r = score(gold, pred).to_dict()["entities"]
    assert counts(r["strict"]) == (1, 3, 3)
    assert r["strict"]["precision"] == pytest.approx(1 / 4) and r["strict"]["recall"] == pytest.approx(1 / 4)
    assert counts(r["boundary"]) == (2, 2, 2)
    # partial: COR 2 (Alice Smith, Bob Jones), PAR 1 (Acme ~ Acme Corp), SPU 1 (met), MIS 1 (Paris)
    p = r["partial"]
    assert (p["correct"], p["partial"], p["spurious"], p["missed"]) == (2, 1, 1, 1)
    assert counts(p) == (2.5, 1.5, 1.5)
    assert p["precision"] == pytest.approx(2.5 / 4) and p["recall"] == pytest.approx(2.5 / 4)


def test_per_label_and_macro_by_hand():
    gold = [make_doc("a", [("Alice Smith", "per"), ("Bob Jones", "per"), ("Acme Corp", "org")])]
    pred = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "per"), ("Paris", "loc")])]
    report = score(gold, pred).to_dict()
    rows = report["per_label"]["entities"]
    assert counts(rows["per"]) == (1, 1, 1)
    assert counts(rows["org"]) == (0, 0, 1)
    assert counts(rows["loc"]) == (0, 1, 0)
    macro = report["macro"]["entities"]
    assert macro["labels"] == 3
    assert macro["precision"] == pytest.approx((0.5 + 0 + 0) / 3)
    assert macro["f1"] == pytest.approx((0.5 + 0 + 0) / 3)


def test_relations_strict_needs_argument_labels_boundary_does_not():
    gold = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "org")], [(0, 1, "works_for")])]
    pred = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "loc")], [(0, 1, "works_for")])]
    r = score(gold, pred).to_dict()["relations"]
    assert counts(r["strict"]) == (0, 1, 1)
    assert counts(r["boundary"]) == (1, 0, 0)


def test_relations_wrong_label_or_direction_are_wrong():
    gold = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "org")], [(0, 1, "works_for")])]
    pred = [
        make_doc(
            "a", [("Alice Smith", "per"), ("Acme Corp", "org")], [(1, 0, "works_for"), (0, 1, "founded")]
        )
    ]
    r = score(gold, pred).to_dict()["relations"]
    assert counts(r["strict"]) == (0, 2, 1)
    assert counts(r["boundary"]) == (0, 2, 1)


def test_symmetric_relations_compare_in_canonical_order():
    ents = [("Alice Smith", "per"), ("Bob Jones", "per")]
    gold = [make_doc("a", ents, [(0, 1, "spouse_of"), (0, 1, "knows")])]
    pred = [make_doc("a", ents, [(1, 0, "spouse_of"), (1, 0, "knows")])]
    plain = score(gold, pred).to_dict()["relations"]
    assert counts(plain["strict"]) == (0, 2, 2)
    sym = score(gold, pred, symmetric={"spouse_of"}).to_dict()
    # spouse_of matches reversed; knows stays directed
    assert counts(sym["relations"]["strict"]) == (1, 1, 1)
    assert counts(sym["relations"]["boundary"]) == (1, 1, 1)
    assert counts(sym["per_label"]["relations"]["spouse_of"]) == (1, 0, 0)
    # a single name given as a string means that name, not its characters
    assert counts(score(gold, pred, symmetric="spouse_of").to_dict()["relations"]["strict"]) == (1, 1, 1)


def test_symmetric_pair_given_both_ways_counts_once():
    ents = [("Alice Smith", "per"), ("Bob Jones", "per")]
    gold = [make_doc("a", ents, [(0, 1, "spouse_of")])]
    pred = [make_doc("a", ents, [(0, 1, "spouse_of"), (1, 0, "spouse_of")])]
    assert counts(score(gold, pred, symmetric=["spouse_of"]).to_dict()["relations"]["strict"]) == (1, 0, 0)
    assert counts(score(gold, pred).to_dict()["relations"]["strict"]) == (1, 1, 0)


def test_duplicates_count_once():
    gold = [make_doc("a", [("Alice Smith", "per")])]
    pred = [
        make_doc("a", [("Alice Smith", "per"), ("Alice Smith", "per"), ("Paris", "loc"), ("Paris", "loc")])
    ]
    r = score(gold, pred).to_dict()["entities"]
    assert counts(r["strict"]) == (1, 1, 0)
    assert counts(r["boundary"]) == (1, 1, 0)
    assert r["partial"]["spurious"] == 1


def test_partial_exact_match_is_not_stolen_by_an_overlapping_prediction():
    gold = {(0, 11)}
    # (0, 5) sorts first and overlaps the gold span, but the exact prediction claims it
    assert match_partial(gold, {(0, 5), (0, 11)}) == (1, 0, 1, 0)
    assert match_partial({(0, 5), (6, 11)}, {(0, 11)}) == (0, 1, 0, 1)
    assert match_partial(set(), set()) == (0, 0, 0, 0)


def test_unknown_labels_are_false_positives():
    gold = [make_doc("a", [("Alice Smith", "per"), ("Acme Corp", "org")], [(0, 1, "works_for")])]
    pred = [make_doc("a", [("Alice Smith", "no such label"), ("Acme Corp", "org")], [(0, 1, "???")])]
    report = score(gold, pred).to_dict()
    assert counts(report["entities"]["strict"]) == (1, 1, 1)
    assert counts(report["per_label"]["entities"]["no such label"]) == (0, 1, 0)
    assert counts(report["relations"]["strict"]) == (0, 1, 1)


def test_empty_inputs_give_zero_without_errors():
    for gold, pred in (([], []), ([make_doc("a", [])], [make_doc("a", [])]), ([], [make_doc("a", [])])):
        report = score(gold, pred).to_dict()
        for level in ("entities", "relations"):
            for row in report[level].values():
                assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)
            assert report["macro"][level] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "labels": 0}
    nothing_predicted = score([make_doc("a", [("Paris", "loc")])], [make_doc("a", [])]).to_dict()
    assert nothing_predicted["entities"]["strict"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 1,
    }


def test_missing_gold_document_counts_as_empty_and_is_reported():
    gold = [make_doc("a", [("Alice Smith", "per")]), make_doc("b", [("Paris", "loc")], text="Paris .")]
    pred = [make_doc("a", [("Alice Smith", "per")])]
    report = score(gold, pred).to_dict()
    assert report["documents"]["missing_in_pred"] == ["b"]
    assert report["documents"]["missing_in_pred_count"] == 1
    assert report["documents"]["matched"] == 1
    assert counts(report["entities"]["strict"]) == (1, 0, 1)


def test_extra_prediction_documents_are_reported_and_not_scored():
    gold = [make_doc("a", [("Alice Smith", "per")])]
    pred = [make_doc("a", [("Alice Smith", "per")]), make_doc("zzz", [("Paris", "loc")])]
    report = score(gold, pred).to_dict()
    assert report["documents"]["extra_in_pred"] == ["zzz"]
    assert report["documents"]["extra_in_pred_count"] == 1
    assert counts(report["entities"]["strict"]) == (1, 0, 0)


def test_failed_prediction_documents_are_scored_and_listed():
    gold = [make_doc("a", [("Alice Smith", "per")])]
    failed = Document(id="a", text=TEXT, error="llm_failed: timeout")
    report = score(gold, [failed]).to_dict()
    assert report["documents"]["failed_in_pred"] == ["a"]
    assert counts(report["entities"]["strict"]) == (0, 0, 1)


def test_duplicate_ids_and_mismatched_text_are_input_errors():
    doc = make_doc("a", [("Alice Smith", "per")])
    with pytest.raises(InputError, match="'a' occurs more than once"):
        score([doc, doc], [doc])
    with pytest.raises(InputError, match="predictions: document id 'a'"):
        score([doc], [doc, doc])
    other = make_doc("a", [("Paris", "loc")], text="Paris is nice .")
    with pytest.raises(InputError, match="document 'a': the predicted text differs"):
        score([doc], [other])


def test_accepts_generators_and_markdown_lists_every_label():
    gold = [make_doc("a", [("Alice Smith", "per")], [])]
    report = score(iter(gold), (d for d in gold))
    md = to_markdown(report)
    assert "| entities | strict | 100.00 | 100.00 | 100.00 | 1 | 0 | 0 |" in md
    assert "| per | 100.00 |" in md
    assert "1/1 gold documents matched by id" in md


# -- the shipped fixture, computed by hand (perturbations described in tests/data/README.md) -------


def test_fixture_counts_by_hand():
    gold = list(read_jsonl(DATA / "eval_gold.jsonl"))
    pred = list(read_jsonl(DATA / "eval_pred.jsonl"))
    r = score(gold, pred, symmetric={"spouse_of"}).to_dict()
    # Entities, strict. Gold 4 docs: 3 + 3 + 2 + 2 = 10 items. Predicted distinct items (extra-1 is not
    # scored): fx-1 {Steve Jobs/person (twice -> once), Apple/location, Cupertino./location} = 3,
    # fx-2 {Marie Curie, Pierre Curie, Paris, Curie} = 4, fx-3 {Acme Corp/company, John/person} = 2 -> 9.
    # Right: Steve Jobs, Marie Curie, Pierre Curie, Paris = 4.  tp 4, fp 9-4 = 5, fn 10-4 = 6.
    assert counts(r["entities"]["strict"]) == (4, 5, 6)
    assert r["entities"]["strict"]["f1"] == pytest.approx(8 / 19)
    # Boundary adds Apple (fx-1) and Acme Corp (fx-3): tp 6, fp 3, fn 4.
    assert counts(r["entities"]["boundary"]) == (6, 3, 4)
    # Partial: COR 6; PAR 2 (Cupertino. ~ Cupertino, John ~ John Smith); SPU 1 (Curie: Marie Curie is
    # already matched exactly); MIS 2 (Berlin, Germany in the missing fx-4).
    # tp = 6 + 0.5*2 = 7, fp = 1 + 1 = 2, fn = 2 + 1 = 3; P = 7/9, R = 7/10.
    p = r["entities"]["partial"]
    assert (p["correct"], p["partial"], p["spurious"], p["missed"]) == (6, 2, 1, 2)
    assert counts(p) == (7.0, 2.0, 3.0)
    assert (p["precision"], p["recall"]) == (pytest.approx(7 / 9), pytest.approx(7 / 10))
    # Relations, strict: gold 2 + 1 + 1 + 1 = 5; predicted 2 + 2 + 1 = 5; only the reversed spouse_of
    # is right (symmetric). Boundary also accepts founded_by(Apple, Steve Jobs) whose head label is wrong.
    assert counts(r["relations"]["strict"]) == (1, 4, 4)
    assert counts(r["relations"]["boundary"]) == (2, 3, 3)
    # Without symmetric relations the reversed spouse_of is wrong too.
    directed = score(gold, pred).to_dict()["relations"]
    assert counts(directed["strict"]) == (0, 5, 5)
    assert counts(directed["boundary"]) == (1, 4, 4)
    # Per label (strict): person gold {SJ, MC, PC, John Smith}, pred {SJ, MC, PC, Curie, John};
    # location gold {Cupertino, Paris, Berlin, Germany}, pred {Apple, Cupertino., Paris}.
    rows = r["per_label"]["entities"]
    assert {k: counts(v) for k, v in rows.items()} == {
        "person": (3, 2, 1),
        "organization": (0, 0, 2),
        "location": (1, 2, 3),
        "company": (0, 1, 0),
    }
    macro = r["macro"]["entities"]
    assert macro["precision"] == pytest.approx((3 / 5 + 0 + 1 / 3 + 0) / 4)
    assert macro["recall"] == pytest.approx((3 / 4 + 0 + 1 / 4 + 0) / 4)
    assert macro["f1"] == pytest.approx((2 / 3 + 0 + 2 / 7 + 0) / 4)
    assert {k: counts(v) for k, v in r["per_label"]["relations"].items()} == {
        "founded_by": (0, 1, 1),
        "located_in": (0, 1, 2),
        "spouse_of": (1, 0, 0),
        "works_for": (0, 1, 1),
        "married_to": (0, 1, 0),
    }
    assert r["documents"]["missing_in_pred"] == ["fx-4"]
    assert r["documents"]["extra_in_pred"] == ["extra-1"]


# -- cross-checks on generated cases -----------------------------------------------------------------

LABELS = ("A", "B")


@st.composite
def flat_spans(draw, n_words: int) -> list[tuple[int, int, str]]:
    """Non-overlapping word spans (start word, end word exclusive, label), as BIO allows."""
    spans, i = [], 0
    while i < n_words:
        if draw(st.booleans()):
            length = draw(st.integers(1, min(3, n_words - i)))
            spans.append((i, i + length, draw(st.sampled_from(LABELS))))
            i += length
        else:
            i += 1
    return spans


@st.composite
def flat_case(draw):
    docs = []
    for _ in range(draw(st.integers(1, 3))):
        words = draw(st.lists(st.sampled_from(["a", "bb", "ccc"]), min_size=1, max_size=8))
        gold = draw(flat_spans(len(words)))
        if draw(st.booleans()):
            pred = draw(flat_spans(len(words)))
        else:  # a perturbed copy of the gold, so that matches are common
            pred = [
                (s, e, draw(st.sampled_from(LABELS)) if draw(st.booleans()) else lab)
                for s, e, lab in gold
                if draw(st.integers(0, 3))
            ]
        docs.append((words, gold, pred))
    return docs


def word_doc(doc_id: str, words: list[str], spans) -> Document:
    text = " ".join(words)
    offsets, pos = [], 0
    for w in words:
        offsets.append((pos, pos + len(w)))
        pos += len(w) + 1
    ents = [
        make_entity(text, offsets[s][0], offsets[e - 1][1], lab, id=f"T{i}")
        for i, (s, e, lab) in enumerate(spans)
    ]
    return Document(id=doc_id, text=text, entities=ents)


def bio(n_words: int, spans) -> list[str]:
    tags = ["O"] * n_words
    for s, e, lab in spans:
        tags[s] = f"B-{lab}"
        for k in range(s + 1, e):
            tags[k] = f"I-{lab}"
    return tags


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flat_case())
def test_strict_entities_agree_with_seqeval(case):
    gold = [word_doc(str(i), w, g) for i, (w, g, _) in enumerate(case)]
    pred = [word_doc(str(i), w, p) for i, (w, _, p) in enumerate(case)]
    report = score(gold, pred).to_dict()
    y_true = [bio(len(w), g) for w, g, _ in case]
    y_pred = [bio(len(w), p) for w, _, p in case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        strict = report["entities"]["strict"]
        assert strict["precision"] == pytest.approx(precision_score(y_true, y_pred, zero_division=0))
        assert strict["recall"] == pytest.approx(recall_score(y_true, y_pred, zero_division=0))
        assert strict["f1"] == pytest.approx(f1_score(y_true, y_pred, zero_division=0))
        seq_rows = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for label, row in report["per_label"]["entities"].items():
        if row["tp"] + row["fn"]:  # seqeval has rows only for labels present in the gold
            assert seq_rows[label]["support"] == row["tp"] + row["fn"]
            assert seq_rows[label]["precision"] == pytest.approx(row["precision"])
            assert seq_rows[label]["recall"] == pytest.approx(row["recall"])
            assert seq_rows[label]["f1-score"] == pytest.approx(row["f1"])


TEXT_LEN = 30  # short spans: nervaluate's 1% minimum overlap is then any one character


@st.composite
def char_spans(draw) -> list[tuple[int, int, str]]:
    """Possibly overlapping, possibly duplicated character spans (nested entities included)."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        start = draw(st.integers(0, TEXT_LEN - 1))
        end = draw(st.integers(start + 1, min(TEXT_LEN, start + 6)))
        out.append((start, end, draw(st.sampled_from(LABELS))))
    return out


def char_doc(doc_id: str, spans) -> Document:
    text = "x" * TEXT_LEN
    return Document(
        id=doc_id,
        text=text,
        entities=[make_entity(text, s, e, lab, id=f"T{i}") for i, (s, e, lab) in enumerate(spans)],
    )


def nervaluate_overall(true_docs, pred_docs, scheme: str):
    """nervaluate on distinct items, gold sorted, the predictions that match exactly first (its
    matching is greedy in input order; ours takes exact matches first)."""
    as_dicts = [[{"start": s, "end": e - 1, "label": lab} for s, e, lab in sorted(doc)] for doc in true_docs]
    ordered_pred = []
    for gold_items, pred_items in zip(true_docs, pred_docs, strict=True):
        hit = sorted(pred_items & gold_items)
        ordered_pred.append(
            [{"start": s, "end": e - 1, "label": lab} for s, e, lab in hit + sorted(pred_items - gold_items)]
        )
    result = Evaluator(as_dicts, ordered_pred, tags=list(LABELS) + ["_"], loader="dict").evaluate()
    return result["overall"][scheme]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(char_spans(), char_spans()), min_size=1, max_size=3))
def test_entity_schemes_agree_with_nervaluate(case):
    gold = [char_doc(str(i), g) for i, (g, _) in enumerate(case)]
    pred = [char_doc(str(i), p) for i, (_, p) in enumerate(case)]
    report = score(gold, pred).to_dict()["entities"]

    strict_true = [set(g) for g, _ in case]
    strict_pred = [set(p) for _, p in case]
    spans_true = [{(s, e, "_") for s, e, _ in g} for g in strict_true]
    spans_pred = [{(s, e, "_") for s, e, _ in p} for p in strict_pred]

    nv_strict = nervaluate_overall(strict_true, strict_pred, "strict")
    assert report["strict"]["tp"] == nv_strict.correct
    assert report["strict"]["precision"] == pytest.approx(nv_strict.precision)
    assert report["strict"]["recall"] == pytest.approx(nv_strict.recall)

    nv_exact = nervaluate_overall(spans_true, spans_pred, "exact")
    assert report["boundary"]["tp"] == nv_exact.correct
    assert report["boundary"]["f1"] == pytest.approx(nv_exact.f1)

    nv_partial = nervaluate_overall(spans_true, spans_pred, "partial")
    ours = report["partial"]
    assert (ours["correct"], ours["partial"], ours["spurious"], ours["missed"]) == (
        nv_partial.correct,
        nv_partial.partial,
        nv_partial.spurious,
        nv_partial.missed,
    )
    assert ours["precision"] == pytest.approx(nv_partial.precision)
    assert ours["recall"] == pytest.approx(nv_partial.recall)
    assert ours["f1"] == pytest.approx(nv_partial.f1)
