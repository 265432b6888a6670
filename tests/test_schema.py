"""hybrid_ie.schema: shipped schemas load; bad files fail naming the file and the field."""

from __future__ import annotations

import json

import pytest

from hybrid_ie.errors import SchemaError
from hybrid_ie.paths import SCHEMAS_DIR
from hybrid_ie.schema import Schema, available_schemas, load_schema

SHIPPED = ("ade", "conll04", "default", "scierc")

GOOD = {
    "name": "tiny",
    "entity_types": [
        {"name": "per", "verbose": "person", "description": "People."},
        {"name": "org", "description": "Organisations."},
    ],
    "relation_types": [
        {"name": "works_for", "description": "Employment.", "head_types": ["per"], "tail_types": ["org"]},
        {"name": "knows", "description": "Acquaintance.", "symmetric": True, "head_types": ["per"]},
    ],
}


def write(tmp_path, data) -> str:
    path = tmp_path / "bad.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def with_change(path: tuple, value) -> dict:
    """A deep copy of GOOD with the value at `path` replaced (None deletes it)."""
    data = json.loads(json.dumps(GOOD))
    target = data
    for key in path[:-1]:
        target = target[key]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


def test_every_shipped_schema_loads():
    assert set(SHIPPED) <= set(available_schemas())
    for name in available_schemas():
        schema = load_schema(name)
        assert schema.name and schema.entity_types
        assert schema.source == str(SCHEMAS_DIR / f"{name}.json")
        for rel in schema.relation_types:
            assert set(rel.head_types) | set(rel.tail_types) <= set(schema.entity_labels)
        # load by path gives the same schema
        assert load_schema(SCHEMAS_DIR / f"{name}.json") == schema


def test_shipped_symmetric_relations():
    assert load_schema("default").symmetric_relations == {"spouse_of"}
    assert load_schema("scierc").symmetric_relations == {"Compare", "Conjunction"}
    assert load_schema("conll04").symmetric_relations == set()


def test_prompts_constraints_and_lookups(tmp_path):
    schema = load_schema(write(tmp_path, GOOD))
    assert [t.prompt for t in schema.entity_types] == ["person", "org"]
    assert schema.entity_type("per").description == "People."
    assert schema.allows("works_for", "per", "org")
    assert not schema.allows("works_for", "org", "per")
    assert schema.allows("knows", "per", "org") and schema.allows("knows", "org", "per")  # symmetric
    assert not schema.allows("no_such_relation", "per", "org")
    with pytest.raises(KeyError):
        schema.relation_type("no_such_relation")


def test_round_trip_and_fingerprint(tmp_path):
    schema = Schema.from_dict(GOOD)
    again = Schema.from_dict(schema.to_dict())
    assert again == schema and again.fingerprint == schema.fingerprint
    changed = Schema.from_dict(with_change(("entity_types", 1, "description"), "Companies."))
    assert changed.fingerprint != schema.fingerprint


def test_from_labels_builds_an_unconstrained_schema():
    schema = Schema.from_labels(["person", "city"], ["lives_in"])
    assert schema.entity_labels == ["person", "city"]
    assert schema.allows("lives_in", "city", "person")
    assert Schema.from_labels(["x"]).relation_types == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ((("entity_types", 0, "description"), None), "entity_types/0"),
        ((("entity_types", 1, "name"), 7), "entity_types/1/name"),
        ((("entity_types",), []), "entity_types"),
        ((("relation_types", 0, "symmetric"), "yes"), "relation_types/0/symmetric"),
        ((("relation_types", 1, "colour"), "red"), "relation_types/1"),
        ((("name",), None), "(top level)"),
        ((("relation_types", 0, "tail_types"), ["company"]), "relation_types/0/tail_types/0"),
        ((("entity_types", 1, "name"), "per"), "entity_types"),
    ],
)
def test_bad_schema_names_file_and_field(tmp_path, change, field):
    path = write(tmp_path, with_change(*change))
    with pytest.raises(SchemaError) as info:
        load_schema(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid schema at field '{field}'"), message


def test_duplicate_and_unknown_type_messages_say_what_is_wrong(tmp_path):
    with pytest.raises(SchemaError, match=r"duplicate names \['per'\]"):
        load_schema(write(tmp_path, with_change(("entity_types", 1, "name"), "per")))
    with pytest.raises(SchemaError, match=r"'company' is not one of the entity types \['per', 'org'\]"):
        load_schema(write(tmp_path, with_change(("relation_types", 0, "tail_types"), ["company"])))


def test_unreadable_schema_files_and_unknown_names(tmp_path):
    path = write(tmp_path, '{"name": "x",')
    with pytest.raises(SchemaError, match=rf"^{path}: not valid JSON"):
        load_schema(path)
    with pytest.raises(SchemaError, match="schema file not found"):
        load_schema(tmp_path / "missing.json")
    with pytest.raises(SchemaError, match=r"unknown schema 'nope'; available: .*conll04"):
        load_schema("nope")
