"""The document model: Document, Entity, Relation, and JSONL read/write.

Offsets are character offsets into `Document.text` (end exclusive). The invariant
`document.text[entity.start:entity.end] == entity.text` is checked whenever a Document is built,
so no span that breaks it can leave the toolkit.

JSONL shape, one document per line::

    {"id": "d1", "text": "...",
     "entities": [{"id": "T1", "start": 0, "end": 10, "text": "Steve Jobs", "label": "person",
                   "score": 0.97, "source": "encoder"}],
     "relations": [{"head": "T1", "tail": "T2", "label": "founded", "score": 0.8, "source": "llm"}],
     "meta": {}}

A document that failed in a batch job also carries `"error": "<reason>"`.

Span rules shared by the encoder's decoding, the router and the reconciler (`clashes`): two
entities on the same span cannot both stand (one label per span); flat output keeps no
overlapping spans, nested output no crossing ones (overlapping, neither inside the other).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hybrid_ie.errors import InputError

Source = Literal["gold", "encoder", "llm", "both"]
Span = tuple[int, int]  # (start, end), end exclusive


class Entity(BaseModel):
    """A labelled span of the document text."""

    model_config = ConfigDict(extra="forbid")

    id: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    text: str
    label: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    source: Source = "gold"

    @model_validator(mode="after")
    def _span_not_empty(self) -> Entity:
        if self.end <= self.start:
            raise ValueError(f"entity {self.id!r}: end ({self.end}) must be greater than start ({self.start})")
        if len(self.text) != self.end - self.start:
            raise ValueError(
                f"entity {self.id!r}: text {self.text!r} has length {len(self.text)} "
                f"but the span [{self.start}, {self.end}) has length {self.end - self.start}"
            )
        return self

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)


class Relation(BaseModel):
    """A labelled, directed link between two entities of the same document (by entity id)."""

    model_config = ConfigDict(extra="forbid")

    head: str
    tail: str
    label: str
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    source: Source = "gold"


class Document(BaseModel):
    """A text with its entities, relations and free-form metadata (provenance, routing, usage)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str
    entities: list[Entity] = Field(default_factory=list)
    relations: list[Relation] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_string(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @model_validator(mode="after")
    def _check_offsets_and_links(self) -> Document:
        ids: set[str] = set()
        for ent in self.entities:
            if ent.id in ids:
                raise ValueError(f"document {self.id!r}: duplicate entity id {ent.id!r}")
            ids.add(ent.id)
            if ent.end > len(self.text):
                raise ValueError(
                    f"document {self.id!r}: entity {ent.id!r} ends at {ent.end}, "
                    f"beyond the text (length {len(self.text)})"
                )
            actual = self.text[ent.start : ent.end]
            if actual != ent.text:
                raise ValueError(
                    f"document {self.id!r}: entity {ent.id!r} says text {ent.text!r} "
                    f"but text[{ent.start}:{ent.end}] is {actual!r}"
                )
        for rel in self.relations:
            for role, ref in (("head", rel.head), ("tail", rel.tail)):
                if ref not in ids:
                    raise ValueError(
                        f"document {self.id!r}: relation {rel.label!r} has {role} {ref!r}, "
                        "which is not an entity id of this document"
                    )
        return self

    # -- convenience -------------------------------------------------------------------------
    def entity(self, entity_id: str) -> Entity:
        for ent in self.entities:
            if ent.id == entity_id:
                return ent
        raise KeyError(entity_id)

    def entity_map(self) -> dict[str, Entity]:
        return {ent.id: ent for ent in self.entities}

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data.get("error") is None:
            data.pop("error", None)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def make_entity(
    text: str,
    start: int,
    end: int,
    label: str,
    *,
    id: str,
    score: float | None = None,
    source: Source = "gold",
) -> Entity:
    """Build an Entity whose `text` is cut from the document text, so the invariant holds."""
    return Entity(id=id, start=start, end=end, text=text[start:end], label=label, score=score, source=source)


def join_chunks(doc_id: str, text: str, parts: Iterable[tuple[int, Document]], **fields: Any) -> Document:
    """The Document of `text` from the Documents of its chunks, each given with the chunk's start
    in `text`: entities at `text` offsets in text order (start, longer first, label) with ids
    T1.., the same span and label once; relations in chunk order. `fields` (meta, error) go to it."""
    items: list[tuple[Entity, int]] = []  # (chunk-local entity, chunk offset)
    rels: list[tuple[Relation, dict[str, Entity], int]] = []
    for offset, part in parts:
        ents = part.entity_map()
        items.extend((e, offset) for e in part.entities)
        rels.extend((r, ents, offset) for r in part.relations)
    items.sort(key=lambda it: (it[0].start + it[1], -(it[0].end + it[1]), it[0].label))
    entities: list[Entity] = []
    new_id: dict[tuple[int, int, str], str] = {}
    for ent, off in items:
        key = (ent.start + off, ent.end + off, ent.label)
        if key in new_id:  # the same span from two chunks cannot happen, but never duplicate
            continue
        new_id[key] = f"T{len(entities) + 1}"
        entities.append(make_entity(text, key[0], key[1], ent.label, id=new_id[key], score=ent.score, source=ent.source))
    relations = [
        Relation(head=new_id[(h.start + off, h.end + off, h.label)], tail=new_id[(t.start + off, t.end + off, t.label)],
                 label=rel.label, score=rel.score, source=rel.source)
        for rel, ents, off in rels
        for h, t in [(ents[rel.head], ents[rel.tail])]
    ]  # fmt: skip
    return Document(id=doc_id, text=text, entities=entities, relations=relations, **fields)


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def nests(a: Span, b: Span) -> bool:
    """True when one span contains the other (identical spans included)."""
    return (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])


def clashes(a: Span, b: Span, *, nested: bool) -> bool:
    """Whether two spans cannot both be output: same span (one label per span), or overlapping
    (flat) / crossing (nested)."""
    if a == b:
        return True
    return overlaps(a, b) and not (nested and nests(a, b))


# -- JSONL ------------------------------------------------------------------------------------


def json_line(line: str, where: str) -> Any:
    """One JSONL line's value. InputError naming `where` when it is malformed JSON (with the
    column) or nested too deeply for the parser."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: malformed JSON ({exc.msg} at column {exc.pos + 1})") from exc
    except RecursionError as exc:
        raise InputError(f"{where}: JSON nested too deeply") from exc


def iter_json_lines(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line of a JSONL file.

    Raises InputError naming the file, the line and what is wrong.
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{path}:{lineno}: invalid UTF-8 at byte {exc.start} of the line") from exc
            if not line.strip():
                continue
            obj = json_line(line, f"{path}:{lineno}")
            if not isinstance(obj, dict):
                raise InputError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            yield lineno, obj


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)  # document-level messages name the document
    return "; ".join(parts)


def document_from_dict(obj: dict[str, Any], *, where: str = "") -> Document:
    """Validate one JSON object as a Document; errors name `where` (file:line) and the field."""
    try:
        return Document.model_validate(obj)
    except ValidationError as exc:
        prefix = f"{where}: " if where else ""
        raise InputError(f"{prefix}invalid document ({_describe(exc)})") from exc


def read_jsonl(path: str | Path) -> Iterator[Document]:
    """Read Documents from a JSONL file, one per line. An empty file yields nothing."""
    for lineno, obj in iter_json_lines(path):
        yield document_from_dict(obj, where=f"{path}:{lineno}")


def write_jsonl(documents: Iterable[Document], path: str | Path) -> int:
    """Write Documents to a JSONL file (overwrites). Returns the number written."""
    count = 0
    with Path(path).open("w", encoding="utf-8") as handle:
        for doc in documents:
            write_document(doc, handle)
            count += 1
    return count


def write_document(doc: Document, handle: IO[str]) -> None:
    """Append one Document as a JSONL line and flush, so a killed job loses nothing written."""
    handle.write(doc.to_json() + "\n")
    handle.flush()
