"""Does "the most specific offered label wins" help, and how much of it would carry to labels the
shipped hierarchy file does not know?

multiconer2-en (default split dev: selection only) read with the protocol's coarse-run labels
(`eval/label_competition.json`: fine labels, their coarse parents and a catch-all offered together;
merged "other" types scored as their parent). Strict micro entity F1 and the share of gold mentions
given a coarser label, for three decodings of the same checkpoint:

- off: the highest-scoring label wins a span (`specific_labels=False`);
- on: the most specific passing label wins, with every source of links (the shipped
  `hybrid_ie/labels/label_hierarchy.json`, WordNet, catch-alls);
- WordNet only: the same without the file's links, a stand-in for label sets nobody wrote links
  for (the file was written from multiconer2's own taxonomy, so "on" flatters this set).

    python eval/specific_labels.py --model models/hybrid-ie-minilm-zs --limit 400
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.api import labels_schema
from hybrid_ie.labels import hierarchy
from hybrid_ie.metrics.counts import f1_of, safe_ratio

COMPETITION = Path(__file__).with_name("label_competition.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="encoder checkpoint folder (default: the shipped one)")
    ap.add_argument("--set", default="multiconer2-en")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=400, help="first N texts")
    args = ap.parse_args()

    spec = json.loads(COMPETITION.read_text())[args.set]
    data = get_set(args.set)
    verbose = {t.name: t.prompt for t in data.schema().entity_types}
    fine = {k: verbose[k] for k in spec["parent"] if k not in spec["merge"]}
    coarse, catch_all = spec["coarse"], spec["catch_all"]
    labels = [*fine.values(), *coarse.values(), *catch_all.values()]
    above = {fine[k]: {coarse[spec["parent"][k]], *catch_all.values()} for k in fine}
    above.update({c: set(catch_all.values()) for c in coarse.values()})

    def gold_label(name: str) -> str:
        return coarse[spec["parent"][name]] if name in spec["merge"] else fine[name]

    docs = data.load(args.split)[: args.limit]
    encoder = JointEncoder.from_pretrained(args.model)
    schema = labels_schema(labels)

    def run(specific: bool) -> tuple[float, float]:
        outputs = encoder.predict([d.text for d in docs], schema, batch_size=32, specific_labels=specific)
        tp = n_pred = n_gold = coarser = 0
        for gold_doc, out in zip(docs, outputs, strict=True):
            pred = {(e.start, e.end, e.label) for e in out.entities}
            gold = {(e.start, e.end, gold_label(e.label)) for e in gold_doc.entities}
            tp, n_pred, n_gold = tp + len(pred & gold), n_pred + len(pred), n_gold + len(gold)
            label_at = {(s, e): label for s, e, label in pred}
            coarser += sum(label_at.get((s, e)) in above[label] for s, e, label in gold)
        f1 = f1_of(safe_ratio(tp, n_pred), safe_ratio(tp, n_gold))
        return round(100 * f1, 2), round(100 * safe_ratio(coarser, n_gold), 1)

    rows = {"off": run(False), "on": run(True)}
    file_free = hierarchy.LabelHierarchy({}, hierarchy.default_hierarchy().catch_alls)
    hierarchy.prompt_links.cache_clear()
    with mock.patch.object(hierarchy, "default_hierarchy", lambda: file_free):
        rows["WordNet only"] = run(True)
    hierarchy.prompt_links.cache_clear()
    print(f"{args.set} {args.split}, {len(docs)} texts, coarse-run labels, {args.model or 'the shipped checkpoint'}")
    print("| decoding | strict entity F1 | gold given a coarser label |\n|---|---|---|")
    for name, (f1, share) in rows.items():
        print(f"| {name} | {f1} | {share}% |")


if __name__ == "__main__":
    main()
