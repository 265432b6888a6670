"""Evaluation: precision, recall and F1 of predicted Documents against gold Documents.

    from hybrid_ie.metrics import score, to_markdown
    report = score(gold_docs, pred_docs, symmetric=schema.symmetric_relations)
    report.to_dict()["entities"]["strict"]["f1"]

`scoring` holds the matching rules (read its docstring), `counts` the arithmetic, `tables` the
pure table building used by the CLI and the benchmark harness.
"""

from hybrid_ie.metrics.counts import Counts, PartialCounts, match_partial
from hybrid_ie.metrics.scoring import (
    ENTITY_SCHEMES,
    RELATION_SCHEMES,
    DocumentCoverage,
    ScoreReport,
    entity_items,
    relation_items,
    score,
)
from hybrid_ie.metrics.tables import per_label_rows, summary_rows, to_markdown

__all__ = [
    "ENTITY_SCHEMES",
    "RELATION_SCHEMES",
    "Counts",
    "DocumentCoverage",
    "PartialCounts",
    "ScoreReport",
    "entity_items",
    "match_partial",
    "per_label_rows",
    "relation_items",
    "score",
    "summary_rows",
    "to_markdown",
]
