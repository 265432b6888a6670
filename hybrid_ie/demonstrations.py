"""Worked examples for the LLM: a few of the user's labelled documents, shown before each chunk.

When labelled examples are given, the LLM's extract prompt shows up to `COUNT` pieces of them as
demonstrations (the piece's text as a user turn, its gold answer as the assistant's), after the
schema's own few-shot examples and before the chunk (`hybrid_ie.llm.prompts.extract_messages`).
A piece is one chunk of an example (`hybrid_ie.chunking.chunk_text`, so a demonstration is never
longer than the chunks the LLM reads) with the gold entities inside it and the relations whose
two arguments are inside it. The pieces are chosen to show as many of the labels as possible with
the least text: repeatedly the piece with the most labels not yet shown, then the shortest, then
the first. Demonstrations are the same for every chunk of a run, so the prompt prefix is shared.

An example shown as a demonstration is not read with itself in the prompt: the competence
measurement reads each example with demonstrations picked from the other examples
(`pick(..., leave_out=i)`), so the LLM's measured F1 is what it scores on text it was not shown.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybrid_ie.chunking import MAX_CHUNK_WORDS, chunk_text
from hybrid_ie.document import Document

COUNT = 4  # demonstrations per extract prompt when labelled examples are given


@dataclass(frozen=True)
class Demonstration:
    """A text and its gold answer, by mention text, with schema type names (in text order)."""

    text: str
    entities: tuple[tuple[str, str], ...]  # (mention text, entity type)
    relations: tuple[tuple[str, str, str], ...] = ()  # (head text, relation type, tail text)
    source: int = field(default=-1, compare=False)  # the example it was cut from (its index)

    def labels(self) -> set[str]:
        return {label for _, label in self.entities} | {label for _, label, _ in self.relations}

    def answer(self, entity_types: Collection[str], relation_types: Collection[str]) -> dict[str, Any]:
        """The answer with only the given types (a relation only when both arguments are kept):
        ``{"entities": [{"text", "type"}], "relations": [{"head", "type", "tail"}]}``."""
        entities = [{"text": t, "type": label} for t, label in self.entities if label in entity_types]
        shown = {e["text"] for e in entities}
        relations = [{"head": h, "type": label, "tail": t} for h, label, t in self.relations
                     if label in relation_types and h in shown and t in shown]  # fmt: skip
        return {"entities": entities, "relations": relations}


def pieces(doc: Document, source: int, max_words: int = MAX_CHUNK_WORDS) -> list[Demonstration]:
    """The demonstrations one labelled Document offers: one per chunk of its text."""
    out = []
    for chunk in chunk_text(doc.text, max_words):
        inside = {e.id: e for e in doc.entities if chunk.start <= e.start and e.end <= chunk.end}
        entities = tuple((e.text, e.label) for e in sorted(inside.values(), key=lambda e: (e.start, e.end)))
        relations = tuple((inside[r.head].text, r.label, inside[r.tail].text) for r in doc.relations
                          if r.head in inside and r.tail in inside)  # fmt: skip
        out.append(Demonstration(chunk.text, entities, relations, source))
    return out


def pick(
    examples: Sequence[Document], count: int = COUNT, *, leave_out: int | None = None,
    max_words: int = MAX_CHUNK_WORDS,
) -> tuple[Demonstration, ...]:  # fmt: skip
    """Up to `count` demonstrations from the labelled `examples` (all but `leave_out`, an index):
    most labels not yet shown first, then the shortest text, then the earliest."""
    pool = [p for i, doc in enumerate(examples) if i != leave_out for p in pieces(doc, i, max_words)]
    chosen: list[Demonstration] = []
    shown: set[str] = set()
    for _ in range(min(count, len(pool))):
        best = max(range(len(pool)), key=lambda j: (len(pool[j].labels() - shown), -len(pool[j].text), -j))
        chosen.append(pool.pop(best))
        shown |= chosen[-1].labels()
    return tuple(chosen)


def reading_plan(
    examples: Sequence[Document], shown: tuple[Demonstration, ...], count: int = COUNT, *,
    max_words: int = MAX_CHUNK_WORDS,
) -> dict[tuple[Demonstration, ...], list[int]]:  # fmt: skip
    """The demonstrations each example is read with in the competence measurement, as groups of
    example indices: the run's `shown`, except that an example one of them was cut from is read
    with demonstrations picked from the other examples."""
    sources = {d.source for d in shown}
    plan: dict[tuple[Demonstration, ...], list[int]] = {}
    for i in range(len(examples)):
        demos = pick(examples, count, leave_out=i, max_words=max_words) if i in sources else shown
        plan.setdefault(demos, []).append(i)
    return plan


__all__ = ["COUNT", "Demonstration", "pick", "pieces", "reading_plan"]
