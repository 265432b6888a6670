"""The training mixture: data sets of the data folder -> word-level `Example`s.

Which sets: a list of names, or `"all"` (every folder of the data dir, minus `exclude`, which is
where the zero-shot protocol's held-out sets go). Each set's labels come from its repo schema
(`schemas/<name>.json`, for the sets the shipped checkpoint was first trained on) or else from its
`types.json` verbose names; its annotation (complete / partial) from the registry.

Words are `hybrid_ie.chunking.word_spans` of the text (the segmentation used at inference).
Texts longer than `max_words` words (document-level sets) are cut into windows of at most that
many words, at a sentence end where one is near; items crossing a cut are dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hybrid_ie.chunking import word_spans
from hybrid_ie.datasets import DataSet, discover_sets
from hybrid_ie.document import Document
from hybrid_ie.encoder.sampling import Example, SetTypes
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema

log = logging.getLogger("hybrid_ie.encoder.mixture")
SENTENCE_END = {".", "!", "?"}


def select_sets(names: Sequence[str] | str, exclude: Sequence[str] = (), root: str | Path | None = None) -> list[DataSet]:
    """The registry's sets named in `names` (or all of them for `"all"`), minus `exclude`."""
    available = {s.name: s for s in discover_sets(root)}
    if isinstance(names, str):
        if names != "all":
            raise InputError(f"datasets must be a list of names or 'all', got {names!r}")
        wanted = list(available)
    else:
        wanted = list(names)
    missing = [n for n in [*wanted, *exclude] if n not in available]
    if missing:
        raise InputError(f"unknown data sets {missing}; available: {', '.join(available)}")
    return [available[n] for n in wanted if n not in set(exclude)]


def set_types(schema: Schema) -> SetTypes:
    return SetTypes(
        entities={t.name: t.prompt for t in schema.entity_types},
        relations={t.name: t.prompt for t in schema.relation_types},
        symmetric=schema.symmetric_relations,
    )


def to_examples(doc: Document, dataset: str, *, partial: bool = False, max_words: int = 0) -> list[Example]:
    """One document -> one or more Examples (several when it is longer than `max_words`)."""
    spans = word_spans(doc.text)
    if not spans:
        return []
    cuts = _cuts([doc.text[s:e] for s, e in spans], max_words) if max_words else [(0, len(spans))]
    out = []
    for lo, hi in cuts:
        starts = {spans[i][0]: i - lo for i in range(lo, hi)}
        ends = {spans[i][1]: i - lo for i in range(lo, hi)}
        index: dict[str, int] = {}
        entities = []
        for ent in doc.entities:
            if ent.start in starts and ent.end in ends and starts[ent.start] <= ends[ent.end]:
                index[ent.id] = len(entities)
                entities.append((starts[ent.start], ends[ent.end], ent.label))
        relations = [
            (index[r.head], index[r.tail], r.label) for r in doc.relations if r.head in index and r.tail in index
        ]
        words = [doc.text[s:e] for s, e in spans[lo:hi]]
        out.append(Example(dataset, words, entities, relations, partial))
    return out


def _cuts(words: list[str], max_words: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) word windows of at most max_words, ending after a sentence end
    when one lies in the second half of the window."""
    out, lo = [], 0
    while lo < len(words):
        hi = min(len(words), lo + max_words)
        if hi < len(words):
            for j in range(hi - 1, lo + max_words // 2, -1):
                if words[j] in SENTENCE_END:
                    hi = j + 1
                    break
        out.append((lo, hi))
        lo = hi
    return out


def load_mixture(
    sets: Sequence[DataSet], *, split: str = "train", limit: int | None = None, max_words: int = 0
) -> tuple[dict[str, list[Example]], dict[str, SetTypes]]:
    """Examples and label sides of each set (sets without the split are skipped, with a log line)."""
    examples: dict[str, list[Example]] = {}
    types: dict[str, SetTypes] = {}
    for ds in sets:
        if split not in ds.splits:
            log.warning("data set %s has no %s split; skipped", ds.name, split)
            continue
        docs = ds.load(split)[:limit]
        exs = [ex for d in docs if d.text.strip() for ex in to_examples(d, ds.name, partial=ds.partial, max_words=max_words)]
        examples[ds.name] = exs
        types[ds.name] = set_types(ds.schema())
        log.info("%s: %d examples (%s annotation)", ds.name, len(exs), ds.annotation)
    return examples, types
