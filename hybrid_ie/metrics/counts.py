"""Precision/recall/F1 from counts, and the partial-match counts of nervaluate's scheme.

Every rate is a fraction in [0, 1]. When a rate is undefined (nothing predicted, nothing in the
gold, or precision + recall == 0) it is 0.0, never NaN and never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def safe_ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, or 0.0 when the denominator is 0."""
    return numerator / denominator if denominator else 0.0


def f1_of(precision: float, recall: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    return safe_ratio(2 * precision * recall, precision + recall)


class Rates:
    """Precision, recall and F1 from a subclass's `tp`, `fp` and `fn`."""

    tp: float
    fp: float
    fn: float

    @property
    def precision(self) -> float:
        return safe_ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return safe_ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return f1_of(self.precision, self.recall)

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass
class Counts(Rates):
    """True positives, false positives and false negatives of one scheme (or one label)."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add_sets(self, gold: set[Any], pred: set[Any]) -> None:
        """Count one document: items are compared as sets (each distinct item counts once)."""
        hits = len(gold & pred)
        self.tp += hits
        self.fp += len(pred) - hits
        self.fn += len(gold) - hits


@dataclass
class PartialCounts(Rates):
    """nervaluate's "partial" scheme (entity type ignored).

    correct (COR): predicted span equals a gold span; partial (PAR): predicted span overlaps a
    gold span it was matched to; spurious (SPU): prediction matched to no gold span; missed (MIS):
    gold span matched by no prediction. ACTUAL = COR + PAR + SPU (= predicted spans),
    POSSIBLE = COR + PAR + MIS (= gold spans),
    precision = (COR + 0.5 PAR) / ACTUAL, recall = (COR + 0.5 PAR) / POSSIBLE.

    Mapped to tp/fp/fn so that precision = tp / (tp + fp) and recall = tp / (tp + fn) still hold:
    tp = COR + 0.5 PAR, fp = SPU + 0.5 PAR, fn = MIS + 0.5 PAR (so they may end in .5; they are
    always reported as floats).
    """

    correct: int = 0
    partial: int = 0
    spurious: int = 0
    missed: int = 0

    def add(self, correct: int, partial: int, spurious: int, missed: int) -> None:
        self.correct += correct
        self.partial += partial
        self.spurious += spurious
        self.missed += missed

    @property
    def tp(self) -> float:  # type: ignore[override]
        return self.correct + 0.5 * self.partial

    @property
    def fp(self) -> float:  # type: ignore[override]
        return self.spurious + 0.5 * self.partial

    @property
    def fn(self) -> float:  # type: ignore[override]
        return self.missed + 0.5 * self.partial

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "correct": self.correct,
            "partial": self.partial,
            "spurious": self.spurious,
            "missed": self.missed,
        }


Span = tuple[int, int]


def match_partial(gold: set[Span], pred: set[Span]) -> tuple[int, int, int, int]:
    """(COR, PAR, SPU, MIS) for one document's distinct gold and predicted spans (end exclusive).

    Exact matches are taken first. Then, as nervaluate does, each remaining prediction (in
    (start, end) order) is matched to the first still-unmatched gold span (in (start, end) order)
    it overlaps by at least one character; every gold span is matched at most once. Taking exact
    matches first means an extra overlapping prediction can never steal the gold span an exact
    prediction hits (nervaluate itself is greedy in input order; given the predictions with the
    exact ones first it gives the same counts).
    """
    exact = gold & pred
    gold_left = sorted(gold - exact)
    taken = [False] * len(gold_left)
    partial = 0
    pred_left = sorted(pred - exact)
    for p_start, p_end in pred_left:
        for i, (g_start, g_end) in enumerate(gold_left):
            if not taken[i] and p_start < g_end and g_start < p_end:
                taken[i] = True
                partial += 1
                break
    return len(exact), partial, len(pred_left) - partial, len(gold_left) - partial
