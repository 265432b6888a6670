"""Does the specific label outscore its coarse parent on the specific label's own mentions?

For a set of `eval/label_competition.json` (default multiconer2-en, split dev: selection only), the
encoder reads each text with the protocol's coarse-run labels (fine labels, coarse parents and the
catch-all offered together). For every gold mention of a fine type that is not a merged "other"
type, it reads the score of the gold label and of its coarse parent on the gold span (before
decoding: the Document's near-miss candidates hold the labels decoding dropped; a label under
the candidate floor counts as 0). Per coarse group: mentions, share where the fine label scores
above the parent, share where each clears 0.5.

    python eval/competition_scores.py --model runs/zs26/last --limit 300
"""

from __future__ import annotations

import argparse
import json
from collections import Counter, defaultdict
from pathlib import Path

from hybrid_ie.datasets import discover_sets
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.api import labels_schema

COMPETITION = Path(__file__).with_name("label_competition.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="encoder checkpoint folder")
    ap.add_argument("--set", default="multiconer2-en")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=300, help="first N texts that hold a fine mention")
    args = ap.parse_args()

    spec = json.loads(COMPETITION.read_text())[args.set]
    data = next(s for s in discover_sets() if s.name == args.set)
    verbose = {t.name: t.prompt for t in data.schema().entity_types}
    fine = {k: verbose[k] for k in spec["parent"] if k not in spec["merge"]}
    coarse = spec["coarse"]
    labels = [*fine.values(), *coarse.values(), *spec["catch_all"].values()]
    docs = [d for d in data.load(args.split) if any(e.label in fine for e in d.entities)][: args.limit]
    encoder = JointEncoder.from_pretrained(args.model)
    outputs = encoder.predict([d.text for d in docs], labels_schema(labels), candidate_floor=0.01, batch_size=32)
    counts: dict[str, Counter] = defaultdict(Counter)
    for gold, out in zip(docs, outputs, strict=True):
        scores = {(e.start, e.end, e.label): e.score for e in out.entities}
        for c in out.meta["encoder"]["candidates"]:
            scores[(c["start"], c["end"], c["label"])] = c["score"]
        for e in gold.entities:
            if e.label not in fine:
                continue
            group = spec["parent"][e.label]
            f = scores.get((e.start, e.end, fine[e.label]), 0.0)
            p = scores.get((e.start, e.end, coarse[group]), 0.0)
            for key in (group, "all"):
                row = counts[key]
                row["mentions"] += 1
                row["fine above parent"] += f > p
                row["fine >= 0.5"] += f >= 0.5
                row["parent >= 0.5"] += p >= 0.5
    print(f"{args.set} {args.split}, {len(docs)} texts, {args.model}")
    print("| group | mentions | fine above parent | fine >= 0.5 | parent >= 0.5 |\n|---|---|---|---|---|")
    for group in [*sorted(k for k in counts if k != "all"), "all"]:
        row = counts[group]
        n = row["mentions"]
        cells = [f"{100 * row[k] / n:.1f}%" for k in ("fine above parent", "fine >= 0.5", "parent >= 0.5")]
        print(f"| {group} | {n} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
