"""How far any per-label trust rule can lift the hybrid at budget 1: one command.

    PYTHONPATH=$PWD python eval/competence_ceiling.py --sets conll04:test,wnut17:test \
        --llm config:eval/reports/competence/llm-1.5b.toml --cache eval/reports/competence/llm-1.5b.sqlite

At budget 1 with weak labels the ``competence`` escalation has the LLM extract every text with the
whole schema, so the hybrid chooses, item by item, among the encoder's answer and the LLM's
LLM-only answer. For each set (``name:split[:coarse]`` as `eval/bench_competence.py` reads it; its
first `--limit` texts) this prints strict micro entity F1 of: the encoder, the LLM, their union and
their intersection on every label, and two *oracle selectors* that read the gold: per label the
better side (``best side per label``: each label's choice made against the all-encoder answer) and
per label the best of the four (``best of four per label``: coordinate ascent on the micro F1).
The selectors bound what a rule that decides per label can reach; they are not rules (they read
the gold of the rows they score).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_competence import CachedEncoder, load_set, make_llm

Keys = set[tuple[int, int, str]]
WAYS: dict[str, Callable[[Keys, Keys], Keys]] = {
    "encoder": lambda e, q: e,
    "llm": lambda e, q: q,
    "union": lambda e, q: e | q,
    "intersection": lambda e, q: e & q,
}


def entity_keys(docs: list) -> list[Keys]:
    return [{(e.start, e.end, e.label) for e in d.entities} for d in docs]


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def ceilings(gold: list, encoder: list, llm: list) -> dict[str, float]:
    """The rows of one set (see the module docstring), F1 in points."""
    golds, encs, llms = entity_keys(gold), entity_keys(encoder), entity_keys(llm)
    labels = sorted({k[2] for keys in golds + encs + llms for k in keys})
    counts: dict[tuple[str, str], tuple[int, int, int]] = {}
    for label in labels:
        for way, combine in WAYS.items():
            tp = fp = fn = 0
            for g, e, q in zip(golds, encs, llms, strict=True):
                g = {k for k in g if k[2] == label}
                p = combine({k for k in e if k[2] == label}, {k for k in q if k[2] == label})
                tp, fp, fn = tp + len(g & p), fp + len(p - g), fn + len(g - p)
            counts[label, way] = (tp, fp, fn)

    def total(choice: dict[str, str]) -> float:
        return 100 * f1(*(sum(counts[lab, choice[lab]][i] for lab in labels) for i in range(3)))

    rows = {way: total(dict.fromkeys(labels, way)) for way in WAYS}
    base = dict.fromkeys(labels, "encoder")
    rows["best side per label"] = total(
        {lab: max(("encoder", "llm"), key=lambda w, lab=lab: total({**base, lab: w})) for lab in labels})
    choice = dict(base)
    for _ in range(3):
        for lab in labels:
            choice[lab] = max(WAYS, key=lambda w, lab=lab: total({**choice, lab: w}))
    rows["best of four per label"] = total(choice)
    return {k: round(v, 2) for k, v in rows.items()}


def main(argv: list[str] | None = None) -> int:
    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.pipeline import Extractor

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", required=True)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--llm", required=True, help="oracle[:P] or config:PATH (as eval/bench_competence.py)")
    ap.add_argument("--cache", default=None, help="sqlite cache of a real LLM's answers")
    ap.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    args = ap.parse_args(argv)
    encoder = CachedEncoder(JointEncoder.from_pretrained(args.model))
    for spec in args.sets.split(","):
        schema, gold = load_set(spec, args.limit)
        items = [{"id": d.id, "text": d.text} for d in gold]
        enc = list(Extractor(schema, encoder=encoder, mode="encoder").extract_many(items))
        with ExitStack() as stack:
            llm = make_llm(stack, args.llm, gold, schema, args.cache)
            answers = list(Extractor(schema, llm=llm, mode="llm").extract_many(items))
        print(json.dumps({"set": spec, **ceilings(gold, enc, answers)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
