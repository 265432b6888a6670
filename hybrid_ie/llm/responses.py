"""Pydantic response models built from a Schema, for the two LLM tasks.

Labels are enums (`Literal[...]`) of the schema's type names, so an answer with a label outside
the schema (including one planted by a prompt injection in the document) fails validation and is
re-asked, never passed on. Lists carry `max_length` caps (JSON schema `maxItems`) that stop
runaway repetition. Keys are short: output length dominates local latency.

extract::

    {"entities": [{"text": "Steve Jobs", "type": "Peop"}, ...],
     "relations": [{"head": "Steve Jobs", "type": "Work_For", "tail": "Apple"}, ...]}

verify (one verdict per numbered candidate: "ok", "drop" or another label; then additions)::

    {"entities": ["ok", "Org", "drop"], "relations": ["ok"],
     "add_entities": [{"text": ..., "type": ...}], "add_relations": [{"head": ..., ...}]}

Every model also checks the raw JSON against its own JSON schema with `jsonschema` before pydantic
reads it, so the error a re-ask shows the model names the exact path that broke.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from hybrid_ie.schema import Schema

MAX_ENTITIES = 24
MAX_RELATIONS = 16
MAX_ADDITIONS = 8
CONFIRM = "ok"
DROP = "drop"


class CheckedModel(BaseModel):
    """A response model whose raw JSON is validated against its JSON schema first."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _check_json_schema(cls, data: Any) -> Any:
        errors = sorted(_validator_for(cls).iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            err = errors[0]
            where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
            raise ValueError(f"JSON schema violation at {where}: {err.message}")
        return data


@lru_cache(maxsize=256)
def _validator_for(model: type[BaseModel]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(model.model_json_schema())


def _enum(values: list[str]) -> Any:
    return Literal[tuple(values)]  # type: ignore[valid-type]


def _item_models(schema: Schema) -> tuple[type[BaseModel], type[BaseModel] | None]:
    entity = create_model(
        "Entity",
        __base__=CheckedModel,
        text=(str, Field(min_length=1)),
        type=(_enum(schema.entity_labels), ...),
    )
    relation = None
    if schema.relation_types:
        relation = create_model(
            "Relation",
            __base__=CheckedModel,
            head=(str, Field(min_length=1)),
            type=(_enum(schema.relation_labels), ...),
            tail=(str, Field(min_length=1)),
        )
    return entity, relation


@lru_cache(maxsize=64)
def extraction_model(schema: Schema) -> type[CheckedModel]:
    """The answer to the extract task for this schema."""
    entity, relation = _item_models(schema)
    fields: dict[str, Any] = {"entities": (list[entity], Field(max_length=MAX_ENTITIES))}
    if relation is not None:
        fields["relations"] = (list[relation], Field(max_length=MAX_RELATIONS))
    return create_model("Extraction", __base__=CheckedModel, **fields)


@lru_cache(maxsize=256)
def verification_model(schema: Schema, n_entities: int, n_relations: int) -> type[CheckedModel]:
    """The answer to the verify task: exactly one verdict per numbered candidate, then additions."""
    entity, relation = _item_models(schema)
    entity_verdict = _enum([CONFIRM, DROP, *schema.entity_labels])
    fields: dict[str, Any] = {
        "entities": (list[entity_verdict], Field(min_length=n_entities, max_length=n_entities)),
    }
    if relation is not None:
        relation_verdict = _enum([CONFIRM, DROP, *schema.relation_labels])
        fields["relations"] = (
            list[relation_verdict],
            Field(min_length=n_relations, max_length=n_relations),
        )
    fields["add_entities"] = (list[entity], Field(max_length=MAX_ADDITIONS))
    if relation is not None:
        fields["add_relations"] = (list[relation], Field(max_length=MAX_ADDITIONS))
    return create_model("Verification", __base__=CheckedModel, **fields)
