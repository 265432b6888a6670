"""Calibration of encoder scores on a dev split: reliability bins and expected calibration error.

Every scored item the encoder returns is one (score, correct) pair: kept entities and relations,
and the below-threshold candidates of `meta["encoder"]` (so the diagram covers scores from the
candidate floor up, not just the kept items). An entity is correct when (start, end, label)
matches a gold entity; a relation when (head span, tail span, label) matches a gold relation
(argument spans, as the candidates carry no argument labels).

ECE = sum over equal-width score bins of (items in bin / items) * |fraction correct - mean score|.
When the encoder exposes its temperature, the scores before scaling are recovered as
sigmoid(logit(score) * T) and reported beside the calibrated ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybrid_ie.datasets import load_documents
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema

BINS = 10
EPS = 1e-6


def reliability(pairs: Sequence[tuple[float, bool]], bins: int = BINS) -> dict[str, Any]:
    """Equal-width bins over [0, 1] with count, mean score and fraction correct, and the ECE."""
    table = [
        {"low": i / bins, "high": (i + 1) / bins, "count": 0, "score_sum": 0.0, "correct": 0}
        for i in range(bins)
    ]
    for s, ok in pairs:
        b = table[min(int(s * bins), bins - 1)]
        b["count"] += 1
        b["score_sum"] += s
        b["correct"] += bool(ok)
    total = len(pairs)
    ece = 0.0
    out_bins = []
    for b in table:
        mean = b["score_sum"] / b["count"] if b["count"] else 0.0
        acc = b["correct"] / b["count"] if b["count"] else 0.0
        ece += (b["count"] / total) * abs(acc - mean) if total else 0.0
        out_bins.append(
            {"low": b["low"], "high": b["high"], "count": b["count"], "mean_score": mean, "accuracy": acc}
        )
    return {"count": total, "ece": ece, "bins": out_bins}


def scored_pairs(gold: Document, pred: Document) -> dict[str, list[tuple[float, bool]]]:
    """(score, correct) pairs of one document's kept items and encoder candidates."""
    gold_ents = {(e.start, e.end, e.label) for e in gold.entities}
    by_id = gold.entity_map()
    gold_rels = {(by_id[r.head].span, by_id[r.tail].span, r.label) for r in gold.relations}
    info = pred.meta.get("encoder", {})
    ents = [(e.score, (e.start, e.end, e.label)) for e in pred.entities if e.score is not None]
    ents += [(c["score"], (c["start"], c["end"], c["label"])) for c in info.get("candidates", [])]
    pred_by_id = pred.entity_map()
    rels = [
        (r.score, (pred_by_id[r.head].span, pred_by_id[r.tail].span, r.label))
        for r in pred.relations
        if r.score is not None
    ]
    rels += [
        (c["score"], (tuple(c["head"]), tuple(c["tail"]), c["label"]))
        for c in info.get("relation_candidates", [])
    ]
    return {
        "entities": [(float(s), key in gold_ents) for s, key in ents],
        "relations": [(float(s), key in gold_rels) for s, key in rels],
    }


def unscale(score: float, temperature: float) -> float:
    """The score before temperature scaling: sigmoid(logit(score) * T)."""
    s = min(max(score, EPS), 1 - EPS)
    return 1.0 / (1.0 + math.exp(-math.log(s / (1 - s)) * temperature))


def encoder_temperatures(encoder: Any) -> dict[str, float] | None:
    """The encoder's fitted temperatures {"entities": T, "relations": T} (from its config's
    `entity_temperature` / `relation_temperature`), or None when it has none."""
    config = getattr(encoder, "config", None)
    temps = {
        kind: getattr(config, attr, None)
        for kind, attr in (("entities", "entity_temperature"), ("relations", "relation_temperature"))
    }
    if all(isinstance(t, int | float) for t in temps.values()):
        return {kind: float(t) for kind, t in temps.items()}
    return None


def calibration_report(
    encoder: Any, gold: Sequence[Document], schema: Schema, *, dataset: str
) -> dict[str, Any]:
    """Reliability and ECE of the encoder's scores on `gold` (calibrated, and raw when known)."""
    preds = encoder.predict([d.text for d in gold], schema, ids=[d.id for d in gold])
    pairs: dict[str, list[tuple[float, bool]]] = {"entities": [], "relations": []}
    for g, p in zip(gold, preds, strict=True):
        for kind, items in scored_pairs(g, p).items():
            pairs[kind] += items
    variants = {"encoder scores": {kind: reliability(items) for kind, items in pairs.items()}}
    temps = encoder_temperatures(encoder)
    note = "Scores below the encoder's candidate floor are not returned, so they are not binned."
    if temps and any(t != 1.0 for t in temps.values()):
        variants = {
            "before temperature scaling": {
                kind: reliability([(unscale(s, temps.get(kind, 1.0)), ok) for s, ok in items])
                for kind, items in pairs.items()
            },
            "after temperature scaling": variants["encoder scores"],
        }
        note += f" Temperatures: {temps}."
    else:
        note += " The encoder has no fitted temperature (none, or 1.0), so only its own scores are shown."
    return {"dataset": dataset, "documents": len(gold), "variants": variants, "note": note}


def dev_source_for(source: str) -> str | None:
    """The dev split beside a benchmark source: `conll04:test` -> `conll04:dev`; a SpERT file
    `<folder>/test.json` -> `<folder>/dev.json` if it exists; else None."""
    path = Path(source)
    if ":" in source and not path.exists():
        return f"{source.split(':', 1)[0]}:dev"
    dev = path.with_name("dev.json")
    return str(dev) if dev.exists() else None


def calibration_for(
    calibration_source: str | None,
    benchmark_source: str,
    encoder: Any,
    schema: Schema,
    limit: int | None,
) -> dict[str, Any] | None:
    """The calibration section: on `calibration_source` ("auto": the dev split beside the
    benchmark source; None: skipped). Returns None when there is nothing to measure on."""
    if calibration_source is None:
        return None
    source = dev_source_for(benchmark_source) if calibration_source == "auto" else calibration_source
    if source is None:
        return None
    try:
        docs = load_documents(source)
    except InputError:
        if calibration_source == "auto":
            return None
        raise
    docs = docs[:limit] if limit else docs
    return calibration_report(encoder, docs, schema, dataset=source) if docs else None
