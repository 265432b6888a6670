"""Benchmark of the joint encoder alone: accuracy, zero-shot behaviour, speed, memory, calibration.

    python eval/bench_encoder.py [--model models/hybrid-ie-minilm-zs] [--threads 2] [--json out.json]
    python eval/bench_encoder.py --device cuda --dtype bf16     # on a GPU machine (fp16 too)
    python eval/bench_encoder.py --quantize int8                # the int8 CPU path

Prints, for the checkpoint:
* strict micro entity / relation F1 on the conll04, scierc and ade test splits (scierc and ade
  decoded with nesting allowed, conll04 flat);
* zero-shot behaviour on conll04 test with label prompts never seen in training (paraphrases of
  the conll04 types, checked against `known_labels`), and with the `default` schema's labels
  mapped onto conll04 types (these overlap the training prompts; reported as such);
* throughput on conll04 test (batched, `--threads` threads) in sentences/s, the FLOP/s of a large
  fp32 matmul in the same run, an estimate of the model's FLOPs per sentence, and the ratio of
  achieved to matmul FLOP/s;
* load time and peak RSS;
* ECE of entity and relation scores on conll04 test with temperature 1 vs the calibrated one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from hybrid_ie.datasets import load_dataset
from hybrid_ie.document import Document
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.metrics import score
from hybrid_ie.schema import Schema, load_schema
from hybrid_ie.training.calibration import collect, reset_scaling, summarise

# Paraphrased prompts for the conll04 types that training never showed (checked at run time).
UNSEEN_PROMPTS = {
    "Peop": "individual human",
    "Org": "institution or firm",
    "Loc": "geographical area",
    "Other": "miscellaneous proper noun",
    "Work_For": "has a job at",
    "Kill": "caused the death of",
    "OrgBased_In": "has its headquarters in",
    "Live_In": "dwells in",
    "Located_In": "lies within",
}
# default schema label -> conll04 label (located_in splits by head type)
DEFAULT_TO_CONLL = {"person": "Peop", "organization": "Org", "location": "Loc", "works_for": "Work_For"}


def f1s(gold, pred, schema) -> dict[str, float]:
    report = score(gold, pred, symmetric=schema.symmetric_relations).to_dict()
    return {
        "entity_f1": round(100 * report["entities"]["strict"]["f1"], 2),
        "relation_f1": round(100 * report["relations"]["strict"]["f1"], 2),
    }


def accuracy(encoder, datasets, limit) -> dict:
    out = {}
    for name in datasets:
        schema = load_schema(name)
        gold = load_dataset(name, "test")[:limit]
        pred = encoder.predict([d.text for d in gold], schema, ids=[d.id for d in gold], nested=name != "conll04")
        out[name] = f1s(gold, pred, schema)
        print(f"{name:8s} test  entity F1 {out[name]['entity_f1']:6.2f}  relation F1 {out[name]['relation_f1']:6.2f}")
    return out


def unseen_schema() -> Schema:
    data = load_schema("conll04").to_dict()
    for item in (*data["entity_types"], *data["relation_types"]):
        item["verbose"] = UNSEEN_PROMPTS[item["name"]]
    data["name"] = "conll04-unseen-prompts"
    return Schema.from_dict(data, source="<bench>")


def map_default(doc: Document) -> Document:
    ents = {e.id: e for e in doc.entities}
    keep = [e.model_copy(update={"label": DEFAULT_TO_CONLL[e.label]}) for e in doc.entities if e.label in DEFAULT_TO_CONLL]
    kept_ids = {e.id for e in keep}
    rels = []
    for r in doc.relations:
        if r.head not in kept_ids or r.tail not in kept_ids:
            continue
        if r.label == "works_for":
            rels.append(r.model_copy(update={"label": "Work_For"}))
        elif r.label == "located_in" and ents[r.tail].label == "location":
            head = ents[r.head].label
            label = {"organization": "OrgBased_In", "location": "Located_In"}.get(head)
            if label:
                rels.append(r.model_copy(update={"label": label}))
    return doc.model_copy(update={"entities": keep, "relations": rels})


def drop_other(doc: Document) -> Document:
    keep = [e for e in doc.entities if e.label != "Other"]
    ids = {e.id for e in keep}
    rels = [r for r in doc.relations if r.head in ids and r.tail in ids]
    return doc.model_copy(update={"entities": keep, "relations": rels})


def zero_shot(encoder, limit) -> dict:
    gold = load_dataset("conll04", "test")[:limit]
    texts, ids = [d.text for d in gold], [d.id for d in gold]
    schema = unseen_schema()
    prompts = [t.prompt for t in (*schema.entity_types, *schema.relation_types)]
    seen = sorted(set(prompts) & encoder.known_labels)
    unseen = f1s(gold, encoder.predict(texts, schema, ids=ids), schema)
    unseen["prompts_seen_in_training"] = seen
    print(f"zero-shot (unseen paraphrased prompts)   entity F1 {unseen['entity_f1']:6.2f}  "
          f"relation F1 {unseen['relation_f1']:6.2f}  (prompts seen in training: {seen or 'none'})")
    default = load_schema("default")
    pred = [map_default(d) for d in encoder.predict(texts, default, ids=ids)]
    conll = load_schema("conll04")
    mapped = f1s([drop_other(d) for d in gold], pred, conll)
    overlap = sorted({t.prompt for t in (*default.entity_types, *default.relation_types)} & encoder.known_labels)
    mapped["default_prompts_seen_in_training"] = overlap
    print(f"default schema on conll04 (mapped, no Other) entity F1 {mapped['entity_f1']:6.2f}  "
          f"relation F1 {mapped['relation_f1']:6.2f}  (default prompts also seen in training: {overlap})")
    return {"unseen_prompts": unseen, "default_schema_mapped": mapped}


def matmul_flops(n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t)


def matmul_flops_on(device: torch.device, precision: str, n: int = 8192, reps: int = 20) -> float:
    """FLOP/s of a large matmul on an accelerator, in the dtype the encoder autocasts to."""
    dtype = {"fp16": torch.float16, "fp32": torch.float32}.get(precision, torch.bfloat16)
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    torch.cuda.synchronize(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def model_flops_per_sentence(encoder, texts, schema) -> tuple[float, float]:
    """2 * (non-embedding params) * tokens + attention (4 * layers * seq^2 * d) per sentence,
    plus the span head (per word: two d x d projections; per span that fits in the sentence:
    one d x d layer and one dot per label). The relation head is not counted. Returns (FLOPs per
    sentence, mean tokens per sentence)."""
    from hybrid_ie.chunking import word_spans

    model = encoder.model
    cfg = model.backbone.config
    d, layers = cfg.hidden_size, cfg.num_hidden_layers
    params = sum(p.numel() for n, p in model.backbone.named_parameters() if "embeddings" not in n)
    ent_prompts = [t.prompt for t in schema.entity_types]
    rel_prompts = [t.prompt for t in schema.relation_types]
    total, tokens = 0.0, 0
    for text in texts:
        words = [text[s:e] for s, e in word_spans(text)]
        seq = len(encoder.inputs.encode(words, ent_prompts, rel_prompts).input_ids)
        n_spans = sum(min(model.config.max_width, len(words) - i) for i in range(len(words)))
        total += 2 * params * seq + 4 * layers * seq * seq * d
        total += 2 * len(words) * 2 * d * d + n_spans * (2 * d * d + 2 * d * len(ent_prompts))
        tokens += seq
    return total / len(texts), tokens / len(texts)


def throughput(encoder, batch_size) -> dict:
    schema = load_schema("conll04")
    texts = [d.text for d in load_dataset("conll04", "test")]
    encoder.predict(texts[:16], schema, batch_size=batch_size)  # warm-up
    t = time.perf_counter()
    encoder.predict(texts, schema, batch_size=batch_size)
    elapsed = time.perf_counter() - t
    mm = matmul_flops() if encoder.device.type == "cpu" else matmul_flops_on(encoder.device, encoder.precision)
    per_sentence, mean_tokens = model_flops_per_sentence(encoder, texts, schema)
    achieved = per_sentence * len(texts) / elapsed
    out = {
        "sentences": len(texts),
        "batch_size": batch_size,
        "seconds": round(elapsed, 2),
        "sentences_per_s": round(len(texts) / elapsed, 1),
        "mean_tokens": round(mean_tokens, 1),
        "model_gflop_per_sentence": round(per_sentence / 1e9, 3),
        "matmul_gflop_s": round(mm / 1e9, 1),
        "achieved_gflop_s": round(achieved / 1e9, 1),
        "achieved_over_matmul": round(achieved / mm, 3),
        "loadavg_1min": round(os.getloadavg()[0], 2),
    }
    where = f"{torch.get_num_threads()} threads" if encoder.device.type == "cpu" else str(encoder.device)
    print(f"throughput conll04 test: {out['sentences_per_s']} sentences/s ({len(texts)} in {out['seconds']} s, "
          f"batch {batch_size}, {where}, precision {encoder.precision}, quantize {encoder.quantization}, "
          f"load avg {out['loadavg_1min']})")
    print(f"  model {out['model_gflop_per_sentence']} GFLOP/sentence ({out['mean_tokens']} tokens) -> "
          f"{out['achieved_gflop_s']} GFLOP/s achieved; matmul {out['matmul_gflop_s']} GFLOP/s; "
          f"ratio {out['achieved_over_matmul']}")
    return out


def calibration(encoder, limit) -> dict:
    schema = load_schema("conll04")
    gold = load_dataset("conll04", "test")[:limit]
    cfg = encoder.config
    fitted = (cfg.entity_temperature, cfg.relation_temperature, cfg.entity_shift, cfg.relation_shift)
    reset_scaling(cfg)
    try:  # raw scores; the same items rescaled give the calibrated ECE
        pred = encoder.predict([d.text for d in gold], schema, ids=[d.id for d in gold], candidate_floor=0.05)
    finally:
        cfg.entity_temperature, cfg.relation_temperature, cfg.entity_shift, cfg.relation_shift = fitted
    report = summarise(collect(gold, pred, schema), *fitted)
    print(f"ECE conll04 test (items with raw score >= 0.05): entities {report['entity_ece_before']:.4f} -> "
          f"{report['entity_ece_after']:.4f} (T={fitted[0]:.3f}, b={fitted[2]:.3f}); relations "
          f"{report['relation_ece_before']:.4f} -> {report['relation_ece_after']:.4f} "
          f"(T={fitted[1]:.3f}, b={fitted[3]:.3f})")
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--datasets", default="conll04,scierc,ade")
    parser.add_argument("--limit", type=int, default=None, help="first N test sentences (quick runs)")
    parser.add_argument("--skip", default="", help="comma list of parts to skip: accuracy,zeroshot,speed,ece")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--dtype", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                        help="autocast dtype (auto: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--quantize", default="none", choices=("none", "int8"), help="int8: the CPU int8 path")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    t = time.perf_counter()
    encoder = JointEncoder.from_pretrained(args.model, device=args.device, quantize=args.quantize)
    encoder.precision = args.dtype
    load_s = time.perf_counter() - t
    print(f"model {args.model or 'shipped'}: loaded in {load_s:.2f} s on {encoder.device}")
    results: dict = {"model": args.model or "shipped", "load_s": round(load_s, 2), "threads": args.threads,
                     "device": str(encoder.device), "dtype": args.dtype, "quantize": args.quantize}
    if "accuracy" not in skip:
        results["test"] = accuracy(encoder, args.datasets.split(","), args.limit)
    if "zeroshot" not in skip:
        results["zero_shot"] = zero_shot(encoder, args.limit)
    if "speed" not in skip:
        results["throughput"] = throughput(encoder, args.batch_size)
    if "ece" not in skip:
        results["ece"] = calibration(encoder, args.limit)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results["peak_rss_mb"] = round(rss_kb / 1024, 1)
    print(f"peak RSS {results['peak_rss_mb']} MB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
