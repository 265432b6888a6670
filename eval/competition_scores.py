"""Does the specific label outscore its coarse parent on the specific label's own mentions?

For a set of `eval/label_competition.json` (default multiconer2-en, split dev: selection only), the
encoder reads each text with the protocol's coarse-run labels (`benchmark.suite_parts.coarse_schema`:
fine labels, coarse parents and the catch-all offered together). For every gold mention of a fine
type that is not a merged "other" type, it reads the score of the gold label and of its coarse
parent on the gold span (before
decoding: the Document's near-miss candidates hold the labels decoding dropped; a label under
the candidate floor counts as 0). Per coarse group: mentions, share where the fine label scores
above the parent, share where each clears 0.5.

    python eval/competition_scores.py --model runs/zs26/last --limit 300
"""

from __future__ import annotations

import argparse
from collections import Counter, defaultdict
from pathlib import Path

from hybrid_ie.benchmark.suite_parts import coarse_schema, load_hierarchies
from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder

COMPETITION = Path(__file__).with_name("label_competition.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="encoder checkpoint folder")
    ap.add_argument("--set", default="multiconer2-en")
    ap.add_argument("--split", default="dev")
    ap.add_argument("--limit", type=int, default=300, help="first N texts that hold a fine mention")
    args = ap.parse_args()

    data = get_set(args.set)
    h = load_hierarchies(COMPETITION, {args.set: data})[args.set]
    fine = {name for name in h.parent if name not in h.merge}
    docs = [d for d in data.load(args.split) if any(e.label in fine for e in d.entities)][: args.limit]
    encoder = JointEncoder.from_pretrained(args.model)
    schema = coarse_schema(data.types_schema, h)  # the protocol's coarse run
    # every label's own score: no label is dropped for a more specific one (specific_labels=False)
    outputs = encoder.predict([d.text for d in docs], schema, candidate_floor=0.01, batch_size=32,
                              specific_labels=False)  # fmt: skip
    counts: dict[str, Counter] = defaultdict(Counter)
    for gold, out in zip(docs, outputs, strict=True):
        scores = {(e.start, e.end, e.label): e.score for e in out.entities}
        for c in out.meta["encoder"]["candidates"]:
            scores[(c["start"], c["end"], c["label"])] = c["score"]
        for e in gold.entities:
            if e.label not in fine:
                continue
            group = h.parent[e.label]
            f = scores.get((e.start, e.end, e.label), 0.0)
            p = scores.get((e.start, e.end, group), 0.0)
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
