"""The field-shaped encoder API (`predict_entities`, `predict_relations`, `batch_predict*`),
labels as lists / dicts wherever a schema is taken, per-call thresholds of `Extractor.extract`,
and the per-process encoder cache of `hybrid_ie.extract` (tiny random encoder: fast)."""

from __future__ import annotations

import pytest
from support.tiny_encoder import tiny_encoder

import hybrid_ie
from hybrid_ie import api
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.errors import SchemaError
from hybrid_ie.pipeline import Extractor
from hybrid_ie.schema import Schema, load_schema

TEXTS = [
    "John Smith works for Acme Corp in Boston. He met Mary Jones in Paris last May.",
    "Google's Sundar Pichai visited Berlin-based startups on Tuesday.",
    "",
    "The mayor of Chicago visited IBM headquarters in the U.S. on Monday, then left for Tokyo.",
]
LABELS = ["person", "organization", "city"]
RELATIONS = ["works for", "located in"]


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=3)


def as_dicts(doc):
    ents = {e.id: {"start": e.start, "end": e.end, "text": e.text, "label": e.label, "score": e.score}
            for e in doc.entities}  # fmt: skip
    rels = [{"head": ents[r.head], "tail": ents[r.tail], "label": r.label, "score": r.score} for r in doc.relations]
    return {"entities": list(ents.values()), "relations": rels}


@pytest.mark.parametrize(("threshold", "relation_threshold", "flat"), [(None, None, True), (0.45, 0.4, True),
                                                                       (0.5, 0.5, False)])  # fmt: skip
def test_batch_predict_is_the_extractor_in_encoder_mode(encoder, threshold, relation_threshold, flat):
    schema = Schema.from_labels(LABELS, RELATIONS)
    extractor = Extractor(schema, encoder=encoder, mode="encoder", nested=not flat)
    expected = [as_dicts(d) for d in extractor.extract_many(TEXTS, threshold=threshold,
                                                            relation_threshold=relation_threshold)]  # fmt: skip
    got = encoder.batch_predict(TEXTS, LABELS, RELATIONS, threshold=threshold, relation_threshold=relation_threshold,
                                flat_ner=flat)  # fmt: skip
    assert got == expected
    assert any(r["entities"] for r in got) and any(r["relations"] for r in got)  # the comparison compared something
    for text, result in zip(TEXTS, got, strict=True):
        assert all(text[e["start"] : e["end"]] == e["text"] for e in result["entities"])


def test_predict_entities_and_relations_of_one_text(encoder):
    text = TEXTS[0]
    ents = encoder.predict_entities(text, LABELS, threshold=0.45)
    only_entities = Extractor(LABELS, encoder=encoder, mode="encoder", threshold=0.45).extract(text)
    assert ents == as_dicts(only_entities)["entities"]
    assert ents == encoder.batch_predict_entities([text], LABELS, threshold=0.45)[0]
    rels = encoder.predict_relations(text, LABELS, RELATIONS, threshold=0.4, entity_threshold=0.45)
    assert rels == encoder.batch_predict([text], LABELS, RELATIONS, threshold=0.45, relation_threshold=0.4)[0][
        "relations"
    ]
    assert rels and all(r["label"] in RELATIONS for r in rels)


def test_a_lower_threshold_per_call_finds_more(encoder):
    extractor = Extractor(LABELS, encoder=encoder, mode="encoder", threshold=0.6)
    strict, loose = extractor.extract(TEXTS[0]), extractor.extract(TEXTS[0], threshold=0.4)
    assert len(loose.entities) > len(strict.entities)
    assert strict.meta["encoder"]["threshold"] == 0.6 and loose.meta["encoder"]["threshold"] == 0.4
    assert extractor.extract(TEXTS[0]).entities == strict.entities  # the call's threshold did not stick


def test_labels_wherever_a_schema_is(encoder):
    assert load_schema(["person", "drug"]).entity_labels == ["person", "drug"]
    described = load_schema({"drug": "a medication", "disease": "an illness"})
    assert [(t.name, t.description, t.prompt) for t in described.entity_types] == [
        ("drug", "a medication", "drug"), ("disease", "an illness", "disease")]  # fmt: skip
    both = load_schema({"entities": ["drug"], "relations": {"treats": "drug treats disease"}})
    assert both.relation_labels == ["treats"]
    doc = hybrid_ie.extract("Aspirin treats headache.", schema=["drug", "disease"], mode="encoder", encoder=encoder)
    assert doc.meta["pipeline"]["schema"] == "adhoc"
    with_descriptions = encoder.predict_entities("Aspirin treats headache.", {"drug": "a medication"}, threshold=0.0)
    assert {e["label"] for e in with_descriptions} == {"drug"}


@pytest.mark.parametrize(("bad", "message"), [([], "empty label list"), ({}, "empty dict"), ([""], "non-empty"),
                                              (3, "list of labels"), ({"entities": "person"}, "string")])  # fmt: skip
def test_bad_labels_are_one_clear_error(bad, message):
    with pytest.raises(SchemaError, match=message):
        load_schema(bad)


def test_module_level_extract_loads_each_checkpoint_once(encoder, tmp_path, monkeypatch, capfd):
    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    loads = []
    real = JointEncoder.from_pretrained

    def counting(*args, **kwargs):
        loads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(JointEncoder, "from_pretrained", counting)
    api.clear()
    try:
        first = hybrid_ie.extract(TEXTS[0], schema=LABELS, mode="encoder", encoder=str(checkpoint), threshold=0.45)
        second = hybrid_ie.extract(TEXTS[0], schema=LABELS, mode="encoder", encoder=checkpoint, threshold=0.45)
        assert len(loads) == 1 and first.entities == second.entities
        hybrid_ie.extract(TEXTS[0], schema=LABELS, mode="encoder", encoder=checkpoint, quantize="int8")
        assert len(loads) == 2  # another quantisation is another model
        encoder.save_pretrained(checkpoint)  # rewritten in place: loaded afresh
        hybrid_ie.extract(TEXTS[0], schema=LABELS, mode="encoder", encoder=checkpoint)
        assert len(loads) == 3
    finally:
        api.clear()
    err = capfd.readouterr().err
    assert "hybrid-ie: loading encoder ckpt (" in err and "hybrid-ie: loaded encoder ckpt (" in err


@pytest.fixture
def no_llm(tmp_path, monkeypatch):
    """No usable LLM whatever this machine has set up: the local backend, a GGUF file that is not there."""
    import os

    for name in [n for n in os.environ if n.upper().startswith("HYBRID_IE_LLM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HYBRID_IE_LLM_BACKEND", "local")
    monkeypatch.setenv("HYBRID_IE_LLM_MODEL", str(tmp_path / "absent.gguf"))


def test_the_default_mode_loads_once_and_hybrid_without_an_llm_loads_nothing(encoder, tmp_path, monkeypatch, no_llm):
    """`hybrid_ie.extract` as printed in the README (no mode: auto) keeps its encoder between calls;
    `mode="hybrid"` with no LLM stops before any model loads, with one line naming the ways out."""
    from hybrid_ie.llm.config import ConfigError

    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    loads = []
    real = JointEncoder.from_pretrained
    monkeypatch.setattr(JointEncoder, "from_pretrained", lambda *a, **k: loads.append(a) or real(*a, **k))
    api.clear()
    try:
        with pytest.raises(ConfigError) as refused:
            hybrid_ie.extract(TEXTS[0], schema=LABELS, mode="hybrid", encoder=checkpoint)
        assert loads == []
        message = str(refused.value)
        assert "\n" not in message and "pip install 'hybrid-ie[local]'" in message and "--mode encoder" in message
        first = hybrid_ie.extract(TEXTS[0], schema=LABELS, encoder=checkpoint)
        second = hybrid_ie.extract([TEXTS[1]], schema=LABELS, encoder=checkpoint)
        assert len(loads) == 1
        assert first.meta["pipeline"]["mode"] == second[0].meta["pipeline"]["mode"] == "encoder"
    finally:
        api.clear()
