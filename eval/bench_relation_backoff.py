"""Relation backoff on paraphrased relation labels: in-domain dev sets whose relation labels are
renamed to names training never showed (`eval/relation_paraphrases.json`), scored with the
checkpoint's relation backoff off and at each strength given. Entity labels keep their names.

    python eval/bench_relation_backoff.py models/hybrid-ie-minilm-zs --strength 0 --strength 1

Prints, per set, the backoff target of each renamed label (nearest known relation prompt and its
cosine) and strict relation and entity F1 per strength. Extra target prompts change the joint
encoding, so entity F1 moves a little too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.metrics import score
from hybrid_ie.schema import Schema

PARAPHRASES = Path(__file__).with_name("relation_paraphrases.json")


def renamed(schema: Schema, names: dict[str, str]) -> Schema:
    data = schema.to_dict()
    for rel in data["relation_types"]:
        rel["verbose"] = names.get(rel["name"], rel.get("verbose", rel["name"]))
    return Schema.from_dict(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--strength", type=float, action="append", help="relation_backoff values (default 0 and 1)")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoder = JointEncoder.from_pretrained(args.model, device="cpu")
    strengths = args.strength or [0.0, 1.0]
    paraphrases = {k: v for k, v in json.loads(PARAPHRASES.read_text(encoding="utf-8")).items() if not k.startswith("_")}
    print(f"{args.model}: known relation prompts {len(encoder.config.known_relation_labels)}, "
          f"stored relation_backoff {encoder.config.relation_backoff}")  # fmt: skip
    for name, names in paraphrases.items():
        data = get_set(name)
        schema = renamed(data.types_schema, names)
        docs = data.load(args.split)
        targets = encoder.relation_backoff_targets([t.prompt for t in schema.relation_types])
        print(f"\n{name} {args.split} ({len(docs)} documents): " + "; ".join(
            f"{p!r} -> {t!r} ({sim:.2f})" for p, (t, sim) in targets.items()))  # fmt: skip
        for strength in strengths:
            encoder.config.relation_backoff = strength
            preds = encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], nested=False)
            report = score(docs, preds, symmetric=schema.symmetric_relations)
            rel, ent = report.relations["strict"], report.entities["strict"]
            print(f"  backoff {strength:4.2f}: relation F1 {100 * rel.f1:6.2f} (P {100 * rel.precision:5.1f} "
                  f"R {100 * rel.recall:5.1f})  entity F1 {100 * ent.f1:6.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
