"""Which escalation policy (`RoutingPolicy.escalation`) should be the default: one command.

    python eval/bench_escalation.py --sets conll04:dev,wnut17:dev --limit 100 --budget 0.2 \
        [--llm local | --llm oracle:0.1] [--llm-config llm.toml] [--model models/hybrid-ie-minilm-zs] \
        [--json eval/reports/escalation.json]

For each set (a zero-shot held-out set like wnut17 has labels the encoder is unfamiliar with;
conll04 is in-domain) it runs the encoder alone, then the hybrid with each variant ("verify",
"extract-unfamiliar", "verify-no-add") on the same sentences, and prints per row strict entity and
relation F1, LLM calls, LLM tokens, seconds per sentence and the machine's load average.
`--llm local` is the configured LLM (`--llm-config`, `$HYBRID_IE_LLM_*`; answers cached, so a
re-run costs nothing); `--llm oracle[:P]` the gold-reading loopback oracle (plumbing checks only:
it reads the gold).

RULE FOR CHOOSING THE DEFAULT (fixed before any run): with the real default local LLM
at budget 0.2 on conll04 dev and wnut17 dev (the first 100 sentences of each), score each variant
by the mean over the two sets of its strict F1 (wnut17: entity F1; conll04: the mean of entity
and relation F1). The default becomes the variant with the highest score, but "verify" (today's
default) is replaced only when the winner beats it by at least 0.5 points AND spends at most 2x
its LLM seconds per sentence; otherwise "verify" stays. Oracle runs never decide.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

VARIANTS = ("verify", "extract-unfamiliar", "verify-no-add")


def run_rows(extractor: Any, docs: list, schema: Any) -> dict[str, Any]:
    """Run an Extractor over gold documents (their texts): strict F1, LLM calls and tokens, time."""
    from hybrid_ie.metrics import score

    t0 = time.perf_counter()
    pred = list(extractor.extract_many([{"id": d.id, "text": d.text} for d in docs], batch_size=16))
    seconds = time.perf_counter() - t0
    report = score(docs, pred, symmetric=schema.symmetric_relations).to_dict()
    calls = tokens = hits = 0
    for d in pred:
        llm = d.meta.get("llm") or {}
        usage = llm.get("usage") or {}
        calls += int(llm.get("calls", 0))
        hits += int(usage.get("cache_hits", 0))
        tokens += int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))
    return {
        "sentences": len(docs),
        "entity_f1": round(100 * report["entities"]["strict"]["f1"], 2),
        "relation_f1": round(100 * report["relations"]["strict"]["f1"], 2) if schema.relation_types else None,
        "llm_calls": calls, "llm_cache_hits": hits, "llm_tokens": tokens,
        "s_per_sentence": round(seconds / max(1, len(docs)), 4), "seconds": round(seconds, 2),
    }  # fmt: skip


def load_split(spec: str, limit: int | None) -> tuple[Any, list]:
    from hybrid_ie.datasets import get_set

    name, _, split = spec.partition(":")
    ds = get_set(name)
    return ds.schema(), ds.load(split or "dev")[:limit]


def print_rows(rows: list[dict[str, Any]]) -> None:
    cols = ("set", "row", "sentences", "entity_f1", "relation_f1", "llm_calls", "llm_cache_hits", "llm_tokens",
            "s_per_sentence")  # fmt: skip
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join("-" if r.get(c) is None else str(r.get(c)) for c in cols))
    print(f"load average: {os.getloadavg()}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="conll04:dev,wnut17:dev")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--budget", type=float, default=0.2)
    ap.add_argument("--llm", default="local", help="local (the configured LLM) or oracle[:P]")
    ap.add_argument("--llm-config", default=None)
    ap.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args(argv)

    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.pipeline import Extractor
    from hybrid_ie.router import RoutingPolicy

    encoder = JointEncoder.from_pretrained(args.model)
    rows: list[dict[str, Any]] = []
    for spec in args.sets.split(","):
        schema, docs = load_split(spec, args.limit)
        with ExitStack() as stack:
            if args.llm.startswith("oracle"):
                from hybrid_ie.benchmark.oracle import oracle_llm

                llm, _, _ = stack.enter_context(oracle_llm(args.llm, docs, schema))
            else:
                from hybrid_ie.llm import LLMClient, LLMConfig

                llm = stack.enter_context(LLMClient(LLMConfig.load(args.llm_config)))
            base = run_rows(Extractor(schema, encoder=encoder, mode="encoder"), docs, schema)
            rows.append({"set": spec, "row": "encoder", **base})
            for variant in args.variants.split(","):
                policy = RoutingPolicy(budget=args.budget, escalation=variant)
                ex = Extractor(schema, encoder=encoder, llm=llm, policy=policy, mode="hybrid")
                rows.append({"set": spec, "row": f"hybrid {variant}", **run_rows(ex, docs, schema)})
                print(rows[-1], file=sys.stderr, flush=True)
    print_rows(rows)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "rows": rows, "load": os.getloadavg()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
