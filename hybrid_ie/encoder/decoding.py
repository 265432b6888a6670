"""Decoding rules: scored candidate spans/pairs -> the entities and relations to output.

Pure functions over plain tuples, independent of the network, so each rule is easy to test.
Spans are `(start, end)` with `end` exclusive, in any unit (words or characters).

* thresholds: one entity cut-off, or one per label where the checkpoint has them (tuned on dev
  data of that label, `calibration.tune_label_thresholds`).
* the most specific label: on one span, a label more general than another that passes its
  cut-off there ("person" beside "politician", a catch-all beside anything) is not a candidate.
* flat / nested: greedy by score; a span that clashes with an accepted one
  (`hybrid_ie.document.clashes`: the same span, or overlapping when flat, crossing when nested)
  is dropped.
* relations: kept when the score passes the threshold, both arguments were accepted, and the
  schema allows the label between their types; a symmetric relation is written once, in
  canonical order (earlier span first), with the higher of the two directions' scores.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

from hybrid_ie.document import Span, clashes


@dataclass(frozen=True)
class SpanCandidate:
    start: int
    end: int
    label: str
    score: float

    @property
    def span(self) -> Span:
        return (self.start, self.end)


@dataclass(frozen=True)
class PairCandidate:
    head: Span
    tail: Span
    label: str
    score: float


def _order(c: SpanCandidate) -> tuple:
    return (-c.score, c.start, c.end, c.label)


def decode_entities(
    candidates: Iterable[SpanCandidate],
    threshold: float,
    *,
    nested: bool = False,
    label_thresholds: Mapping[str, float] | None = None,
    general: Mapping[str, Collection[str]] | None = None,
) -> tuple[list[SpanCandidate], list[SpanCandidate]]:
    """Greedy decoding. Returns (accepted sorted by position, rejected-by-overlap sorted by
    score). Candidates below their cut-off (`label_thresholds[label]` when given for the label,
    else `threshold`) are ignored (in neither list), and so is a candidate whose label is more
    general (`general[label]`: the labels above `label`) than another label that passes its
    cut-off on the same span: the most specific label that fits wins."""
    cut = label_thresholds or {}
    passing = [c for c in candidates if c.score >= cut.get(c.label, threshold)]
    if general:
        labels_at: dict[Span, set[str]] = {}
        for c in passing:
            labels_at.setdefault(c.span, set()).add(c.label)
        covered = {(span, above) for span, labels in labels_at.items() for label in labels
                   for above in general.get(label, ())}  # fmt: skip
        passing = [c for c in passing if (c.span, c.label) not in covered]
    accepted: list[SpanCandidate] = []
    rejected: list[SpanCandidate] = []
    for cand in sorted(passing, key=_order):
        clash = any(clashes(kept.span, cand.span, nested=nested) for kept in accepted)
        (rejected if clash else accepted).append(cand)
    accepted.sort(key=lambda c: (c.start, c.end, c.label))
    return accepted, rejected


def _best_by(items: Iterable, key: Callable) -> list:
    """One item per key, the highest-scored; returned in key order."""
    best: dict = {}
    for item in items:
        k = key(item)
        if k not in best or item.score > best[k].score:
            best[k] = item
    return [best[k] for k in sorted(best)]


def best_per_span(candidates: Iterable[SpanCandidate]) -> list[SpanCandidate]:
    """Merge duplicates of the same (span, label), keeping the highest score (window merging)."""
    return _best_by(candidates, lambda c: (c.start, c.end, c.label))


def best_per_pair(candidates: Iterable[PairCandidate]) -> list[PairCandidate]:
    """Merge duplicates of the same (head, tail, label), keeping the highest score."""
    return _best_by(candidates, lambda c: (c.head, c.tail, c.label))


def decode_relations(
    candidates: Iterable[PairCandidate],
    entity_labels: dict[Span, str],
    threshold: float,
    *,
    allows: Callable[[str, str, str], bool] | None = None,
    symmetric: Iterable[str] = (),
) -> list[PairCandidate]:
    """Keep pairs scored >= threshold whose two spans are accepted entities (`entity_labels`:
    span -> entity label) and that `allows(label, head_type, tail_type)` permits."""
    symmetric = set(symmetric)
    kept: dict[tuple[Span, Span, str], PairCandidate] = {}
    for c in candidates:
        if c.score < threshold or c.head == c.tail:
            continue
        if c.head not in entity_labels or c.tail not in entity_labels:
            continue
        head, tail = c.head, c.tail
        if c.label in symmetric and tail < head:
            head, tail = tail, head
        if allows is not None and not allows(c.label, entity_labels[head], entity_labels[tail]):
            continue
        key = (head, tail, c.label)
        if key not in kept or c.score > kept[key].score:
            kept[key] = PairCandidate(head, tail, c.label, c.score)
    return sorted(kept.values(), key=lambda c: (c.head, c.tail, c.label))
