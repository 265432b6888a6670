"""Does "the most specific offered label wins" help, and how much of it would carry to labels the
shipped hierarchy file does not know?

multiconer2-en (default split dev: selection only) read with the protocol's coarse-run labels
(`eval/label_competition.json`, `benchmark.suite_parts.coarse_schema`: fine labels, their coarse
parents and a catch-all offered together; merged "other" types scored as their parent), scored as
the suite scores it: strict micro entity F1 and the share of gold mentions given a coarser label,
for three decodings of the same checkpoint:

- off: the highest-scoring label wins a span (`specific_labels=False`);
- on: the most specific passing label wins, with every source of links (the shipped
  `hybrid_ie/labels/label_hierarchy.json`, WordNet, catch-alls);
- WordNet only: the same without the file's links, a stand-in for label sets nobody wrote links
  for (the file was written from multiconer2's own taxonomy, so "on" flatters this set).

    python eval/specific_labels.py --model models/hybrid-ie-minilm-zs --limit 400
"""

from __future__ import annotations

import argparse
from pathlib import Path
from unittest import mock

from hybrid_ie.benchmark.suite_parts import coarse_schema, label_outcomes, load_hierarchies, merged_gold
from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.labels import hierarchy
from hybrid_ie.metrics import score

COMPETITION = Path(__file__).with_name("label_competition.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=None, help="encoder checkpoint folder (default: the shipped one)")
    ap.add_argument("--set", default="multiconer2-en")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=400, help="first N texts")
    args = ap.parse_args()

    data = get_set(args.set)
    h = load_hierarchies(COMPETITION, {args.set: data})[args.set]
    gold = merged_gold(data.load(args.split)[: args.limit], h)
    schema = coarse_schema(data.types_schema, h)  # the protocol's coarse run
    encoder = JointEncoder.from_pretrained(args.model)

    def run(specific: bool) -> tuple[float, float]:
        preds = encoder.predict([d.text for d in gold], schema, ids=[d.id for d in gold], batch_size=32,
                                specific_labels=specific)  # fmt: skip
        f1 = score(gold, preds).entities["strict"].f1
        return round(100 * f1, 2), round(100 * label_outcomes(gold, preds, h)["coarser_share"], 1)

    rows = {"off": run(False), "on": run(True)}
    file_free = hierarchy.LabelHierarchy({}, hierarchy.default_hierarchy().catch_alls)
    hierarchy.prompt_links.cache_clear()
    with mock.patch.object(hierarchy, "default_hierarchy", lambda: file_free):
        rows["WordNet only"] = run(True)
    hierarchy.prompt_links.cache_clear()
    print(f"{args.set} {args.split}, {len(gold)} texts, coarse-run labels, {args.model or 'the shipped checkpoint'}")
    print("| decoding | strict entity F1 | gold given a coarser label |\n|---|---|---|")
    for name, (f1, share) in rows.items():
        print(f"| {name} | {f1} | {share}% |")


if __name__ == "__main__":
    main()
