"""fp32 vs int8 encoder on conll04 test, in one run: speed, accuracy, and the fp32 FLOP ratio.

    python eval/bench_quantize.py [--model models/hybrid-ie-minilm-zs] [--threads 2] [--rounds 3] [--json out.json]

Loads the checkpoint twice (fp32, and `--quantize int8`), then times full passes over the 288
test sentences interleaved (fp32, int8, fp32, int8, ...) so that load on a shared machine hits
both alike; the median pass of each counts. Prints sentences/s of each and their ratio, strict
entity / relation F1 of each, the fp32 FLOP ratio (model FLOPs per second over a 2048^3 fp32
matmul's, as in bench_encoder.py), the int8-over-fp32 ratio of a bare 2048^3 matmul (the
ceiling the CPU's int8 units allow), threads and load averages, and whether the issue-12 bars
are met (int8 >= 1.5x fp32 with both F1 within 0.5 points; fp32 >= 0.65 of the FLOP limit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from bench_encoder import f1s, matmul_flops, model_flops_per_sentence

from hybrid_ie.datasets import load_dataset
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.schema import load_schema

SPEED_BAR, F1_BAR, FLOP_BAR = 1.5, 0.5, 0.65


def int8_matmul_ops(n: int = 2048, reps: int = 5) -> float:
    """int8 x int8 -> int32 ops/s of torch._int_mm (the kernel Int8Linear uses)."""
    a = torch.randint(-127, 128, (n, n), dtype=torch.int8)
    b = torch.randint(-127, 128, (n, n), dtype=torch.int8).t()
    torch._int_mm(a, b)
    t = time.perf_counter()
    for _ in range(reps):
        torch._int_mm(a, b)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="timed passes of each variant (interleaved)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    schema = load_schema("conll04")
    gold = load_dataset("conll04", "test")
    texts, ids = [d.text for d in gold], [d.id for d in gold]
    encoders = {
        "fp32": JointEncoder.from_pretrained(args.model, device="cpu"),
        "int8": JointEncoder.from_pretrained(args.model, device="cpu", quantize="int8"),
    }
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    preds: dict[str, list] = {}
    for encoder in encoders.values():
        encoder.predict(texts[:32], schema, batch_size=args.batch_size)  # warm-up
    for r in range(args.rounds):
        for name, encoder in encoders.items():
            t = time.perf_counter()
            preds[name] = encoder.predict(texts, schema, ids=ids, batch_size=args.batch_size)
            seconds[name].append(time.perf_counter() - t)
            print(f"round {r + 1} {name}: {len(texts) / seconds[name][-1]:.1f} sentences/s "
                  f"(load avg {os.getloadavg()[0]:.2f})", flush=True)
    mm, mm8 = matmul_flops(), int8_matmul_ops()
    per_sentence, mean_tokens = model_flops_per_sentence(encoders["fp32"], texts, schema)
    out: dict = {"model": args.model or "shipped", "threads": args.threads, "batch_size": args.batch_size,
                 "rounds": args.rounds, "sentences": len(texts)}
    for name in encoders:
        median = statistics.median(seconds[name])
        out[name] = {"sentences_per_s": round(len(texts) / median, 1),
                     "seconds_per_round": [round(s, 2) for s in seconds[name]],
                     **f1s(gold, preds[name], schema)}
    fp32, int8 = out["fp32"], out["int8"]
    out["speedup"] = round(int8["sentences_per_s"] / fp32["sentences_per_s"], 2)
    out["entity_f1_delta"] = round(int8["entity_f1"] - fp32["entity_f1"], 2)
    out["relation_f1_delta"] = round(int8["relation_f1"] - fp32["relation_f1"], 2)
    achieved = per_sentence * len(texts) / statistics.median(seconds["fp32"])
    out["fp32_flops"] = {"model_gflop_per_sentence": round(per_sentence / 1e9, 3), "mean_tokens": round(mean_tokens, 1),
                         "achieved_gflop_s": round(achieved / 1e9, 1), "matmul_gflop_s": round(mm / 1e9, 1),
                         "achieved_over_matmul": round(achieved / mm, 3)}
    out["int8_matmul_gop_s"] = round(mm8 / 1e9, 1)
    out["int8_over_fp32_matmul"] = round(mm8 / mm, 2)
    out["loadavg_before"] = [round(x, 2) for x in load_before]
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    report(out)
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return out


def report(out: dict) -> None:
    fp32, int8, flops = out["fp32"], out["int8"], out["fp32_flops"]
    print(f"\nconll04 test, {out['sentences']} sentences, batch {out['batch_size']}, {out['threads']} threads, "
          f"median of {out['rounds']} interleaved passes; load avg before {out['loadavg_before']}, "
          f"after {out['loadavg_after']}")
    for name, row in (("fp32", fp32), ("int8", int8)):
        print(f"  {name}: {row['sentences_per_s']:7.1f} sentences/s   entity F1 {row['entity_f1']:6.2f}   "
              f"relation F1 {row['relation_f1']:6.2f}")
    print(f"  int8 / fp32 speed {out['speedup']:.2f}x; F1 delta entity {out['entity_f1_delta']:+.2f}, "
          f"relation {out['relation_f1_delta']:+.2f}")
    print(f"  fp32: {flops['model_gflop_per_sentence']} GFLOP/sentence ({flops['mean_tokens']} tokens) -> "
          f"{flops['achieved_gflop_s']} GFLOP/s; fp32 matmul {flops['matmul_gflop_s']} GFLOP/s; "
          f"ratio {flops['achieved_over_matmul']}")
    print(f"  bare 2048^3 matmul: int8 {out['int8_matmul_gop_s']} GOP/s = {out['int8_over_fp32_matmul']}x fp32 "
          "(the ceiling of the int8 speed-up on this CPU)")
    speed_ok = out["speedup"] >= SPEED_BAR
    f1_ok = abs(out["entity_f1_delta"]) <= F1_BAR and abs(out["relation_f1_delta"]) <= F1_BAR
    print(f"  bar int8 >= {SPEED_BAR}x: {'met' if speed_ok else 'NOT met'} ({out['speedup']:.2f}x); "
          f"F1 within {F1_BAR}: {'met' if f1_ok else 'NOT met'}; fp32 FLOP ratio >= {FLOP_BAR}: "
          f"{'met' if flops['achieved_over_matmul'] >= FLOP_BAR else 'NOT met'} ({flops['achieved_over_matmul']})")


if __name__ == "__main__":
    main(sys.argv[1:])
