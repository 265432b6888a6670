"""Compact result tables built from a ScoreReport: plain rows (for rich tables in the CLI) and
Markdown (for eval/RESULTS.md and the benchmark harness). No terminal code here.

Precision, recall and F1 are shown as percentages with two decimals; counts as integers, or with
one decimal for the partial scheme (whose tp/fp/fn may end in .5).
"""

from __future__ import annotations

from typing import Any

from hybrid_ie.metrics.scoring import ScoreReport

SUMMARY_HEADER = ("level", "scheme", "P %", "R %", "F1 %", "tp", "fp", "fn")
LABEL_HEADER = ("label", "P %", "R %", "F1 %", "tp", "fp", "fn")


def _pct(value: float) -> str:
    return f"{100 * value:.2f}"


def _count(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.1f}"


def _rates_and_counts(row: dict[str, Any]) -> list[str]:
    return [
        _pct(row["precision"]),
        _pct(row["recall"]),
        _pct(row["f1"]),
        *(_count(row[k]) for k in ("tp", "fp", "fn")),
    ]


def summary_rows(report: ScoreReport | dict[str, Any]) -> list[list[str]]:
    """One row per (level, scheme) plus the macro rows (macro rows have no counts)."""
    data = report.to_dict() if isinstance(report, ScoreReport) else report
    rows = []
    for level in ("entities", "relations"):
        for scheme, row in data[level].items():
            rows.append([level, scheme, *_rates_and_counts(row)])
        macro = data["macro"][level]
        rows.append(
            [
                level,
                f"macro ({macro['labels']} labels)",
                *(_pct(macro[k]) for k in ("precision", "recall", "f1")),
                "",
                "",
                "",
            ]
        )
    return rows


def per_label_rows(report: ScoreReport | dict[str, Any], level: str) -> list[list[str]]:
    """Strict per-label rows of `level` ("entities" or "relations"), sorted by label."""
    data = report.to_dict() if isinstance(report, ScoreReport) else report
    return [[label, *_rates_and_counts(row)] for label, row in sorted(data["per_label"][level].items())]


def coverage_line(report: ScoreReport | dict[str, Any]) -> str:
    """One line about document matching, naming up to five missing/extra ids."""
    docs = (report.to_dict() if isinstance(report, ScoreReport) else report)["documents"]
    parts = [f"{docs['matched']}/{docs['gold']} gold documents matched by id"]
    for key, what in (
        ("missing_in_pred", "missing in predictions"),
        ("extra_in_pred", "extra in predictions (not scored)"),
        ("failed_in_pred", "failed in predictions"),
    ):
        ids = docs[key]
        if ids:
            shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
            parts.append(f"{len(ids)} {what}: {shown}")
    return "; ".join(parts)


def _markdown_table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def to_markdown(report: ScoreReport | dict[str, Any], *, per_label: bool = True) -> str:
    """The summary table, optionally the per-label tables, and the document coverage line."""
    parts = [_markdown_table(SUMMARY_HEADER, summary_rows(report))]
    if per_label:
        for level in ("entities", "relations"):
            rows = per_label_rows(report, level)
            if rows:
                parts.append(f"Per label, {level} (strict):\n\n" + _markdown_table(LABEL_HEADER, rows))
    parts.append(coverage_line(report))
    return "\n\n".join(parts) + "\n"
