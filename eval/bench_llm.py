"""LLM-only benchmark of the local models on the first N sentences of a SpERT split.

    nice -n 10 python eval/bench_llm.py --model qwen2.5-coder-0.5b --task extract -n 100
    nice -n 10 python eval/bench_llm.py --model qwen2.5-coder-0.5b --task verify -n 30

Prints (and writes as JSON with --out) strict entity and relation F1 (`hybrid_ie.metrics.score`
against the gold documents of the same N sentences), the schema-valid rate (first answer valid,
no re-ask), the ok rate, the grounding rate, wall-clock and CPU seconds and tokens per sentence, and the cache-hit
speed-up: every sentence is run twice against a fresh cache; the second pass is served from it.

verify: the candidates are "encoder-like" noisy gold (seeded): each gold entity is kept with a
high score, relabelled with a lower one (p=0.2), given a one-word boundary error (p=0.1) or left
out for the model to add (p=0.15); a spurious capitalised word is added (p=0.5); gold relations
between kept entities get scores, and a spurious relation is added (p=0.3). The candidates' own
F1 is printed next to the F1 after verification. With --encoder the candidates are the real
encoder's predictions (its Document, near-threshold candidates included) instead.

Per-sentence records go to --records (JSONL, appended and flushed); a rerun with the same file
resumes after the last finished sentence.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hybrid_ie.chunking import word_spans
from hybrid_ie.datasets import load_dataset
from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.llm import LLMClient, LLMConfig
from hybrid_ie.llm.local import default_threads
from hybrid_ie.metrics import score
from hybrid_ie.schema import Schema, load_schema


def noisy_candidates(gold: Document, schema: Schema, seed: int) -> Document:
    """Encoder-like candidates from gold: scores, label and boundary noise, misses, spurious items."""
    rng = random.Random(f"{seed}:{gold.id}")
    words = word_spans(gold.text)
    labels = schema.entity_labels
    kept: dict[str, Entity] = {}
    for ent in gold.entities:
        roll = rng.random()
        start, end, label, sc = ent.start, ent.end, ent.label, rng.uniform(0.55, 0.99)
        if roll < 0.15:
            continue
        if roll < 0.35:
            label, sc = rng.choice([x for x in labels if x != ent.label]), rng.uniform(0.3, 0.6)
        elif roll < 0.45:
            after = [w for w in words if w[0] > end]
            if after:
                end, sc = after[0][1], rng.uniform(0.3, 0.6)
        kept[ent.id] = Entity(id=f"C{len(kept) + 1}", start=start, end=end, text=gold.text[start:end],
                              label=label, score=round(sc, 2), source="encoder")
    taken = {(e.start, e.end) for e in gold.entities}
    free = [(s, e) for s, e in words if gold.text[s].isupper() and (s, e) not in taken]
    if free and rng.random() < 0.5:
        s, e = rng.choice(free)
        kept[f"spurious{s}"] = Entity(id=f"C{len(kept) + 1}", start=s, end=e, text=gold.text[s:e],
                                      label=rng.choice(labels), score=round(rng.uniform(0.15, 0.5), 2),
                                      source="encoder")
    relations = [
        Relation(head=kept[r.head].id, tail=kept[r.tail].id, label=r.label,
                 score=round(rng.uniform(0.4, 0.95), 2), source="encoder")
        for r in gold.relations
        if r.head in kept and r.tail in kept
    ]
    ents = list(kept.values())
    if len(ents) >= 2 and schema.relation_types and rng.random() < 0.3:
        head, tail = rng.sample(ents, 2)
        relations.append(Relation(head=head.id, tail=tail.id, label=rng.choice(schema.relation_labels),
                                  score=round(rng.uniform(0.2, 0.5), 2), source="encoder"))
    return Document(id=gold.id, text=gold.text, entities=ents, relations=relations)


def verify_inputs(args: argparse.Namespace, gold: list[Document], schema: Schema) -> dict[str, Document]:
    """The candidate Document per sentence: the encoder's prediction or noisy gold."""
    if not args.encoder:
        return {d.id: noisy_candidates(d, schema, args.seed) for d in gold}
    from hybrid_ie.encoder import JointEncoder

    encoder = JointEncoder.from_pretrained(None if args.encoder == "shipped" else args.encoder, device="cpu")
    predicted = encoder.predict([d.text for d in gold], schema, ids=[d.id for d in gold])
    return {d.id: p for d, p in zip(gold, predicted, strict=True)}


def _f1(report: dict[str, Any]) -> dict[str, float]:
    return {
        "entity_f1": report["entities"]["strict"]["f1"],
        "entity_p": report["entities"]["strict"]["precision"],
        "entity_r": report["entities"]["strict"]["recall"],
        "relation_f1": report["relations"]["strict"]["f1"],
        "relation_p": report["relations"]["strict"]["precision"],
        "relation_r": report["relations"]["strict"]["recall"],
    }


def _load_records(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None or not path.exists():
        return {}
    records = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            records[rec["id"]] = rec
    return records


def run(args: argparse.Namespace) -> dict[str, Any]:
    schema = load_schema(args.dataset)
    gold = load_dataset(args.dataset, args.split)[: args.n]
    cache_path = Path(args.cache or tempfile.mkdtemp(prefix="bench-llm-")) / "cache.sqlite"
    config = LLMConfig.load(
        backend="local", model=args.model, n_threads=args.threads, cache=True, cache_path=cache_path,
        label_style=args.label_style,
    )
    client = LLMClient(config)
    records = _load_records(args.records)
    sink = args.records.open("a", encoding="utf-8") if args.records else None

    candidates = verify_inputs(args, gold, schema) if args.task == "verify" else {}

    def call(doc: Document) -> Any:
        if args.task == "extract":
            return client.extract(doc.text, schema)
        return client.verify(doc.text, schema, candidates[doc.id])

    for i, doc in enumerate(gold, 1):
        if doc.id in records:
            continue
        cpu = time.process_time()
        cold = call(doc)
        cpu = time.process_time() - cpu
        warm = call(doc)  # the same request again: answered from the cache
        rec = {
            "id": doc.id,
            "status": cold.status,
            "error": cold.error,
            "schema_valid": cold.schema_valid,
            "entities": [e.model_dump() for e in cold.entities],
            "relations": [r.model_dump() for r in cold.relations],
            "usage": cold.usage.model_dump(),
            "grounding": cold.grounding,
            "dropped_relations": cold.dropped_relations,
            "cpu_s": cpu,
            "warm_s": warm.usage.latency_s,
            "warm_hit": warm.usage.cache_hit,
        }
        records[doc.id] = rec
        if sink:
            sink.write(json.dumps(rec) + "\n")
            sink.flush()
        print(f"[{i}/{len(gold)}] {doc.id} {cold.status} {cold.usage.latency_s:.1f}s "
              f"{cold.usage.completion_tokens} out-tokens", file=sys.stderr, flush=True)

    preds = []
    for doc in gold:
        rec = records[doc.id]
        preds.append(Document(id=doc.id, text=doc.text, entities=rec["entities"], relations=rec["relations"]))
    recs = [records[d.id] for d in gold]
    grounding = {k: sum(r["grounding"][k] for r in recs) for k in ("exact", "fuzzy", "ungrounded")}
    mentions = sum(grounding.values())
    cold_s = [r["usage"]["latency_s"] for r in recs]
    warm_s = [r["warm_s"] for r in recs]
    result: dict[str, Any] = {
        "model": args.model,
        "task": args.task,
        "dataset": f"{args.dataset}:{args.split}",
        "n": len(gold),
        "threads": client.config.n_threads or default_threads(),
        "label_style": client.config.label_style,
        **_f1(score(gold, preds, symmetric=schema.symmetric_relations).to_dict()),
        "schema_valid_rate": sum(r["schema_valid"] for r in recs) / len(recs),
        "ok_rate": sum(r["status"] == "ok" for r in recs) / len(recs),
        "failures": [r["error"] for r in recs if r["status"] != "ok"],
        "grounding": grounding,
        "grounding_rate": (grounding["exact"] + grounding["fuzzy"]) / mentions if mentions else None,
        "s_per_sentence": statistics.mean(cold_s),
        "s_per_sentence_median": statistics.median(cold_s),
        "cpu_s_per_sentence": statistics.mean(r["cpu_s"] for r in recs),
        "prompt_tokens_per_sentence": statistics.mean(r["usage"]["prompt_tokens"] for r in recs),
        "completion_tokens_per_sentence": statistics.mean(r["usage"]["completion_tokens"] for r in recs),
        "reasks": sum(r["usage"]["reasks"] for r in recs),
        "dropped_relations": sum(r["dropped_relations"] for r in recs),
        "warm_s_per_sentence": statistics.mean(warm_s),
        "cache_hit_rate": sum(r["warm_hit"] for r in recs) / len(recs),
        "cache_speedup": statistics.mean(cold_s) / max(statistics.mean(warm_s), 1e-9),
    }
    if args.task == "verify":
        result["candidate_source"] = args.encoder or f"noisy gold (seed {args.seed})"
        cands = [candidates[d.id] for d in gold]
        result["candidates"] = _f1(score(gold, cands, symmetric=schema.symmetric_relations).to_dict())
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--task", choices=("extract", "verify"), default="extract")
    parser.add_argument("-n", type=int, default=100, help="first N sentences of the split")
    parser.add_argument("--dataset", default="conll04")
    parser.add_argument("--split", default="test")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: half the cores)")
    parser.add_argument("--label-style", choices=("verbose", "name"), default=None,
                        help="labels the LLM reads and writes (default: the LLMConfig default)")
    parser.add_argument("--seed", type=int, default=0, help="verify: seed of the candidate noise")
    parser.add_argument("--encoder", default=None,
                        help="verify: candidates from this encoder checkpoint ('shipped' = models/) instead of noisy gold")
    parser.add_argument("--cache", type=Path, default=None, help="cache folder (default: a fresh temp folder)")
    parser.add_argument("--records", type=Path, default=None, help="per-sentence JSONL (resumable)")
    parser.add_argument("--out", type=Path, default=None, help="write the summary JSON here")
    args = parser.parse_args(argv)
    started = time.time()
    result = run(args)
    result["wall_s"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
