"""Chat messages for the two LLM tasks, rendered from the files in `hybrid_ie/prompts/` (package data).

`prompts/<task>.md` holds a system part and a user part (after the marker lines `--- system ---`
and `--- user ---`), both `string.Template`s. `prompts/examples/<schema>.json` holds the schema's
extra rules and few-shot examples per task; the extract prompt then shows the schema's
demonstrations (the user's labelled examples, `Schema.demonstrations`), even with `few_shot` off.
The system message and the few-shot turns depend only on the task and the schema, so every call
for a schema starts with the same prefix (llama.cpp evaluates it once); the chunk comes last.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources.abc import Traversable
from string import Template
from typing import Any

from hybrid_ie.errors import HybridIEError
from hybrid_ie.llm.responses import CONFIRM, DROP, LabelSet
from hybrid_ie.paths import PROMPTS_DIR
from hybrid_ie.schema import Schema

SYSTEM_MARKER = "--- system ---"
USER_MARKER = "--- user ---"
Message = dict[str, str]


@dataclass(frozen=True)
class EntityRow:
    """A candidate entity as the verify prompt lists it."""

    text: str
    type: str
    score: float | None = None


@dataclass(frozen=True)
class RelationRow:
    """A candidate relation, by the texts of its entity rows."""

    head: str
    type: str
    tail: str
    score: float | None = None


@dataclass(frozen=True)
class PromptTemplate:
    system: Template
    user: Template


@lru_cache(maxsize=8)
def load_template(task: str, prompts_dir: Traversable = PROMPTS_DIR) -> PromptTemplate:
    path = prompts_dir / f"{task}.md"
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HybridIEError(f"{path}: cannot read prompt template ({exc.strerror or exc})") from exc
    head, sep_user, user = raw.partition(f"\n{USER_MARKER}\n")
    if not head.startswith(SYSTEM_MARKER + "\n") or not sep_user:
        raise HybridIEError(f"{path}: expected a '{SYSTEM_MARKER}' line first, then a '{USER_MARKER}' line")
    return PromptTemplate(Template(head.removeprefix(SYSTEM_MARKER + "\n").strip()), Template(user.strip()))


@lru_cache(maxsize=16)
def load_examples(schema_name: str, prompts_dir: Traversable = PROMPTS_DIR) -> dict[str, list[dict[str, Any]]]:
    """Rules and few-shot examples for a schema: `{"rules": [...], "extract": [...],
    "verify": [...]}` ({} when the schema has no file: zero-shot, no extra rules)."""
    path = prompts_dir / "examples" / f"{schema_name}.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HybridIEError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc


def describe_entity_types(schema: Schema, labels: LabelSet) -> str:
    return "\n".join(f"- {labels.entity(t.name)}: {t.description}" for t in schema.entity_types)


def describe_relation_types(schema: Schema, labels: LabelSet) -> str:
    if not schema.relation_types:
        return "(none)"
    lines = []
    for t in schema.relation_types:
        heads = " / ".join(labels.entity(x) for x in t.head_types) or "any"
        tails = " / ".join(labels.entity(x) for x in t.tail_types) or "any"
        symmetric = ", symmetric" if t.symmetric else ""
        lines.append(f"- {labels.relation(t.name)} ({heads} -> {tails}{symmetric}): {t.description}")
    return "\n".join(lines)


def _fill(template: Template, **values: str) -> str:
    try:
        return template.substitute(values)
    except (KeyError, ValueError) as exc:
        raise HybridIEError(f"prompt template needs a value it was not given or is malformed: {exc}") from exc


def _score(score: float | None) -> str:
    return "" if score is None else f" {score:.2f}"


def format_entity_rows(rows: list[EntityRow]) -> str:
    if not rows:
        return "(none)"
    return "\n".join(f"{i}. {json.dumps(r.text, ensure_ascii=False)} {r.type}{_score(r.score)}"
                     for i, r in enumerate(rows, 1))


def format_relation_rows(rows: list[RelationRow]) -> str:
    if not rows:
        return "(none)"
    return "\n".join(
        f"{i}. {json.dumps(r.head, ensure_ascii=False)} {r.type} {json.dumps(r.tail, ensure_ascii=False)}"
        f"{_score(r.score)}"
        for i, r in enumerate(rows, 1)
    )


def _answer_json(answer: dict[str, Any], labels: LabelSet) -> str:
    """An example answer (written with schema names) as the LLM must write it."""

    def verdict(value: str, relabel: Any) -> str:
        return value if value in (CONFIRM, DROP) else relabel(value)

    out: dict[str, Any] = {}
    for key, value in answer.items():
        if key in ("relations", "add_relations") and not labels.relations:
            continue
        if key == "entities" and value and isinstance(value[0], str):
            out[key] = [verdict(v, labels.entity) for v in value]
        elif key == "relations" and value and isinstance(value[0], str):
            out[key] = [verdict(v, labels.relation) for v in value]
        elif key in ("entities", "add_entities"):
            out[key] = [{**item, "type": labels.entity(item["type"])} for item in value]
        else:
            out[key] = [{**item, "type": labels.relation(item["type"])} for item in value]
    return json.dumps(out, ensure_ascii=False)


def _system(task: str, schema: Schema, labels: LabelSet) -> str:
    rules = load_examples(schema.name).get("rules", [])
    return _fill(
        load_template(task).system,
        schema_name=schema.name,
        entity_types=describe_entity_types(schema, labels),
        relation_types=describe_relation_types(schema, labels),
        schema_rules="".join(f"- {rule}\n" for rule in rules),
    )


def extract_messages(text: str, schema: Schema, labels: LabelSet, *, few_shot: bool = True) -> list[Message]:
    template = load_template("extract")
    messages: list[Message] = [{"role": "system", "content": _system("extract", schema, labels)}]
    shots = [(ex["text"], ex["answer"]) for ex in load_examples(schema.name).get("extract", [])] if few_shot else []
    # The user's labelled examples (`hybrid_ie.demonstrations`), with only this schema's types.
    shots += [(d.text, d.answer(schema.entity_labels, schema.relation_labels)) for d in schema.demonstrations]
    for shot_text, answer in shots:
        messages.append({"role": "user", "content": _fill(template.user, text=shot_text)})
        messages.append({"role": "assistant", "content": _answer_json(answer, labels)})
    messages.append({"role": "user", "content": _fill(template.user, text=text)})
    return messages


def _verify_user(template: Template, text: str, entities: list[EntityRow], relations: list[RelationRow]) -> str:
    return _fill(
        template,
        text=text,
        entity_candidates=format_entity_rows(entities),
        relation_candidates=format_relation_rows(relations),
    )


def verify_messages(
    text: str,
    schema: Schema,
    labels: LabelSet,
    entities: list[EntityRow],
    relations: list[RelationRow],
    *,
    few_shot: bool = True,
) -> list[Message]:
    """`entities` / `relations`: the numbered candidates, their types already as LLM labels."""
    template = load_template("verify")
    messages: list[Message] = [{"role": "system", "content": _system("verify", schema, labels)}]
    if few_shot:
        for ex in load_examples(schema.name).get("verify", []):
            cands = ex["candidates"]
            ex_entities = [EntityRow(**{**row, "type": labels.entity(row["type"])}) for row in cands["entities"]]
            ex_relations = [
                RelationRow(**{**row, "type": labels.relation(row["type"])}) for row in cands.get("relations", [])
            ]
            messages.append({"role": "user", "content": _verify_user(template.user, ex["text"], ex_entities,
                                                                     ex_relations)})
            messages.append({"role": "assistant", "content": _answer_json(ex["answer"], labels)})
    messages.append({"role": "user", "content": _verify_user(template.user, text, entities, relations)})
    return messages
