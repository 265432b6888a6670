"""Label Studio round trip: Documents -> review tasks with predictions -> reviewed Documents.

    from hybrid_ie.integrations.labelstudio import export_tasks, import_tasks, label_config
    tasks, warnings = export_tasks(docs, schema)          # a JSON list to import into Label Studio
    config = label_config(schema, docs)                   # the project's labelling config (XML)
    schema = recorded_schema(docs)                        # the one the documents were made with
    docs, warnings = import_tasks(json.load(open("export.json")), schema)

Only the core (Document, Schema) is used: no Label Studio server or SDK. The shapes are Label
Studio's JSON task format (as label-studio-sdk reads and writes it):

- a task is ``{"data": {"text": ..., "doc_id": ...}, "predictions": [{"model_version", "score",
  "result": [...]}]}`` (``data.source`` keeps a document file's source, e.g. its page map);
- an entity is a ``labels`` result: ``{"id", "from_name": "label", "to_name": "text", "type":
  "labels", "value": {"start", "end", "text", "labels": [label]}, "score"}``; its region id is
  a hash of the document id, the span and the label (`region_ids`): unique across tasks, the
  same in every export of that entity;
- a relation is a ``relation`` result: ``{"from_id", "to_id", "type": "relation", "direction":
  "right", "labels": [label], "score"}`` (``bi`` for a relation the schema declares symmetric).

Offsets in Label Studio are JavaScript string offsets (UTF-16 code units): they are converted
both ways, so texts with characters outside the BMP (emoji) keep their spans.

Import reads Label Studio's JSON export (a list of tasks). Each task becomes one Document: the
result of its annotation (not cancelled; a ``ground_truth`` one first, else the latest updated),
or, when it has none, of its last prediction (recorded as ``meta["labelstudio"]["from"] ==
"prediction"``; `skip_unreviewed` leaves such tasks out). Entity ids are renumbered T1.. by
position, as the pipeline numbers them; annotated items get ``source="gold"`` and no score,
items taken from a prediction keep their score. Direction ``left`` swaps head and tail; ``bi``
gives one relation for a symmetric label and both directions otherwise. Anything malformed
raises InputError naming the task (and the region).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.errors import InputError, SchemaError
from hybrid_ie.schema import Schema, from_recorded_labels, load_schema, schema_labels

FROM_NAME = "label"
TO_NAME = "text"
TEXT_KEY = "text"
DOC_ID_KEY = "doc_id"
DIRECTIONS = ("right", "left", "bi")
PALETTE = ("#FFA39E", "#D4380D", "#FFC069", "#AD8B00", "#D3F261", "#389E0D", "#5CDBD3", "#096DD9",
           "#ADC6FF", "#9254DE", "#F759AB", "#FFA940", "#73D13D", "#36CFC9", "#597EF7", "#FF85C0")  # fmt: skip


# -- offsets: Python (code points) <-> JavaScript (UTF-16 code units) ------------------------------


def _utf16_table(text: str) -> list[int] | None:
    """UTF-16 offset of each code-point offset 0..len(text), or None when they are the same."""
    if all(ord(ch) <= 0xFFFF for ch in text):
        return None
    table, pos = [0], 0
    for ch in text:
        pos += 2 if ord(ch) > 0xFFFF else 1
        table.append(pos)
    return table


def _to_js(table: list[int] | None, offset: int) -> int:
    return offset if table is None else table[offset]


def _from_js(reverse: dict[int, int] | None, offset: int) -> int | None:
    """The code-point offset of a UTF-16 offset (None: inside a surrogate pair)."""
    return offset if reverse is None else reverse.get(offset)


# -- export ---------------------------------------------------------------------------------------


def model_version(doc: Document, settings: dict[str, Any] | None = None) -> str:
    """Who made the predictions: the mode, the encoder and the LLM, from the document's meta and
    the job settings (`OUT.summary.json`'s ``settings``) when given."""
    settings = settings or {}
    meta = doc.meta or {}
    mode = (meta.get("pipeline") or {}).get("mode") or settings.get("mode")
    parts = [f"hybrid-ie {mode}" if mode else "hybrid-ie"]
    encoder = meta.get("encoder") or {}
    if encoder or mode in ("encoder", "hybrid"):
        checkpoint = str(settings.get("model") or "shipped").rstrip("/").rsplit("/", 1)[-1]
        parts.append(f"encoder {encoder.get('backend', 'joint')}:{checkpoint}")
    llm = meta.get("llm") or {}
    if settings.get("llm_model") or llm.get("calls") or mode == "llm":
        parts.append(f"llm {settings.get('llm_model') or 'configured'}")
    return " | ".join(parts)


def region_ids(doc: Document) -> dict[str, str]:
    """Entity id -> Label Studio region id: 10 hex digits of a hash of the document id, the span
    and the label, so ids differ between tasks and an entity keeps its id when the document is
    exported again (even re-extracted, with other entities around it). Unique within the task."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    for ent in doc.entities:
        key = f"{doc.id}\x00{ent.start}\x00{ent.end}\x00{ent.label}"
        region = hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]
        n = 0
        while region in taken:  # the same span and label twice in one document
            n += 1
            region = hashlib.sha1(f"{key}\x00{n}".encode()).hexdigest()[:10]
        taken.add(region)
        out[ent.id] = region
    return out


def to_task(doc: Document, *, version: str | None = None, symmetric: Iterable[str] = ()) -> dict[str, Any]:
    """One Document as a Label Studio task whose single prediction holds its entities and relations
    (region ids: `region_ids`)."""
    table = _utf16_table(doc.text)
    symmetric = set(symmetric)
    regions = region_ids(doc)
    result: list[dict[str, Any]] = []
    scores: list[float] = []
    for ent in doc.entities:
        item: dict[str, Any] = {
            "id": regions[ent.id], "from_name": FROM_NAME, "to_name": TO_NAME, "type": "labels",
            "value": {"start": _to_js(table, ent.start), "end": _to_js(table, ent.end), "text": ent.text,
                      "labels": [ent.label]},
        }  # fmt: skip
        if ent.score is not None:
            item["score"] = ent.score
            scores.append(ent.score)
        result.append(item)
    for rel in doc.relations:
        direction = "bi" if rel.label in symmetric else "right"
        item = {"from_id": regions[rel.head], "to_id": regions[rel.tail], "type": "relation", "direction": direction,
                "labels": [rel.label]}  # fmt: skip
        if rel.score is not None:
            item["score"] = rel.score
            scores.append(rel.score)
        result.append(item)
    prediction: dict[str, Any] = {"model_version": version or model_version(doc), "result": result}
    if scores:
        prediction["score"] = min(scores)  # Label Studio shows the least sure documents first
    data: dict[str, Any] = {TEXT_KEY: doc.text, DOC_ID_KEY: doc.id}
    if (doc.meta or {}).get("source"):
        data["source"] = doc.meta["source"]
    return {"data": data, "predictions": [prediction]}


def export_tasks(
    docs: Iterable[Document],
    schema: Schema | None = None,
    *,
    settings: dict[str, Any] | None = None,
    version: str | None = None,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Tasks for `docs` (documents without text are left out) and warnings."""
    symmetric = schema.symmetric_relations if schema is not None else set()
    tasks, warnings = [], []
    for doc in docs:
        if not doc.text:
            warnings.append(f"document {doc.id!r}: no text ({doc.error or 'empty'}); not exported")
            continue
        tasks.append(to_task(doc, version=version or model_version(doc, settings), symmetric=symmetric))
    return tasks, warnings


def recorded_schema(docs: Iterable[Document]) -> Schema | None:
    """The schema the documents were extracted with, from their meta: the labels each records
    (``meta["pipeline"]["labels"]``, all of them, in first-seen order), as the shipped schema of
    the recorded name when that has exactly these labels (its descriptions become hints), else
    as bare labels. Documents that record only a name: that schema when it loads. None without
    a record."""
    names: list[str] = []
    merged: dict[str, list[str]] = {"entities": [], "relations": [], "symmetric": []}
    for doc in docs:
        pipeline = (doc.meta or {}).get("pipeline") or {}
        if isinstance(pipeline.get("schema"), str):
            names.append(pipeline["schema"])
        labels = pipeline.get("labels")
        if isinstance(labels, dict):
            for key, values in merged.items():
                values += [x for x in labels.get(key) or [] if isinstance(x, str) and x not in values]
    name = names[0] if names and len(set(names)) == 1 else None
    shipped = None
    if name is not None:
        try:
            shipped = load_schema(name)
        except SchemaError:
            shipped = None
    if not merged["entities"]:
        return shipped
    if shipped is not None and schema_labels(shipped) == merged:
        return shipped
    return from_recorded_labels(merged, name=name or "recorded")


def label_config(schema: Schema | None, docs: Sequence[Document] = ()) -> str:
    """The labelling config: a `Labels` control over the `Text` object and, when there are
    relation labels, `Relations`. Labels are the schema's plus any other label the documents use
    (without a schema: the documents' labels)."""
    entity_labels = list(schema.entity_labels) if schema else []
    relation_labels = list(schema.relation_labels) if schema else []
    hints = {t.name: t.verbose or t.description for t in schema.entity_types} if schema else {}
    for doc in docs:
        entity_labels += [e.label for e in doc.entities if e.label not in entity_labels]
        relation_labels += [r.label for r in doc.relations if r.label not in relation_labels]
    entity_labels = list(dict.fromkeys(entity_labels))
    relation_labels = list(dict.fromkeys(relation_labels))
    lines = ["<View>"]
    if relation_labels:
        lines.append("  <Relations>")
        lines += [f"    <Relation value={quoteattr(label)}/>" for label in relation_labels]
        lines.append("  </Relations>")
    lines.append(f"  <Labels name={quoteattr(FROM_NAME)} toName={quoteattr(TO_NAME)}>")
    for i, label in enumerate(entity_labels):
        hint = f" hint={quoteattr(hints[label])}" if hints.get(label) and hints[label] != label else ""
        lines.append(f"    <Label value={quoteattr(label)} background={quoteattr(PALETTE[i % len(PALETTE)])}{hint}/>")
    lines.append("  </Labels>")
    lines.append(f"  <Text name={quoteattr(TO_NAME)} value={quoteattr('$' + TEXT_KEY)}/>")
    lines.append("</View>")
    return "\n".join(lines) + "\n"


def unknown_labels(schema: Schema, docs: Iterable[Document]) -> list[str]:
    """Labels the documents use that the schema does not declare (they still go into the config)."""
    known = set(schema.entity_labels) | set(schema.relation_labels)
    seen = {e.label for d in docs for e in d.entities} | {r.label for d in docs for r in d.relations}
    return sorted(seen - known)


# -- import ---------------------------------------------------------------------------------------


def _pick(task: dict[str, Any], where: str) -> tuple[str, dict[str, Any] | None]:
    """("annotation" | "prediction" | "none", the chosen annotation or prediction)."""
    for key in ("annotations", "completions", "predictions"):
        if task.get(key) is not None and not isinstance(task[key], list):
            raise InputError(f"{where}: {key!r} must be a list")
    annotations = [a for a in (task.get("annotations") or task.get("completions") or []) if isinstance(a, dict)]
    annotations = [a for a in annotations if not a.get("was_cancelled")]
    if annotations:
        pool = [a for a in annotations if a.get("ground_truth")] or annotations
        latest = max(range(len(pool)), key=lambda i: (str(pool[i].get("updated_at") or pool[i].get("created_at") or ""), i))
        return "annotation", pool[latest]
    predictions = [p for p in task.get("predictions") or [] if isinstance(p, dict)]
    if predictions:
        return "prediction", predictions[-1]
    return "none", None


def _labels(item: dict[str, Any], where: str) -> list[str]:
    labels = item.get("labels") if "labels" in item else None
    if labels is None and isinstance(item.get("value"), dict):
        labels = item["value"].get("labels")
    if labels is None:
        return []
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise InputError(f"{where}: 'labels' must be a list of strings, got {labels!r}")
    return labels


def _span(item: dict[str, Any], text: str, reverse: dict[int, int] | None, where: str) -> tuple[int, int]:
    value = item.get("value")
    if not isinstance(value, dict):
        raise InputError(f"{where}: a labels result needs a 'value' object")
    start, end = value.get("start"), value.get("end")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in (start, end)):
        raise InputError(f"{where}: 'start' and 'end' must be integers, got {start!r} and {end!r}")
    if not 0 <= start < end:
        raise InputError(f"{where}: empty or negative span [{start}, {end})")
    length = max(reverse) if reverse else len(text)
    if end > length:
        raise InputError(f"{where}: span [{start}, {end}) ends beyond the text (length {length})")
    shown = value.get("text")
    s, e = _from_js(reverse, start), _from_js(reverse, end)
    if s is None or e is None:
        raise InputError(f"{where}: span [{start}, {end}) cuts a character in two (UTF-16 offsets)")
    if shown is not None and text[s:e] != shown:
        raise InputError(f"{where}: value.text {shown!r} does not match the text at [{start}, {end}): {text[s:e]!r}")
    return s, e


def from_task(task: Any, index: int, schema: Schema | None = None, *, skip_unreviewed: bool = False,
              warnings: list[str] | None = None) -> Document | None:  # fmt: skip
    """One exported task as a Document (None when skipped); `index` names it when it has no id."""
    warnings = warnings if warnings is not None else []
    if not isinstance(task, dict):
        raise InputError(f"task #{index + 1}: expected a JSON object, got {type(task).__name__}")
    where = f"task {task['id']}" if task.get("id") is not None else f"task #{index + 1}"
    data = task.get("data")
    if not isinstance(data, dict) or not isinstance(data.get(TEXT_KEY), str):
        keys = sorted(data) if isinstance(data, dict) else None
        raise InputError(f"{where}: data has no {TEXT_KEY!r} string (data keys: {keys})")
    text = data[TEXT_KEY]
    doc_id = data.get(DOC_ID_KEY, task.get("id", f"task-{index + 1}"))
    if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
        raise InputError(f"{where}: {DOC_ID_KEY!r} must be a string or an integer")
    doc_id = str(doc_id)
    where = f"{where} (document {doc_id!r})"
    origin, chosen = _pick(task, where)
    if origin != "annotation" and skip_unreviewed:
        return None
    result = (chosen or {}).get("result") or []
    if not isinstance(result, list):
        raise InputError(f"{where}: 'result' must be a list")
    keep_score = origin == "prediction"
    table = _utf16_table(text)
    reverse = {js: py for py, js in enumerate(table)} if table is not None else None
    spans: dict[tuple[int, int, str], float | None] = {}
    regions: dict[str, tuple[int, int, str]] = {}
    relations: list[tuple[str, str, str, str, float | None]] = []
    ignored: set[str] = set()
    for i, item in enumerate(result):
        at = f"{where}, result item {i + 1}"
        if not isinstance(item, dict):
            raise InputError(f"{at}: expected an object, got {type(item).__name__}")
        kind = item.get("type")
        score = item.get("score")
        if not (keep_score and isinstance(score, (int, float)) and not isinstance(score, bool)
                and math.isfinite(score)):  # fmt: skip
            score = None  # a missing, boolean or non-finite score (NaN) is no score
        if kind == "labels":
            at = f"{where}, region {item.get('id', i + 1)!r}"
            start, end = _span(item, text, reverse, at)
            labels = _labels(item, at)
            if not labels:
                warnings.append(f"{at}: a span without a label; skipped")
                continue
            for label in labels:
                if schema is not None and label not in schema.entity_labels:
                    raise InputError(f"{at}: entity label {label!r} is not in schema {schema.name!r}")
                spans.setdefault((start, end, label), score)
            region_id = item.get("id")
            if isinstance(region_id, str):
                regions[region_id] = (start, end, labels[0])
        elif kind == "relation":
            head, tail, direction = item.get("from_id"), item.get("to_id"), item.get("direction") or "right"
            for key, ref in (("from_id", head), ("to_id", tail)):
                if not isinstance(ref, str):
                    raise InputError(f"{at}: relation {key!r} must be a region id string, got {type(ref).__name__}")
            if direction not in DIRECTIONS:
                raise InputError(f"{at}: relation direction {direction!r} is not one of {DIRECTIONS}")
            labels = _labels(item, at)
            if not labels:
                warnings.append(f"{at}: a relation {head!r} -> {tail!r} without a label; skipped")
            for label in labels:
                if schema is not None and label not in schema.relation_labels:
                    raise InputError(f"{at}: relation label {label!r} is not in schema {schema.name!r}")
                relations.append((head, tail, label, direction, score))
        else:
            ignored.add(str(kind))
    if ignored:
        warnings.append(f"{where}: ignored result items of type {', '.join(sorted(ignored))}")
    return _build(doc_id, text, spans, regions, relations, schema, where, _meta(task, data, origin, chosen))


def _build(doc_id, text, spans, regions, relations, schema, where, meta) -> Document:
    ordered = sorted(spans, key=lambda k: (k[0], -k[1], k[2]))
    ids = {key: f"T{i + 1}" for i, key in enumerate(ordered)}
    entities = [Entity(id=ids[k], start=k[0], end=k[1], text=text[k[0] : k[1]], label=k[2], score=spans[k],
                       source="gold") for k in ordered]  # fmt: skip
    symmetric = schema.symmetric_relations if schema is not None else set()
    out: dict[tuple[str, str, str], Relation] = {}
    for head, tail, label, direction, score in relations:
        for ref in (head, tail):
            if ref not in regions:
                raise InputError(f"{where}: relation {label!r} refers to region {ref!r}, which is not a labelled span of this result")
        pairs = [(head, tail)]
        if direction == "left":
            pairs = [(tail, head)]
        elif direction == "bi" and label not in symmetric:
            pairs = [(head, tail), (tail, head)]
        for h, t in pairs:
            key = (ids[regions[h]], ids[regions[t]], label)
            out.setdefault(key, Relation(head=key[0], tail=key[1], label=label, score=score, source="gold"))
    try:
        return Document(id=doc_id, text=text, entities=entities, relations=list(out.values()), meta=meta)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise InputError(f"{where}: {exc}") from exc


def _meta(task: dict[str, Any], data: dict[str, Any], origin: str, chosen: dict[str, Any] | None) -> dict[str, Any]:
    info: dict[str, Any] = {"task": task.get("id"), "from": origin}
    chosen = chosen or {}
    if origin == "annotation":
        info.update(annotation=chosen.get("id"), completed_by=chosen.get("completed_by"),
                    updated_at=chosen.get("updated_at") or chosen.get("created_at"))  # fmt: skip
    elif origin == "prediction":
        info["model_version"] = chosen.get("model_version")
    meta: dict[str, Any] = {"labelstudio": {k: v for k, v in info.items() if v is not None}}
    if isinstance(data.get("source"), dict):
        meta["source"] = data["source"]
    return meta


def import_tasks(
    tasks: Any, schema: Schema | None = None, *, skip_unreviewed: bool = False
) -> tuple[list[Document], list[str]]:
    """Documents from Label Studio's JSON export (a list of tasks), and warnings."""
    if isinstance(tasks, dict) and "data" in tasks:
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InputError(f"expected Label Studio's JSON export (a list of tasks), got {type(tasks).__name__}")
    docs: list[Document] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    unreviewed = 0
    for index, task in enumerate(tasks):
        doc = from_task(task, index, schema, skip_unreviewed=skip_unreviewed, warnings=warnings)
        if doc is None:
            unreviewed += 1
            continue
        if doc.id in seen:
            raise InputError(f"task #{index + 1}: document id {doc.id!r} already came from task #{seen[doc.id] + 1}")
        seen[doc.id] = index
        docs.append(doc)
    taken = sum(1 for d in docs if d.meta["labelstudio"]["from"] != "annotation")
    if unreviewed:
        warnings.append(f"{unreviewed} tasks without an annotation were left out (--skip-unreviewed)")
    elif taken:
        warnings.append(f"{taken} of {len(docs)} tasks have no annotation; their predictions were taken as they are")
    return docs, warnings


__all__ = [
    "export_tasks",
    "from_task",
    "import_tasks",
    "label_config",
    "model_version",
    "to_task",
    "unknown_labels",
]
