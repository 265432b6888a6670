"""Score predicted Documents against gold Documents: entities and relations, micro and macro.

Matching rules (all per document, documents matched by `id`):

* Items are compared as **sets, not multisets**: two predictions of the same item (same span and
  label, or the same relation) count once, and so do duplicated gold items.
* Entities, `strict`: (start, end, label) must match. `boundary`: (start, end) only, so a span
  predicted with two labels counts once there. `partial`: nervaluate's partial scheme over the
  distinct spans, type ignored (see `PartialCounts` for how it maps to tp/fp/fn).
* Relations, `strict`: the head span and its entity label, the tail span and its entity label and
  the relation label must all match. `boundary`: the two argument spans and the relation label.
  Relations whose label is in `symmetric` are compared with their arguments in a canonical
  (sorted) order, so (A, B) and (B, A) are the same item.
* A label the gold never uses (an unknown or misspelt label) is simply wrong: its predictions are
  false positives. Nothing about labels can raise.
* A gold document with no prediction counts as predicting nothing (all its items are false
  negatives) and its id is listed in `documents.missing_in_pred`.
* A predicted document whose id is not in the gold is listed in `documents.extra_in_pred` and its
  items are NOT scored: there is no gold to judge them by (this lets a run over more documents be
  scored against a gold subset). Predicted documents that carry an `error` are scored as they
  are and listed in `documents.failed_in_pred`.
* Micro averages pool tp/fp/fn over all documents. Per-label rows use the strict scheme. Macro
  precision/recall/F1 are the unweighted means of the per-label rows over every label seen in
  the gold or the predictions (so labels that occur only in predictions pull the macro down),
  and macro F1 is the mean of the per-label F1s, not the F1 of the macro P and R.
* Undefined rates are 0.0; with no labels at all the macro rates are 0.0 too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.metrics.counts import Counts, PartialCounts, match_partial, safe_ratio

ENTITY_SCHEMES = ("strict", "boundary", "partial")
RELATION_SCHEMES = ("strict", "boundary")

Span = tuple[int, int]
Argument = tuple[int, int, str]


@dataclass
class DocumentCoverage:
    """Which documents were matched by id, and which were missing, extra or failed."""

    gold: int = 0
    pred: int = 0
    matched: int = 0
    missing_in_pred: list[str] = field(default_factory=list)
    extra_in_pred: list[str] = field(default_factory=list)
    failed_in_pred: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gold": self.gold,
            "pred": self.pred,
            "matched": self.matched,
            "missing_in_pred_count": len(self.missing_in_pred),
            "missing_in_pred": list(self.missing_in_pred),
            "extra_in_pred_count": len(self.extra_in_pred),
            "extra_in_pred": list(self.extra_in_pred),
            "failed_in_pred_count": len(self.failed_in_pred),
            "failed_in_pred": list(self.failed_in_pred),
        }


def macro_average(rows: dict[str, Counts]) -> dict[str, Any]:
    """Unweighted mean of per-label precision, recall and F1 (0.0 when there are no labels).
    Summed in label order, so the float result does not depend on set iteration order."""
    n = len(rows)
    ordered = [c for _, c in sorted(rows.items())]
    return {
        "precision": safe_ratio(sum(c.precision for c in ordered), n),
        "recall": safe_ratio(sum(c.recall for c in ordered), n),
        "f1": safe_ratio(sum(c.f1 for c in ordered), n),
        "labels": n,
    }


@dataclass
class ScoreReport:
    """The result of `score()`; `to_dict()` gives the JSON shape the CLI prints."""

    documents: DocumentCoverage
    entities: dict[str, Counts | PartialCounts]
    relations: dict[str, Counts]
    entity_labels: dict[str, Counts]
    relation_labels: dict[str, Counts]

    @property
    def macro(self) -> dict[str, dict[str, Any]]:
        return {
            "entities": macro_average(self.entity_labels),
            "relations": macro_average(self.relation_labels),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "documents": self.documents.to_dict(),
            "entities": {name: c.to_dict() for name, c in self.entities.items()},
            "relations": {name: c.to_dict() for name, c in self.relations.items()},
            "per_label": {
                "entities": {label: c.to_dict() for label, c in sorted(self.entity_labels.items())},
                "relations": {label: c.to_dict() for label, c in sorted(self.relation_labels.items())},
            },
            "macro": self.macro,
        }


# -- items of one document ------------------------------------------------------------------------


def entity_items(doc: Document | None) -> tuple[set[Argument], set[Span]]:
    """(strict items (start, end, label), boundary items (start, end)) of a document."""
    if doc is None:
        return set(), set()
    strict = {(e.start, e.end, e.label) for e in doc.entities}
    return strict, {(start, end) for start, end, _ in strict}


def _ordered(head: Any, tail: Any, symmetric: bool) -> tuple[Any, Any]:
    return (min(head, tail), max(head, tail)) if symmetric else (head, tail)


def relation_items(doc: Document | None, symmetric: frozenset[str]) -> tuple[set[tuple], set[tuple]]:
    """(strict items (label, head arg, tail arg) with args (start, end, entity label), boundary
    items (label, head span, tail span)); symmetric labels get their arguments sorted."""
    if doc is None:
        return set(), set()
    by_id = doc.entity_map()
    strict, boundary = set(), set()
    for rel in doc.relations:
        head, tail = by_id[rel.head], by_id[rel.tail]
        sym = rel.label in symmetric
        strict.add(
            (
                rel.label,
                *_ordered((head.start, head.end, head.label), (tail.start, tail.end, tail.label), sym),
            )
        )
        boundary.add((rel.label, *_ordered(head.span, tail.span, sym)))
    return strict, boundary


def _add_per_label(rows: dict[str, Counts], gold: set[tuple], pred: set[tuple], label_at: int) -> None:
    grouped: dict[str, tuple[set, set]] = defaultdict(lambda: (set(), set()))
    for item in gold:
        grouped[item[label_at]][0].add(item)
    for item in pred:
        grouped[item[label_at]][1].add(item)
    for label, (g, p) in grouped.items():
        rows.setdefault(label, Counts()).add_sets(g, p)


# -- scoring ------------------------------------------------------------------------------------


def _index_by_id(documents: Iterable[Document], side: str) -> dict[str, Document]:
    index: dict[str, Document] = {}
    for doc in documents:
        if not isinstance(doc, Document):
            raise InputError(f"{side}: expected Document objects, got {type(doc).__name__}")
        if doc.id in index:
            raise InputError(f"{side}: document id {doc.id!r} occurs more than once; ids must be unique")
        index[doc.id] = doc
    return index


def score(
    gold: Iterable[Document], pred: Iterable[Document], *, symmetric: Iterable[str] = ()
) -> ScoreReport:
    """Score `pred` against `gold` (documents matched by id); see the module docstring for the rules.

    `symmetric`: relation labels whose direction does not matter (e.g. `schema.symmetric_relations`).
    Raises InputError when ids repeat on one side, or when a predicted document holds entities but
    its text differs from its gold document's text (the offsets could not be compared).
    """
    symmetric_labels = frozenset([symmetric] if isinstance(symmetric, str) else symmetric)
    gold_docs = _index_by_id(gold, "gold")
    pred_docs = _index_by_id(pred, "predictions")

    coverage = DocumentCoverage(gold=len(gold_docs), pred=len(pred_docs))
    coverage.extra_in_pred = [doc_id for doc_id in pred_docs if doc_id not in gold_docs]
    coverage.failed_in_pred = [d.id for d in pred_docs.values() if d.error is not None and d.id in gold_docs]
    entities: dict[str, Any] = {"strict": Counts(), "boundary": Counts(), "partial": PartialCounts()}
    relations = {"strict": Counts(), "boundary": Counts()}
    entity_labels: dict[str, Counts] = {}
    relation_labels: dict[str, Counts] = {}

    for doc_id, gold_doc in gold_docs.items():
        pred_doc = pred_docs.get(doc_id)
        if pred_doc is None:
            coverage.missing_in_pred.append(doc_id)
        else:
            coverage.matched += 1
            if pred_doc.text != gold_doc.text and pred_doc.entities:
                raise InputError(
                    f"document {doc_id!r}: the predicted text differs from the gold text, "
                    "so their character offsets cannot be compared"
                )
        g_strict, g_spans = entity_items(gold_doc)
        p_strict, p_spans = entity_items(pred_doc)
        entities["strict"].add_sets(g_strict, p_strict)
        entities["boundary"].add_sets(g_spans, p_spans)
        entities["partial"].add(*match_partial(g_spans, p_spans))
        _add_per_label(entity_labels, g_strict, p_strict, label_at=2)

        g_rel_strict, g_rel_boundary = relation_items(gold_doc, symmetric_labels)
        p_rel_strict, p_rel_boundary = relation_items(pred_doc, symmetric_labels)
        relations["strict"].add_sets(g_rel_strict, p_rel_strict)
        relations["boundary"].add_sets(g_rel_boundary, p_rel_boundary)
        _add_per_label(relation_labels, g_rel_strict, p_rel_strict, label_at=0)

    return ScoreReport(coverage, entities, relations, entity_labels, relation_labels)
