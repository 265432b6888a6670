"""The distillation benchmark in one command: the encoder before and after `distill`, alone and in
the hybrid, against the LLM alone (resumable; re-runs are cheap).

    python eval/bench_distill.py --set wnut17 --train 200 --subset 30 --llm-config llm.toml \
        --out eval/reports/distill-wnut17 [--base models/hybrid-ie-minilm-zs] [--steps 300] [--replay 0.5] \
        [--test-limit N] [--conll04-limit N] [--budget 0.2]

The first `--train` sentences of the set's train split are the user's documents, used WITHOUT
their labels (written to OUT/docs.jsonl, with the set's schema as OUT/schema.json). Rows:

1. encoder before      the base encoder on the test split (first `--test-limit`; default all)
2. LLM only            `--mode llm` on the first `--subset` test sentences
3. hybrid before       the hybrid (budget `--budget`) on the same subset
4. distill             `hybrid_ie.distill` on OUT/docs.jsonl (LLM extract; cached answers are reused)
5. encoder after       the distilled encoder on the test split
6. hybrid after        the hybrid with the distilled encoder on the subset
7. conll04 before / after   both encoders on the conll04 test split (forgetting check)

Each row prints strict entity / relation F1, seconds per sentence, LLM calls (and cache hits) and
tokens; everything goes to OUT/report.json. Every finished row is stored in OUT/rows/ and the
distilled checkpoint in OUT/model, so a re-run (after a kill, or to print the table) redoes only
what is missing; LLM answers come from the answer cache. To label the documents beforehand with
the plain CLI (the same cache keys, so distillation then asks nothing):

    hybrid-ie extract OUT/docs.jsonl --schema OUT/schema.json --mode llm --llm-config llm.toml -o OUT/llm-docs.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_escalation import print_rows, run_rows


def _row(out: Path, name: str, compute) -> dict[str, Any]:
    path = out / "rows" / f"{name.replace(' ', '_')}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    row = {"row": name, **compute()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(row, indent=2) + "\n", encoding="utf-8")
    print(row, file=sys.stderr, flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="distillation benchmark")
    ap.add_argument("--set", required=True, help="a set of the data dir (e.g. wnut17, wlp)")
    ap.add_argument("--train", type=int, default=200, help="train sentences used as unlabelled documents")
    ap.add_argument("--subset", type=int, default=30, help="test sentences for the LLM and hybrid rows")
    ap.add_argument("--test-limit", type=int, default=None, help="test sentences for the encoder rows (all)")
    ap.add_argument("--conll04-limit", type=int, default=None)
    ap.add_argument("--llm-config", default=None)
    ap.add_argument("--base", default=None, help="base encoder (default: models/hybrid-ie-minilm-zs)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--replay", type=float, default=0.5)
    ap.add_argument("--no-relations", action="store_true", help="distill the silver entities only")
    ap.add_argument("--replay-limit", type=int, default=None)
    ap.add_argument("--budget", type=float, default=0.2)
    ap.add_argument("--progress", action="store_true", help="progress bars")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)

    from hybrid_ie.datasets import get_set
    from hybrid_ie.distill import DistillConfig, Distiller
    from hybrid_ie.distill.finetune import resolve_base
    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.llm import LLMClient, LLMConfig
    from hybrid_ie.pipeline import Extractor
    from hybrid_ie.router import RoutingPolicy
    from hybrid_ie.schema import load_schema

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ds = get_set(args.set)
    schema_file = out / "schema.json"
    schema_file.write_text(json.dumps(ds.schema().to_dict(), indent=2) + "\n", encoding="utf-8")
    schema = load_schema(schema_file)
    docs_file = out / "docs.jsonl"
    train = ds.load("train")[: args.train]
    docs_file.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in train), encoding="utf-8")
    test = ds.load("test")
    full, subset = test[: args.test_limit], test[: args.subset]
    base = resolve_base(args.base)
    before = JointEncoder.from_pretrained(base)
    llm = LLMClient(LLMConfig.load(args.llm_config))
    policy = RoutingPolicy(budget=args.budget)

    def encoder_rows(encoder, tag: str) -> list[dict[str, Any]]:
        return [_row(out, f"encoder {tag}", lambda: run_rows(Extractor(schema, encoder=encoder, mode="encoder"),
                                                             full, schema)),
                _row(out, f"hybrid {tag}", lambda: run_rows(Extractor(schema, encoder=encoder, llm=llm, policy=policy),
                                                            subset, schema))]  # fmt: skip

    rows = encoder_rows(before, "before")
    rows.insert(1, _row(out, "llm only", lambda: run_rows(Extractor(schema, llm=llm, mode="llm"), subset, schema)))
    model = out / "model"

    def run_distill() -> dict[str, Any]:
        t0 = time.perf_counter()
        cfg = DistillConfig(schema=str(schema_file), output_dir=str(model), texts=[str(docs_file)],
                            llm_config=args.llm_config, base=str(base), steps=args.steps, replay=args.replay,
                            relations=not args.no_relations,
                            replay_limit=args.replay_limit, silver_out=str(out / "silver.jsonl"),
                            progress=args.progress)  # fmt: skip
        result = Distiller(cfg, llm=llm, encoder=before).run()
        u = result.usage
        return {"sentences": len(train), "seconds": round(time.perf_counter() - t0, 1), "llm_calls": u["calls"],
                "llm_cache_hits": u["cache_hits"], "llm_tokens": u["prompt_tokens"] + u["completion_tokens"],
                "silver": result.stats, "phase_seconds": result.seconds}  # fmt: skip

    rows.append(_row(out, "distill", run_distill))
    after = JointEncoder.from_pretrained(model)
    rows += encoder_rows(after, "after")
    conll = get_set("conll04")
    conll_test, conll_schema = conll.load("test")[: args.conll04_limit], conll.schema()
    for tag, encoder in (("before", before), ("after", after)):
        rows.append(_row(out, f"conll04 {tag}", lambda e=encoder: run_rows(
            Extractor(conll_schema, encoder=e, mode="encoder"), conll_test, conll_schema)))  # fmt: skip
    for r in rows:
        r.setdefault("set", "conll04:test" if r["row"].startswith("conll04") else f"{args.set}")
    llm.close()
    print_rows(rows)
    report = {"args": vars(args), "base": str(base), "llm": llm.config.model, "rows": rows, "load": os.getloadavg()}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out / 'report.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
