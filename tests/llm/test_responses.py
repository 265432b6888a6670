"""Response models built from schemas: enums, caps, exact verdict counts, jsonschema check."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from hybrid_ie.llm.responses import MAX_ENTITIES, extraction_model, verification_model
from hybrid_ie.schema import Schema, available_schemas, load_schema


def test_labels_are_enums_and_lists_are_capped(conll04):
    schema = extraction_model(conll04).model_json_schema()
    assert schema["$defs"]["Relation"]["properties"]["type"]["enum"] == conll04.relation_labels
    assert schema["properties"]["entities"]["maxItems"] == MAX_ENTITIES
    assert schema["required"] == ["entities", "relations"]


def test_outside_labels_too_many_items_and_extra_keys_are_rejected(conll04):
    model = extraction_model(conll04)
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


def test_verification_wants_one_verdict_per_candidate(conll04):
    model = verification_model(conll04, 2, 1)
    model.model_validate({"entities": ["ok", "Org"], "relations": ["drop"], "add_entities": [], "add_relations": []})
    with pytest.raises(ValidationError, match="too short"):
        model.model_validate({"entities": ["ok"], "relations": ["drop"], "add_entities": [], "add_relations": []})
    with pytest.raises(ValidationError, match="is not one of"):
        model.model_validate({"entities": ["ok", "maybe"], "relations": ["ok"], "add_entities": [],
                              "add_relations": []})


def test_schema_without_relations_has_no_relation_keys():
    schema = Schema.from_labels(["person", "city"])
    assert list(extraction_model(schema).model_json_schema()["properties"]) == ["entities"]
    assert list(verification_model(schema, 1, 0).model_json_schema()["properties"]) == ["entities", "add_entities"]


@pytest.mark.parametrize("name", available_schemas())
def test_shipped_few_shot_answers_are_valid_and_grounded(name):
    from hybrid_ie.llm.grounding import Grounder
    from hybrid_ie.llm.prompts import load_examples

    schema = load_schema(name)
    examples = load_examples(name)
    assert examples.get("extract") and examples.get("verify"), f"prompts/examples/{name}.json"
    for ex in examples["extract"]:
        extraction_model(schema).model_validate(ex["answer"])
        for ent in ex["answer"]["entities"]:
            assert Grounder(ex["text"]).locate(ent["text"]).method == "exact", ent
    for ex in examples["verify"]:
        cands = ex["candidates"]
        verification_model(schema, len(cands["entities"]), len(cands["relations"])).model_validate(ex["answer"])
        for ent in cands["entities"] + ex["answer"]["add_entities"]:
            assert ent["text"] in ex["text"], ent
