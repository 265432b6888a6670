"""Relation-label probe: on gold entity pairs, how does the relation head score each label?

Decoding needs two things from a relation label: its pairs must score above the threshold, and
other labels must not. This probe takes the gold pairs of a data set's split (gold entities, so
entity errors do not enter), scores each against the set's own relation labels plus any extra
labels given, and prints, per (gold relation, head type, tail type) group: for each label the
median probability and the share of pairs at or above the threshold, and the label the head
ranks first. With an unseen label set (the zero-shot protocol's `wlp`) it shows whether a label is not
understood at all (every pair near 0) or understood but outranked by a neighbour.

    python eval/probe_relation_labels.py models/hybrid-ie-minilm-zs --set wlp --split dev \
        --extra "has condition" --extra "has patient" --groups 8
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter, defaultdict

import torch

from hybrid_ie.chunking import word_spans
from hybrid_ie.datasets import get_set
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.inputs import collate


def score_gold_pairs(encoder: JointEncoder, docs, entity_prompts, relation_prompts):
    """Yield (gold label, head label, tail label, probabilities over `relation_prompts`)."""
    model = encoder.model.eval()
    kmax = model.config.max_width
    t, shift = encoder.config.relation_temperature, encoder.config.relation_shift
    with torch.inference_mode():
        for doc in docs:
            spans = word_spans(doc.text)
            words = [doc.text[s:e] for s, e in spans]
            starts = {s: i for i, (s, _) in enumerate(spans)}
            ends = {e: i for i, (_, e) in enumerate(spans)}
            ents = {e.id: e for e in doc.entities}
            pairs = []
            for r in doc.relations:
                h, tl = ents[r.head], ents[r.tail]
                idx = [(starts.get(x.start), ends.get(x.end)) for x in (h, tl)]
                if all(a is not None and b is not None and b - a < kmax for a, b in idx):
                    pairs.append((r.label, h.label, tl.label, idx))
            if not pairs:
                continue
            batch = collate([encoder.inputs.encode(words, entity_prompts, relation_prompts)])
            enc = model.encode(batch)
            span_vecs, _ = model.span_vectors(enc["words"], enc["word_mask"])
            heads = torch.tensor([[list(p[3][0]) for p in pairs]])
            tails = torch.tensor([[list(p[3][1]) for p in pairs]])
            logits = model.relation_logits(enc["words"], enc["word_mask"], span_vecs, heads, tails, enc["relation_labels"])
            probs = torch.sigmoid(logits[0, :, : len(relation_prompts)].float() / t + shift)
            for (gold, head, tail, _), p in zip(pairs, probs, strict=True):
                yield gold, head, tail, p.tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("--set", default="wlp", dest="set_name")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=800, help="documents read (0: all)")
    parser.add_argument("--extra", action="append", default=[], help="another relation label to score (repeatable)")
    parser.add_argument("--groups", type=int, default=8, help="the largest groups printed")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = get_set(args.set_name)
    schema = data.types_schema
    docs = data.load(args.split)[: args.limit or None]
    encoder = JointEncoder.from_pretrained(args.model, device="cpu")
    names = [t.name for t in schema.relation_types] + args.extra
    prompts = [t.prompt for t in schema.relation_types] + args.extra
    threshold = encoder.relation_threshold
    groups: dict[tuple[str, str, str], list[list[float]]] = defaultdict(list)
    for gold, head, tail, probs in score_gold_pairs(encoder, docs, [t.prompt for t in schema.entity_types], prompts):
        groups[(gold, head, tail)].append(probs)
    print(f"{args.model} on {args.set_name} {args.split} ({len(docs)} documents), relation threshold {threshold}")
    for key in sorted(groups, key=lambda k: -len(groups[k]))[: args.groups]:
        rows = groups[key]
        first = Counter(names[max(range(len(names)), key=lambda j, r=r: r[j])] for r in rows)
        print(f"\n{key[0]} ({key[1]} -> {key[2]}): {len(rows)} pairs; ranked first: "
              + ", ".join(f"{n} {c}" for n, c in first.most_common(3)))  # fmt: skip
        for j, name in enumerate(names):
            col = [r[j] for r in rows]
            share = sum(x >= threshold for x in col) / len(col)
            mark = " <- gold" if name == key[0] else ""
            print(f"  {prompts[j]:28s} median {statistics.median(col):.3f}  >= threshold {100 * share:5.1f}%{mark}")


if __name__ == "__main__":
    main()
