import math
import random
from pathlib import Path

from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.schema import load_schema
from hybrid_ie.training.calibration import (
    CalibrationSet,
    collect,
    expected_calibration_error,
    fit_scaling,
    summarise,
)


def test_ece_of_perfect_and_overconfident_scores():
    assert expected_calibration_error([0.25] * 4, [1, 0, 0, 0]) == 0.0
    assert math.isclose(expected_calibration_error([0.95] * 10, [1] * 5 + [0] * 5), 0.45)
    assert expected_calibration_error([], []) == 0.0


def test_fit_scaling_recovers_the_true_temperature_and_shift():
    rng = random.Random(0)
    logits, correct = [], []
    for _ in range(4000):
        z = rng.gauss(0, 3)  # true logit
        correct.append(float(rng.random() < 1 / (1 + math.exp(-z))))
        logits.append((z + 1.0) * 2.5)  # over-confident and too high: z = logit / 2.5 - 1
    t, b = fit_scaling(logits, correct)
    assert 2.1 < t < 2.9 and -1.3 < b < -0.7
    report = summarise(CalibrationSet(logits, correct, [], []), t, 1.0, b, 0.0)
    assert report["entity_ece_after"] < report["entity_ece_before"] / 3


def test_fit_scaling_needs_both_classes():
    assert fit_scaling([1.0, 2.0], [1.0, 1.0]) == (1.0, 0.0)


def test_collect_marks_exact_matches_and_symmetric_relations():
    schema = load_schema("scierc")
    text = "CRF compared with HMM"
    gold = Document(
        id="d", text=text,
        entities=[Entity(id="T1", start=0, end=3, text="CRF", label="Method"),
                  Entity(id="T2", start=18, end=21, text="HMM", label="Method")],
        relations=[Relation(head="T2", tail="T1", label="Compare")],
    )
    pred = Document(
        id="d", text=text,
        entities=[Entity(id="E1", start=0, end=3, text="CRF", label="Method", score=0.9, source="encoder"),
                  Entity(id="E2", start=18, end=21, text="HMM", label="Task", score=0.6, source="encoder")],
        relations=[Relation(head="E1", tail="E2", label="Compare", score=0.7, source="encoder")],
        meta={"encoder": {"candidates": [{"start": 18, "end": 21, "text": "HMM", "label": "Method", "score": 0.3}],
                          "relation_candidates": [{"head": [0, 3], "tail": [18, 21], "label": "Used-for", "score": 0.2}]}},
    )
    data = collect([gold], [pred], schema)
    assert data.entity_correct == [1.0, 0.0, 1.0]
    assert data.relation_correct == [1.0, 0.0]
    assert math.isclose(data.entity_logits[0], math.log(0.9 / 0.1))


def test_tune_thresholds_picks_from_the_grid_by_mean_f1_over_several_sets():
    from support.tiny_encoder import tiny_encoder

    from hybrid_ie.datasets import read_spert
    from hybrid_ie.schema import Schema, load_schema
    from hybrid_ie.training.calibration import tune_thresholds

    docs = read_spert(Path(__file__).parents[1] / "data" / "tiny_spert.json")
    ner_only = Schema.from_labels(["person", "location"])
    enc = tiny_encoder(seed=0)
    out = tune_thresholds(enc, [(load_schema("conll04"), docs), (ner_only, docs)],
                          entity_grid=(0.3, 0.5, 0.7), relation_grid=(0.2, 0.6))
    assert out["datasets"] == ["conll04", "adhoc"]
    assert [r["threshold"] for r in out["grid"]] == [0.3, 0.5, 0.7]
    assert all(len(r["per_set_entity_f1"]) == 2 for r in out["grid"])
    best = out["selected"]
    assert enc.config.threshold == best["threshold"] and enc.config.relation_threshold == best["relation_threshold"]
    assert best["entity_f1"] + best["relation_f1"] == max(r["entity_f1"] + r["relation_f1"] for r in out["grid"])


def test_cutting_a_low_threshold_prediction_equals_predicting_at_the_higher_one():
    from support.tiny_encoder import tiny_encoder

    from hybrid_ie.datasets import read_spert
    from hybrid_ie.metrics import score
    from hybrid_ie.schema import load_schema
    from hybrid_ie.training.calibration import at_entity_threshold

    docs = read_spert(Path(__file__).parents[1] / "data" / "tiny_spert.json")
    schema = load_schema("conll04")
    enc = tiny_encoder(seed=0, max_pair_entities=3)  # few pair slots: the top-k rule is exercised
    enc.config.label_centering = 0.3
    texts, ids = [d.text for d in docs], [d.id for d in docs]
    low = enc.predict(texts, schema, ids=ids, threshold=0.3, relation_threshold=0.4)
    assert sum(len(d.entities) for d in low) > 0 and sum(len(d.relations) for d in low) > 0
    for t in (0.4, 0.5, 0.55, 0.6, 0.7):
        direct = enc.predict(texts, schema, ids=ids, threshold=t, relation_threshold=0.4)
        cut = [at_entity_threshold(d, t) for d in low]
        for a, b in zip(direct, cut, strict=True):
            assert [(e.start, e.end, e.label, e.score) for e in a.entities] == \
                [(e.start, e.end, e.label, e.score) for e in b.entities]
        assert score(docs, direct).to_dict()["relations"] == score(docs, cut).to_dict()["relations"]
