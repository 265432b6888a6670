"""Entity thresholds of single labels: decoding, `predict`, and their tuning on dev data.

`KnownScores` is a real `SpanEncoder` (the shared `predict`, windows, decoding, Documents) whose
network is replaced by a table of span scores, so what tuning must find is known exactly."""

from __future__ import annotations

import pytest
import torch

from hybrid_ie.document import Document, make_entity
from hybrid_ie.encoder.decoding import SpanCandidate, decode_entities
from hybrid_ie.encoder.model import EncoderConfig
from hybrid_ie.encoder.windowed import SpanEncoder
from hybrid_ie.schema import Schema
from hybrid_ie.training.calibration import tune_label_thresholds

TEXT = "Aspirin caused rash and nausea ."
ASPIRIN, CAUSED, RASH, NAUSEA = (0, 7), (8, 14), (15, 19), (24, 30)
SCHEMA = Schema.from_labels(["drug", "adverse effect"])
# the right drug scores 0.45, a wrong one 0.3: only a drug threshold in (0.3, 0.45] is perfect;
# effects score 0.25 and 0.22, so any threshold at or below 0.22 suits them
SCORES = [
    SpanCandidate(*ASPIRIN, "drug", 0.45),
    SpanCandidate(*CAUSED, "drug", 0.3),
    SpanCandidate(*RASH, "adverse effect", 0.25),
    SpanCandidate(*NAUSEA, "adverse effect", 0.22),
]


class KnownScores(SpanEncoder):
    backend = "known"
    device = torch.device("cpu")
    max_window_words = 100
    max_tokens = 512

    def __init__(self, threshold: float):
        self.config = EncoderConfig(threshold=threshold, relation_threshold=0.5)

    threshold = property(lambda self: self.config.threshold)
    relation_threshold = property(lambda self: self.config.relation_threshold)
    label_thresholds = property(lambda self: self.config.label_thresholds)

    def _fit(self, windows, ent_prompts, rel_prompts) -> bool:
        return True

    def _score(self, windows, schema, ent_prompts, rel_prompts, cut, batch_size, progress) -> None:
        for w in windows:
            w.entities = [c for c in SCORES if c.score >= cut.entity_floor]


def gold(i: int) -> Document:
    ents = [
        make_entity(TEXT, *ASPIRIN, "drug", id="T1"),
        make_entity(TEXT, *RASH, "adverse effect", id="T2"),
        make_entity(TEXT, *NAUSEA, "adverse effect", id="T3"),
    ]
    return Document(id=f"d{i}", text=TEXT, entities=ents)


def spans(doc: Document) -> list[tuple[int, int, str]]:
    return [(e.start, e.end, e.label) for e in doc.entities]


def test_decoding_uses_a_label_s_own_threshold_and_the_global_one_for_the_rest():
    kept, _ = decode_entities(SCORES, 0.2, label_thresholds={"drug": 0.4})
    assert [(c.start, c.end, c.label) for c in kept] == [(*ASPIRIN, "drug"), (*RASH, "adverse effect"),
                                                         (*NAUSEA, "adverse effect")]


def test_predict_applies_label_thresholds_unless_a_threshold_is_given():
    enc = KnownScores(threshold=0.2)
    enc.config.label_thresholds = {"Drug": 0.5}  # matched to the schema's prompts in lower case
    (doc,) = enc.predict([TEXT], SCHEMA)
    assert spans(doc) == [(*RASH, "adverse effect"), (*NAUSEA, "adverse effect")]
    assert doc.meta["encoder"]["label_thresholds"] == {"drug": 0.5}
    # the dropped drugs are near misses of their own threshold, not of the global one
    assert {(c["start"], c["label"]) for c in doc.meta["encoder"]["candidates"]} == {(0, "drug"), (8, "drug")}
    (doc,) = enc.predict([TEXT], SCHEMA, threshold=0.2)  # an explicit threshold is for every label
    assert len(doc.entities) == 4 and doc.meta["encoder"]["label_thresholds"] == {}


def test_tuning_gives_a_label_its_own_threshold_only_where_dev_f1_rises():
    enc = KnownScores(threshold=0.2)
    docs = [gold(i) for i in range(25)]
    report = tune_label_thresholds(enc, [(SCHEMA, docs)], grid=(0.2, 0.35, 0.5))
    # drug: F1 2/3 at 0.2, 1.0 at 0.35, 0 at 0.5; effects: best at the global 0.2 already
    assert enc.config.label_thresholds == {"drug": 0.35} == report["label_thresholds"]
    assert report["kept"] and report["labels"]["adverse effect"]["best_threshold"] == 0.2
    assert report["entity_f1_before"] == [pytest.approx(6 / 7)] and report["entity_f1_after"] == [1.0]
    (doc,) = enc.predict([TEXT], SCHEMA)
    assert spans(doc) == spans(gold(0))


def test_tuning_keeps_no_label_threshold_below_the_support_or_gain_asked_for():
    enc = KnownScores(threshold=0.2)
    docs = [gold(i) for i in range(5)]  # 5 gold drugs: below min_support 20
    report = tune_label_thresholds(enc, [(SCHEMA, docs)], grid=(0.2, 0.35, 0.5))
    assert report["label_thresholds"] == {} == enc.config.label_thresholds and not report["kept"]
    report = tune_label_thresholds(enc, [(SCHEMA, docs)], grid=(0.2, 0.35, 0.5), min_support=1, min_gain=0.5)
    assert report["label_thresholds"] == {}  # +1/3 F1 is below the gain asked for
