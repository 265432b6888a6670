"""Response models built from schemas: label sets, enums, caps, exact verdict counts, jsonschema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from hybrid_ie.llm.responses import MAX_ENTITIES, LabelSet, extraction_model, verification_model
from hybrid_ie.schema import Schema, available_schemas, load_schema


@pytest.fixture(scope="module")
def names(conll04) -> LabelSet:
    return LabelSet.of(conll04, "name")


def test_label_sets_map_both_ways(conll04):
    verbose = LabelSet.of(conll04, "verbose")
    assert verbose.entity_labels == ["person", "organization", "location", "other named entity"]
    assert verbose.relation("Work_For") == "works for" and verbose.relation_name("works for") == "Work_For"
    assert verbose.entity_name("person") == "Peop" and verbose.entity("Peop") == "person"
    assert LabelSet.of(conll04, "name").entity_labels == conll04.entity_labels


def test_colliding_verbose_labels_fall_back_to_names():
    schema = Schema.from_dict({
        "name": "clash",
        "entity_types": [{"name": "A", "verbose": "thing", "description": "a"},
                         {"name": "B", "verbose": "thing", "description": "b"}],
        "relation_types": [],
    })
    assert LabelSet.of(schema, "verbose").entity_labels == ["A", "B"]


def test_labels_are_enums_and_lists_are_capped(conll04, names):
    schema = extraction_model(names).model_json_schema()
    assert schema["$defs"]["Relation"]["properties"]["type"]["enum"] == conll04.relation_labels
    assert schema["properties"]["entities"]["maxItems"] == MAX_ENTITIES
    assert schema["required"] == ["entities", "relations"]
    verbose = extraction_model(LabelSet.of(conll04)).model_json_schema()
    assert verbose["$defs"]["Entity"]["properties"]["type"]["enum"][0] == "person"


def test_outside_labels_too_many_items_and_extra_keys_are_rejected(names):
    model = extraction_model(names)
    ok = {"entities": [{"text": "A", "type": "Peop"}], "relations": []}
    model.model_validate_json(json.dumps(ok), strict=True)
    bad_label = {"entities": [{"text": "A", "type": "Weapon"}], "relations": []}
    with pytest.raises(ValidationError, match="entities/0/type: 'Weapon' is not one of"):
        model.model_validate_json(json.dumps(bad_label), strict=True)
    runaway = {"entities": [{"text": "A", "type": "Peop"}] * (MAX_ENTITIES + 1), "relations": []}
    with pytest.raises(ValidationError, match="too long"):
        model.model_validate(runaway)
    with pytest.raises(ValidationError, match="Additional properties"):
        model.model_validate({**ok, "note": "hi"})


def test_verification_wants_one_verdict_per_candidate(names):
    model = verification_model(names, 2, 1)
    model.model_validate({"entities": ["ok", "Org"], "relations": ["drop"], "add_entities": [], "add_relations": []})
    with pytest.raises(ValidationError, match="too short"):
        model.model_validate({"entities": ["ok"], "relations": ["drop"], "add_entities": [], "add_relations": []})
    with pytest.raises(ValidationError, match="is not one of"):
        model.model_validate({"entities": ["ok", "maybe"], "relations": ["ok"], "add_entities": [],
                              "add_relations": []})


def test_schema_without_relations_has_no_relation_keys():
    labels = LabelSet.of(Schema.from_labels(["person", "city"]))
    assert list(extraction_model(labels).model_json_schema()["properties"]) == ["entities"]
    assert list(verification_model(labels, 1, 0).model_json_schema()["properties"]) == ["entities", "add_entities"]


@pytest.mark.parametrize("name", available_schemas())
def test_shipped_few_shot_answers_are_valid_and_grounded(name):
    from hybrid_ie.llm.grounding import Grounder
    from hybrid_ie.llm.prompts import load_examples

    labels = LabelSet.of(load_schema(name), "name")  # example files are written with type names
    examples = load_examples(name)
    assert examples.get("extract") and examples.get("verify"), f"prompts/examples/{name}.json"
    for ex in examples["extract"]:
        extraction_model(labels).model_validate(ex["answer"])
        for ent in ex["answer"]["entities"]:
            assert Grounder(ex["text"]).locate(ent["text"]).method == "exact", ent
    for ex in examples["verify"]:
        cands = ex["candidates"]
        verification_model(labels, len(cands["entities"]), len(cands["relations"])).model_validate(ex["answer"])
        for ent in cands["entities"] + ex["answer"]["add_entities"]:
            assert ent["text"] in ex["text"], ent
