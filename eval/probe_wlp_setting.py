"""Headroom probe for wlp relations: how far would the encoder's wlp entities carry if
the relation head named an action's settings as wlp does?

Reads a zero-shot suite prediction file for wlp, adds a "Setting" relation from each predicted
Action to every Time / Temperature / Speed after it in the same sentence with no other Action
between, and scores the result against gold. Not a product change (it writes wlp's own label
by rule); it measures what the entities already found allow.

    hybrid-ie benchmark --suite zero-shot --split dev --model models/hybrid-ie-minilm-zs -o OUT
    python eval/probe_wlp_setting.py OUT/preds/wlp.jsonl --split dev
"""

from __future__ import annotations

import argparse

from hybrid_ie.datasets import get_set
from hybrid_ie.document import Relation, read_jsonl
from hybrid_ie.metrics import score

SETTINGS = ("Time", "Temperature", "Speed")


def with_settings(doc):
    relations = list(doc.relations)
    action = None
    for entity in sorted(doc.entities, key=lambda e: e.start):
        if entity.label == "Action":
            action = entity
        elif entity.label in SETTINGS and action is not None:
            relations.append(Relation(head=action.id, tail=entity.id, label="Setting", score=1.0, source="encoder"))
    return doc.model_copy(update={"relations": relations})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", help="the wlp prediction file of a zero-shot suite run")
    parser.add_argument("--split", default="dev")
    args = parser.parse_args()
    wlp = get_set("wlp")
    gold = wlp.load(args.split)
    preds = list(read_jsonl(args.predictions))
    symmetric = wlp.types_schema.symmetric_relations
    for name, docs in (("as predicted", preds), ("with rule-made Setting", [with_settings(d) for d in preds])):
        rel = score(gold, docs, symmetric=symmetric).to_dict()["relations"]["strict"]
        print(f"{name:24s} relation P {100 * rel['precision']:5.1f}  R {100 * rel['recall']:5.1f}  F1 {100 * rel['f1']:5.1f}"
              f"  (tp {rel['tp']}, fp {rel['fp']}, fn {rel['fn']})")  # fmt: skip


if __name__ == "__main__":
    main()
