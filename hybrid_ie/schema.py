"""Extraction schemas: entity types and relation types with their constraints.

A schema file (the shipped ones are package data: `hybrid_ie/schemas/<name>.json`) is validated
against `hybrid_ie/schemas/schema.schema.json` with `jsonschema`; a bad file fails with the file
name and the offending field. Cross-references (relation head/tail types must be declared entity
types, names unique) are checked too.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import jsonschema

from hybrid_ie.errors import SchemaError
from hybrid_ie.paths import SCHEMAS_DIR

if TYPE_CHECKING:
    from hybrid_ie.demonstrations import Demonstration

META_SCHEMA_FILE = SCHEMAS_DIR / "schema.schema.json"


def prompt_key(prompt: str) -> str:
    """How label prompts are compared (known labels, per-label thresholds): case- and
    edge-whitespace-insensitive."""
    return prompt.strip().lower()


@dataclass(frozen=True)
class EntityType:
    name: str
    description: str
    verbose: str = ""

    @property
    def prompt(self) -> str:
        """The natural-language label the encoder reads."""
        return self.verbose or self.name


@dataclass(frozen=True)
class RelationType:
    name: str
    description: str
    verbose: str = ""
    head_types: tuple[str, ...] = ()
    tail_types: tuple[str, ...] = ()
    symmetric: bool = False

    @property
    def prompt(self) -> str:
        return self.verbose or self.name

    def allows(self, head_type: str, tail_type: str) -> bool:
        """True when the schema allows this relation between entities of these types."""
        ok_head = not self.head_types or head_type in self.head_types
        ok_tail = not self.tail_types or tail_type in self.tail_types
        if ok_head and ok_tail:
            return True
        if self.symmetric:
            return (not self.head_types or tail_type in self.head_types) and (
                not self.tail_types or head_type in self.tail_types
            )
        return False


@dataclass(frozen=True)
class Schema:
    name: str
    entity_types: tuple[EntityType, ...]
    relation_types: tuple[RelationType, ...] = ()
    description: str = ""
    source: str = field(default="", compare=False)
    # Worked examples the LLM's extract prompt shows (`hybrid_ie.demonstrations`); not part of
    # the schema's file form or fingerprint.
    demonstrations: tuple[Demonstration, ...] = ()

    # -- lookups ---------------------------------------------------------------------------
    @property
    def entity_labels(self) -> list[str]:
        return [t.name for t in self.entity_types]

    @property
    def relation_labels(self) -> list[str]:
        return [t.name for t in self.relation_types]

    def entity_type(self, name: str) -> EntityType:
        for t in self.entity_types:
            if t.name == name:
                return t
        raise KeyError(name)

    def relation_type(self, name: str) -> RelationType:
        for t in self.relation_types:
            if t.name == name:
                return t
        raise KeyError(name)

    @property
    def symmetric_relations(self) -> set[str]:
        return {t.name for t in self.relation_types if t.symmetric}

    def allows(self, relation: str, head_type: str, tail_type: str) -> bool:
        try:
            return self.relation_type(relation).allows(head_type, tail_type)
        except KeyError:
            return False

    # -- serialisation ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        def ent(t: EntityType) -> dict[str, Any]:
            d: dict[str, Any] = {"name": t.name, "description": t.description}
            if t.verbose:
                d["verbose"] = t.verbose
            return d

        def rel(t: RelationType) -> dict[str, Any]:
            d: dict[str, Any] = {"name": t.name, "description": t.description}
            if t.verbose:
                d["verbose"] = t.verbose
            d.update(head_types=list(t.head_types), tail_types=list(t.tail_types), symmetric=t.symmetric)
            return d

        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["entity_types"] = [ent(t) for t in self.entity_types]
        out["relation_types"] = [rel(t) for t in self.relation_types]
        return out

    def subset(self, entity_types: Collection[str], relation_types: Collection[str], *, why: str,
               name: str | None = None) -> Schema:  # fmt: skip
        """The schema with only the named types (in their order); `why` goes into its source."""
        data = self.to_dict()
        data["name"] = name or self.name
        data["entity_types"] = [t for t in data["entity_types"] if t["name"] in entity_types]
        data["relation_types"] = [t for t in data["relation_types"] if t["name"] in relation_types]
        return Schema.from_dict(data, source=f"{self.source} ({why})").with_demonstrations(self.demonstrations)

    def with_demonstrations(self, demonstrations: Sequence[Demonstration]) -> Schema:
        """The same schema with these demonstrations for the LLM (in place of any it had)."""
        return replace(self, demonstrations=tuple(demonstrations))

    @property
    def fingerprint(self) -> str:
        """A stable hash of the schema's content (used in cache keys)."""
        blob = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8")
        return hashlib.sha256(blob).hexdigest()[:16]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Schema:
        _validate(data, source)
        ents = tuple(
            EntityType(name=e["name"], description=e["description"], verbose=e.get("verbose", ""))
            for e in data["entity_types"]
        )
        rels = tuple(
            RelationType(
                name=r["name"],
                description=r["description"],
                verbose=r.get("verbose", ""),
                head_types=tuple(r.get("head_types", ())),
                tail_types=tuple(r.get("tail_types", ())),
                symmetric=bool(r.get("symmetric", False)),
            )
            for r in data["relation_types"]
        )
        return cls(
            name=data["name"],
            entity_types=ents,
            relation_types=rels,
            description=data.get("description", ""),
            source=source,
        )

    @classmethod
    def from_labels(
        cls,
        entity_labels: Sequence[str] | Mapping[str, str],
        relation_labels: Sequence[str] | Mapping[str, str] | None = None,
        name: str = "adhoc",
    ) -> Schema:
        """A schema from bare labels (zero-shot use), no constraints: a list of labels, or a
        dict label -> description (the description is what the LLM reads; the encoder reads the
        label)."""
        return cls.from_dict(
            {
                "name": name,
                "entity_types": label_types(entity_labels, "entity"),
                "relation_types": label_types(relation_labels or [], "relation"),
            },
            source="<labels>",
        )


def label_types(labels: Sequence[str] | Mapping[str, str], kind: str) -> list[dict[str, str]]:
    """Schema-file type entries (name, description) of a list of labels or a dict label ->
    description; `kind` ("entity" / "relation") names them in errors."""
    if isinstance(labels, str):
        raise SchemaError(f"{kind} labels: expected a list of labels or a dict label -> description, got the "
                          f"string {labels!r}")  # fmt: skip
    pairs = labels.items() if isinstance(labels, Mapping) else ((x, x) for x in labels)
    types = []
    for label, description in pairs:
        if not isinstance(label, str) or not label.strip():
            raise SchemaError(f"{kind} labels: every label must be a non-empty string, got {label!r}")
        if not isinstance(description, str) or not description.strip():
            raise SchemaError(f"{kind} label {label!r}: the description must be a non-empty string")
        types.append({"name": label, "description": description})
    return types


@lru_cache(maxsize=1)
def _meta_schema() -> dict[str, Any]:
    return json.loads(META_SCHEMA_FILE.read_text(encoding="utf-8"))


def _validate(data: Any, source: str) -> None:
    validator = jsonschema.Draft202012Validator(_meta_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        raise SchemaError(f"{source}: invalid schema at field '{where}': {err.message}")
    ent_names = [e["name"] for e in data["entity_types"]]
    rel_names = [r["name"] for r in data["relation_types"]]
    for kind, names in (("entity_types", ent_names), ("relation_types", rel_names)):
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SchemaError(f"{source}: invalid schema at field '{kind}': duplicate names {dupes}")
    for i, rel in enumerate(data["relation_types"]):
        for key in ("head_types", "tail_types"):
            for j, t in enumerate(rel.get(key, [])):
                if t not in ent_names:
                    raise SchemaError(
                        f"{source}: invalid schema at field 'relation_types/{i}/{key}/{j}': "
                        f"{t!r} is not one of the entity types {ent_names}"
                    )


SCHEMA_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def available_schemas() -> list[str]:
    """The names of the shipped schemas (package data)."""
    names = (p.name for p in SCHEMAS_DIR.iterdir() if p.is_file())
    return sorted(n.removesuffix(".json") for n in names if n.endswith(".json") and n != META_SCHEMA_FILE.name)


def schema_labels(schema: Schema) -> dict[str, list[str]]:
    """The labels of a schema as a Document's meta records them (``meta["pipeline"]["labels"]``):
    ``{"entities", "relations", "symmetric"}``; `from_recorded_labels` reads them back."""
    return {"entities": schema.entity_labels, "relations": schema.relation_labels,
            "symmetric": [t.name for t in schema.relation_types if t.symmetric]}  # fmt: skip


def from_recorded_labels(labels: dict[str, Any], name: str = "adhoc") -> Schema:
    """A schema (no descriptions, no type constraints) from `schema_labels`' record."""
    symmetric = set(labels.get("symmetric") or ())
    return Schema.from_dict(
        {
            "name": name,
            "entity_types": label_types(list(labels.get("entities") or []), "entity"),
            "relation_types": [{**t, "symmetric": t["name"] in symmetric}
                               for t in label_types(list(labels.get("relations") or []), "relation")],
        },
        source="<labels recorded in the documents>",
    )  # fmt: skip


SchemaLike = Union["Schema", str, os.PathLike, Sequence[str], Mapping[str, Any]]
LABEL_KEYS = frozenset({"entities", "relations"})


def load_schema(name_or_path: SchemaLike) -> Schema:
    """The schema of any form the API takes: a Schema; a shipped schema's name (`conll04`,
    `default`, ...) or a path to a schema JSON file; a list of entity labels; a dict label ->
    description; ``{"entities": labels, "relations": labels}`` (each a list or a dict); or a
    schema file's content as a dict (with ``entity_types``)."""
    if isinstance(name_or_path, Schema):
        return name_or_path
    if isinstance(name_or_path, Mapping):
        if "entity_types" in name_or_path:
            return Schema.from_dict(dict(name_or_path))
        if name_or_path and set(name_or_path) <= LABEL_KEYS:
            if "entities" not in name_or_path:
                raise SchemaError("a {'entities', 'relations'} schema needs 'entities' (a list or dict of labels)")
            return Schema.from_labels(name_or_path["entities"], name_or_path.get("relations"))
        if not name_or_path:
            raise SchemaError("an empty dict is no schema: give at least one entity label")
        return Schema.from_labels(name_or_path)
    if isinstance(name_or_path, Sequence) and not isinstance(name_or_path, str):
        if not name_or_path:
            raise SchemaError("an empty label list is no schema: give at least one entity label")
        return Schema.from_labels(list(name_or_path))
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise SchemaError(
            f"a schema must be a Schema, a name, a file, a list of labels or a dict, got {type(name_or_path).__name__}"
        )
    text = str(name_or_path)
    path: Path | Traversable = Path(text)
    if not (path.suffix == ".json" or path.exists()):
        if not SCHEMA_NAME_RE.fullmatch(text):  # a name never reaches outside the shipped schemas
            raise SchemaError(f"{text}: no such schema file (a schema name is letters, digits, '_' and '-')")
        path = SCHEMAS_DIR / f"{text}.json"
        if not path.is_file():
            raise SchemaError(f"unknown schema {text!r}; available: {', '.join(available_schemas())} (or pass a "
                              "list of labels)")  # fmt: skip
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(f"{path}: schema file not found") from exc
    except IsADirectoryError as exc:
        raise SchemaError(f"{path}: is a folder, not a schema file") from exc
    except OSError as exc:
        raise SchemaError(f"{path}: cannot read the schema file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{path}: not a JSON schema file (not UTF-8 text)") from exc
    except RecursionError as exc:
        raise SchemaError(f"{path}: JSON nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return Schema.from_dict(data, source=str(path))
