"""Calibration of encoder scores on a dev split: reliability diagram data and expected
calibration error, before and after the encoder's temperature scaling.

The scored items and their correctness come from the encoder's own calibration code
(`hybrid_ie.training.calibration.collect`: kept entities and relations plus the near-miss
candidates of `meta["encoder"]`, strict match against gold), and the ECE from its
`expected_calibration_error`, so the numbers here are the ones the encoder's model card uses.
This module adds the per-bin table the reliability diagram is drawn from. Candidates are asked
for down to a score of CANDIDATE_FLOOR, as the encoder's calibration does.

The encoder calibrates a raw logit z as sigmoid(z / T + b) (temperature T, shift b; b = 0 when
the checkpoint has none), so the scores before scaling are recovered from the calibrated ones as
sigmoid((logit(score) - b) * T).
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
CANDIDATE_FLOOR = 0.05


def reliability(scores: Sequence[float], correct: Sequence[float], bins: int = BINS) -> dict[str, Any]:
    """Equal-width score bins over [0, 1] (count, mean score, fraction correct) and the ECE."""
    from hybrid_ie.training.calibration import expected_calibration_error

    table = [[0, 0.0, 0.0] for _ in range(bins)]  # count, score sum, correct sum
    for s, ok in zip(scores, correct, strict=True):
        row = table[min(int(s * bins), bins - 1)]
        row[0] += 1
        row[1] += s
        row[2] += ok
    return {
        "count": len(scores),
        "ece": expected_calibration_error(list(scores), list(correct), bins=bins),
        "bins": [
            {
                "low": i / bins,
                "high": (i + 1) / bins,
                "count": n,
                "mean_score": total / n if n else 0.0,
                "accuracy": hits / n if n else 0.0,
            }
            for i, (n, total, hits) in enumerate(table)
        ],
    }


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def encoder_scaling(encoder: Any) -> dict[str, tuple[float, float]] | None:
    """The encoder's fitted (temperature, shift) per kind, from its config's
    `entity_temperature` / `entity_shift` and `relation_temperature` / `relation_shift`; None
    when it has no temperatures."""
    config = getattr(encoder, "config", None)
    out = {}
    for kind, prefix in (("entities", "entity"), ("relations", "relation")):
        temperature = getattr(config, f"{prefix}_temperature", None)
        if not isinstance(temperature, int | float):
            return None
        shift = getattr(config, f"{prefix}_shift", 0.0)
        out[kind] = (float(temperature), float(shift) if isinstance(shift, int | float) else 0.0)
    return out


def calibration_report(
    encoder: Any, gold: Sequence[Document], schema: Schema, *, dataset: str, nested: bool = False
) -> dict[str, Any]:
    """Reliability and ECE of the encoder's scores on `gold` (after and, when the encoder has a
    fitted temperature, before scaling)."""
    from hybrid_ie.training.calibration import collect

    preds = encoder.predict(
        [d.text for d in gold],
        schema,
        ids=[d.id for d in gold],
        candidate_floor=CANDIDATE_FLOOR,
        nested=nested,
    )
    data = collect(gold, preds, schema)
    items = {
        "entities": (data.entity_logits, data.entity_correct),
        "relations": (data.relation_logits, data.relation_correct),
    }
    scaling = encoder_scaling(encoder) or {}
    scaled = any(pair != (1.0, 0.0) for pair in scaling.values())
    variants: dict[str, dict[str, Any]] = {}
    if scaled:
        variants["before temperature scaling"] = {
            kind: reliability([_sigmoid((x - scaling[kind][1]) * scaling[kind][0]) for x in logits], correct)
            for kind, (logits, correct) in items.items()
        }
    variants["after temperature scaling" if scaled else "encoder scores"] = {
        kind: reliability([_sigmoid(x) for x in logits], correct) for kind, (logits, correct) in items.items()
    }
    note = f"Items: kept outputs and candidates scored >= {CANDIDATE_FLOOR}, strict match."
    if scaled:
        note += (
            " Scaling sigmoid(z / T + b): "
            + ", ".join(f"{kind} T {t:.3f}, b {b:+.3f}" for kind, (t, b) in scaling.items())
            + "."
        )
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
    nested: bool = False,
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
    return calibration_report(encoder, docs, schema, dataset=source, nested=nested) if docs else None
