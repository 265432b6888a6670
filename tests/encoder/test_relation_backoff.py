"""Relation backoff: an unseen relation label borrows the score of its nearest known relation prompt."""

import pytest
from support.tiny_encoder import tiny_encoder

from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.schema import Schema
from hybrid_ie.training.calibration import tune_relation_backoff

TEXT = "John Smith , a reporter for The Times , lives in London ."
KNOWN = ["works for", "located in", "lives in"]


def _schema(*relations):
    return Schema.from_labels(["person", "organization", "location"], list(relations))


@pytest.fixture
def encoder():
    enc = tiny_encoder(seed=0)
    enc.config.known_relation_labels = list(KNOWN)
    return enc


def _scores(doc):
    ents = doc.entity_map()
    return {(ents[r.head].span, ents[r.tail].span, r.label): r.score for r in doc.relations}


def test_targets_are_the_nearest_known_relation_prompts(encoder):
    targets = encoder.relation_backoff_targets(["works for", "Employed by", "resides in"])
    assert set(targets) == {"Employed by", "resides in"}  # a known prompt (any case) has none
    for target, similarity in targets.values():
        assert target in KNOWN and -1.0 <= similarity <= 1.0
    encoder.config.known_relation_labels = []
    assert encoder.relation_backoff_targets(["employed by"]) == {}


def test_backoff_lifts_an_unseen_label_to_its_target_and_leaves_known_ones(encoder):
    schema = _schema("employed by", "works for", "located in", "lives in")
    target = encoder.relation_backoff_targets(["employed by"])["employed by"][0]
    assert encoder.relation_prompts(schema) == [t.prompt for t in schema.relation_types]  # off: no extra prompt
    (off,) = encoder.predict([TEXT], schema, threshold=0.0, relation_threshold=0.0)
    encoder.config.relation_backoff = 1.0
    assert encoder.relation_prompts(schema) == [t.prompt for t in schema.relation_types]  # target already asked
    (on,) = encoder.predict([TEXT], schema, threshold=0.0, relation_threshold=0.0)
    before, after = _scores(off), _scores(on)
    assert {k for k in before} == {k for k in after} and before
    pairs = {(h, t) for h, t, _ in after}
    for h, t in pairs:
        assert after[(h, t, "employed by")] == pytest.approx(max(before[(h, t, "employed by")], before[(h, t, target)]))
        for known in KNOWN:
            assert after[(h, t, known)] == pytest.approx(before[(h, t, known)])
    assert any(after[(h, t, "employed by")] > before[(h, t, "employed by")] + 1e-6 for h, t in pairs)
    # a target the schema does not ask for is scored as an extra prompt and not output
    encoder.config.relation_backoff = 0.5
    alone = _schema("employed by")
    assert encoder.relation_prompts(alone) == ["employed by", target]
    (doc,) = encoder.predict([TEXT], alone, threshold=0.0, relation_threshold=0.0)
    assert {r.label for r in doc.relations} == {"employed by"}


def test_tuning_scores_only_sets_with_unseen_labels_and_keeps_the_best(encoder):
    (pred,) = tiny_encoder(seed=0).predict([TEXT], _schema("works for"), threshold=0.5, relation_threshold=0.5)
    gold = Document(id="g", text=TEXT, entities=[Entity(id=e.id, start=e.start, end=e.end, text=e.text, label=e.label)
                                                for e in pred.entities], relations=[])  # fmt: skip
    assert len(gold.entities) >= 2  # the tiny model's own entities: gold that entity decoding will match
    a, b = gold.entities[:2]
    gold = gold.model_copy(update={"relations": [Relation(head=a.id, tail=b.id, label="employed by")]})
    known_only = (_schema("works for"), [gold])
    unseen = (_schema("employed by"), [gold])
    result = tune_relation_backoff(encoder, [known_only, unseen], [0.0, 0.5, 1.0])
    assert result["datasets"] == [unseen[0].name] and set(result["targets"]) == {"employed by"}
    assert [row["relation_backoff"] for row in result["grid"]] == [0.0, 0.5, 1.0]
    best = max(result["grid"], key=lambda r: (sum(r["relation_f1"].values()), -r["relation_backoff"]))
    assert result["selected"] == best["relation_backoff"] == encoder.config.relation_backoff
