"""Strict F1 of one checkpoint on one split at its own thresholds and at a few fixed pairs.

    python eval/sweep_thresholds.py CHECKPOINT SET SPLIT

Tells forgetting from a threshold change after distillation: if no threshold pair recovers the
base's score, the weights changed.
"""

from __future__ import annotations

import sys

from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.metrics import score
from hybrid_ie.pipeline import Extractor

PAIRS = [(None, None), (0.3, 0.25), (0.2, 0.2), (0.25, 0.3), (0.3, 0.35)]


def main(argv: list[str]) -> int:
    checkpoint, name, split = argv
    ds = get_set(name)
    docs, schema = ds.load(split), ds.schema()
    encoder = JointEncoder.from_pretrained(checkpoint)
    for threshold, relation_threshold in PAIRS:
        ex = Extractor(schema, encoder=encoder, mode="encoder", threshold=threshold,
                       relation_threshold=relation_threshold)  # fmt: skip
        pred = list(ex.extract_many([{"id": d.id, "text": d.text} for d in docs]))
        report = score(docs, pred, symmetric=schema.symmetric_relations).to_dict()
        f1 = {k: round(v["strict"]["f1"] * 100, 2) for k, v in report.items() if k in ("entities", "relations")}
        shown = "own" if threshold is None else f"{threshold} / {relation_threshold}"
        print(f"thresholds {shown}: entity F1 {f1['entities']}, relation F1 {f1['relations']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
