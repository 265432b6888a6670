"""Choose the reconcile strategy by measurement: encoder-only vs hybrid with each strategy.

    python eval/bench_reconcile.py --dataset conll04 --split dev --budget 0.2 [--limit N]
        [--model PATH] [--llm-config FILE] [--escalation verify|extract] [--strategies a,b,c]
        [--llm-scores 0.8,0.6]

The encoder runs once (its outputs are replayed for every run); the router picks the same chunks for every strategy (same policy, same
encoder output), and the LLM is called once per escalated chunk (the answers are kept in memory
and replayed for the other strategies, so every strategy merges the very same LLM answers).
Prints strict micro entity / relation F1 (hybrid_ie.metrics.score) per strategy, the escalation
rate, LLM calls, tokens and seconds, and which strategy scored best (relation F1, then entity F1).
`--llm-scores` tries several confidences for LLM items (reconcile.LLM_SCORE is the default), each
on the same replayed answers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from hybrid_ie.datasets import load_dataset
from hybrid_ie.metrics import score
from hybrid_ie.pipeline import Extractor
from hybrid_ie.reconcile import DEFAULT_STRATEGY, LLM_SCORE, STRATEGIES
from hybrid_ie.router import ESCALATIONS, RoutingPolicy
from hybrid_ie.schema import load_schema


class ReplayEncoder:
    """Wraps the encoder: each distinct batch is encoded once and replayed for later runs."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.known_labels = encoder.known_labels
        self.outputs: dict[str, list] = {}

    def predict(self, texts, schema, **options):
        key = json.dumps([list(texts), options.get("ids"), schema.fingerprint], sort_keys=True)
        if key not in self.outputs:
            self.outputs[key] = self.encoder.predict(texts, schema, **options)
        return [doc.model_copy(deep=True) for doc in self.outputs[key]]


class ReplayLLM:
    """Wraps an LLM client: the first call for a (task, chunk text, candidates) is real, later
    identical calls replay the stored answer (so strategies see identical LLM answers)."""

    def __init__(self, client):
        self.client = client
        self.config = getattr(client, "config", None)
        self.answers: dict[str, object] = {}
        self.real_calls = 0
        self.seconds = 0.0

    def _call(self, key: str, fn):
        if key not in self.answers:
            started = time.perf_counter()
            self.answers[key] = fn()
            self.seconds += time.perf_counter() - started
            self.real_calls += 1
        return self.answers[key]

    def extract(self, text, schema):
        return self._call(json.dumps(["extract", text]), lambda: self.client.extract(text, schema))

    def verify(self, text, schema, candidates):
        key = json.dumps(["verify", text, candidates.model_dump(mode="json", exclude={"id"})], sort_keys=True)
        return self._call(key, lambda: self.client.verify(text, schema, candidates))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="conll04")
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--budget", type=float, default=0.2)
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    parser.add_argument("--llm-config", default=None)
    parser.add_argument("--escalation", default="verify", choices=ESCALATIONS)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--llm-scores", default=str(LLM_SCORE), help="comma-separated LLM item confidences")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--json", dest="json_out", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.llm import LLMClient, LLMConfig

    gold = load_dataset(args.dataset, args.split)[: args.limit]
    schema = load_schema(args.dataset)
    symmetric = schema.symmetric_relations
    encoder = ReplayEncoder(JointEncoder.from_pretrained(args.model))
    llm = ReplayLLM(LLMClient(LLMConfig.load(args.llm_config)))
    policy = RoutingPolicy(budget=args.budget, escalation=args.escalation)
    texts = [{"id": d.id, "text": d.text} for d in gold]

    def run(mode: str, strategy: str, llm_score: float = LLM_SCORE) -> dict:
        started = time.perf_counter()
        extractor = Extractor(schema, encoder=encoder, llm=llm, policy=policy, mode=mode, reconcile=strategy,
                              llm_score=llm_score)  # fmt: skip
        preds = list(extractor.extract_many(texts, batch_size=args.batch_size))
        report = score(gold, preds, symmetric=symmetric).to_dict()
        routes = [r for d in preds for r in d.meta.get("route", [])]
        usage = [d.meta.get("llm", {}).get("usage", {}) for d in preds]
        return {
            "mode": mode,
            "strategy": strategy if mode == "hybrid" else None,
            "llm_score": llm_score if mode == "hybrid" else None,
            "entity_f1": report["entities"]["strict"]["f1"],
            "relation_f1": report["relations"]["strict"]["f1"],
            "escalation_rate": (sum(r["escalated"] for r in routes) / len(routes)) if routes else 0.0,
            "llm_failed_docs": sum(1 for d in preds if d.error),
            "tokens": sum(u.get("prompt_tokens", 0) + u.get("completion_tokens", 0) for u in usage),
            "seconds": time.perf_counter() - started,
        }

    rows = [run("encoder", DEFAULT_STRATEGY)]
    for llm_score in (float(x) for x in args.llm_scores.split(",")):
        for strategy in args.strategies.split(","):
            rows.append(run("hybrid", strategy.strip(), llm_score))
    print(f"{args.dataset} {args.split} (n={len(gold)}), budget {args.budget}, escalation {args.escalation}, "
          f"real LLM calls {llm.real_calls} in {llm.seconds:.0f} s")  # fmt: skip
    print(f"{'mode':8} {'strategy':13} {'llm sc.':>7} {'ent F1':>7} {'rel F1':>7} {'escal.':>7} {'failed':>6} {'tokens':>8}")
    for r in rows:
        llm_score = "-" if r["llm_score"] is None else f"{r['llm_score']:.2f}"
        print(f"{r['mode']:8} {r['strategy'] or '-':13} {llm_score:>7} {r['entity_f1']:7.4f} {r['relation_f1']:7.4f} "
              f"{r['escalation_rate']:7.3f} {r['llm_failed_docs']:6d} {r['tokens']:8d}")  # fmt: skip
    hybrid = [r for r in rows if r["mode"] == "hybrid"]
    best = max(hybrid, key=lambda r: (r["relation_f1"], r["entity_f1"]))
    print(f"best: {best['strategy']} with LLM score {best['llm_score']} "
          f"(current DEFAULT_STRATEGY: {DEFAULT_STRATEGY}, LLM_SCORE: {LLM_SCORE})")  # fmt: skip
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
