"""Pydantic response models built from a Schema, for the two LLM tasks.

Labels are enums (`Literal[...]`) of the schema's types, so an answer with a label outside the
schema (including one planted by a prompt injection in the document) fails validation and is
re-asked, never passed on. The LLM reads and writes each type's natural-language `verbose` label
("person", "works for") or its `name` ("Peop", "Work_For"), as the `LabelSet` says; answers are
mapped back to names before they leave the tier. Lists carry `max_length` caps (JSON schema
`maxItems`) that grow with the chunk's length (`ListCaps.for_text`): a small model that starts
repeating one relation stops at the cap, which costs little on a short chunk. Keys are short:
output length dominates local latency.

extract::

    {"entities": [{"text": "Steve Jobs", "type": "person"}, ...],
     "relations": [{"head": "Steve Jobs", "type": "works for", "tail": "Apple"}, ...]}

verify (one verdict per numbered candidate: "ok", "drop" or another label; then additions)::

    {"entities": ["ok", "organization", "drop"], "relations": ["ok"],
     "add_entities": [{"text": ..., "type": ...}], "add_relations": [{"head": ..., ...}]}

Every model also checks the raw JSON against its own JSON schema with `jsonschema` before pydantic
reads it, so the error a re-ask shows the model names the exact path that broke.
"""

from __future__ import annotations

from dataclasses import dataclass
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
LabelStyle = Literal["verbose", "name"]


@dataclass(frozen=True)
class LabelSet:
    """The labels the LLM sees for a schema's types: `{schema name: LLM label}` per kind.

    "verbose" uses each type's natural-language label where it has one, unless two types would
    then share a label (the names are used for that kind instead); "name" uses the names.
    """

    entities: tuple[tuple[str, str], ...]
    relations: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, schema: Schema, style: LabelStyle = "verbose") -> LabelSet:
        def pick(types: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
            labels = [t.verbose or t.name if style == "verbose" else t.name for t in types]
            if len(set(labels)) < len(labels):
                labels = [t.name for t in types]
            return tuple((t.name, label) for t, label in zip(types, labels, strict=True))

        return cls(pick(schema.entity_types), pick(schema.relation_types))

    @property
    def entity_labels(self) -> list[str]:
        return [label for _, label in self.entities]

    @property
    def relation_labels(self) -> list[str]:
        return [label for _, label in self.relations]

    def entity(self, name: str) -> str:
        """The LLM label of an entity type name (unknown names pass through)."""
        return dict(self.entities).get(name, name)

    def relation(self, name: str) -> str:
        return dict(self.relations).get(name, name)

    def entity_name(self, label: str) -> str:
        """The schema name of an LLM entity label."""
        return {v: k for k, v in self.entities}[label]

    def relation_name(self, label: str) -> str:
        return {v: k for k, v in self.relations}[label]


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


@dataclass(frozen=True)
class ListCaps:
    """The most items an answer may list, per list."""

    entities: int = MAX_ENTITIES
    relations: int = MAX_RELATIONS
    additions: int = MAX_ADDITIONS

    @classmethod
    def for_text(cls, text: str) -> ListCaps:
        """Caps that grow with the number of words. A sentence of the benchmark corpora has at
        most 9 entities and 6-8 relations in 99% of cases; runaway lists are far longer."""
        words = len(text.split())
        return cls(
            entities=min(MAX_ENTITIES, max(6, words // 3)),
            relations=min(MAX_RELATIONS, max(4, words // 5)),
            additions=min(MAX_ADDITIONS, max(2, words // 10)),
        )

    def halved(self) -> ListCaps:
        """Half as many items per list (at least one): a shorter answer after a cut-off one."""
        return ListCaps(max(1, self.entities // 2), max(1, self.relations // 2), max(1, self.additions // 2))


@lru_cache(maxsize=256)
def _validator_for(model: type[BaseModel]) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(model.model_json_schema())


def _enum(values: list[str]) -> Any:
    return Literal[tuple(values)]  # type: ignore[valid-type]


def _item_models(labels: LabelSet) -> tuple[type[BaseModel], type[BaseModel] | None]:
    entity = create_model(
        "Entity",
        __base__=CheckedModel,
        text=(str, Field(min_length=1)),
        type=(_enum(labels.entity_labels), ...),
    )
    relation = None
    if labels.relations:
        relation = create_model(
            "Relation",
            __base__=CheckedModel,
            head=(str, Field(min_length=1)),
            type=(_enum(labels.relation_labels), ...),
            tail=(str, Field(min_length=1)),
        )
    return entity, relation


@lru_cache(maxsize=256)
def extraction_model(labels: LabelSet, caps: ListCaps = ListCaps()) -> type[CheckedModel]:
    """The answer to the extract task for these labels."""
    entity, relation = _item_models(labels)
    fields: dict[str, Any] = {"entities": (list[entity], Field(max_length=caps.entities))}
    if relation is not None:
        fields["relations"] = (list[relation], Field(max_length=caps.relations))
    return create_model("Extraction", __base__=CheckedModel, **fields)


@lru_cache(maxsize=256)
def verification_model(
    labels: LabelSet, n_entities: int, n_relations: int, caps: ListCaps = ListCaps()
) -> type[CheckedModel]:
    """The answer to the verify task: exactly one verdict per numbered candidate, then additions."""
    entity, relation = _item_models(labels)
    entity_verdict = _enum([CONFIRM, DROP, *labels.entity_labels])
    fields: dict[str, Any] = {
        "entities": (list[entity_verdict], Field(min_length=n_entities, max_length=n_entities)),
    }
    if relation is not None:
        relation_verdict = _enum([CONFIRM, DROP, *labels.relation_labels])
        fields["relations"] = (
            list[relation_verdict],
            Field(min_length=n_relations, max_length=n_relations),
        )
    fields["add_entities"] = (list[entity], Field(max_length=caps.additions))
    if relation is not None:
        fields["add_relations"] = (list[relation], Field(max_length=caps.additions))
    return create_model("Verification", __base__=CheckedModel, **fields)
