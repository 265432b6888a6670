"""The Ray engine against the local engine on the 288 conll04 test sentences: same documents, docs/s.

    python eval/bench_ray.py [--model models/hybrid-ie-minilm-zs] [--workers 1 2] [--modes encoder hybrid]
                             [--batch-size 16] [--num-cpus 2] [--address ADDR] [--json out.json]

For each mode: the local engine (`hybrid_ie.batch.run_job`, in this process, torch threads 1 and
then all `--num-cpus`), then the ray engine with each `--workers` count (one torch thread per
actor) on one local Ray instance started here (`--num-cpus` CPUs, 200 MB object store, no
dashboard) or on the cluster at `--address`. Each run's wall time is the whole job, as
`hybrid-ie extract` reports it: the ray engine's includes starting its actors and loading one
encoder per actor (Ray's own start-up is timed apart). Every ray run's documents are checked
against the local run's (sorted by id; the LLM's measured latency left out); the script exits 1
if any differ.

Hybrid mode (default routing policy, budget 0.2) needs an LLM: the benchmark's oracle server
(`hybrid_ie.benchmark.oracle`, answers from the gold, instantly) on 127.0.0.1, so the timing is
the engines' own work plus HTTP, not an LLM's. It reads the gold: a timing tool only here.

Prints a table: wall time and docs/s of each run; for the ray runs the overhead against the local
engine with as many torch threads as workers (1 worker vs 1 thread, 2 workers vs 2 threads) and
against the faster local run; for every run the time to the first batch written (encoder load,
and for ray the actors' start) and the steady rate after it; and the load average before and
after, which matters on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from hybrid_ie.batch import finished_documents
from hybrid_ie.datasets import load_dataset
from hybrid_ie.engines import extract_dataset
from hybrid_ie.engines.shards import read_shards
from hybrid_ie.pipeline import Extractor
from hybrid_ie.schema import load_schema


def timeless(doc: dict) -> dict:
    usage = (doc.get("meta", {}).get("llm") or {}).get("usage")
    if usage:
        usage.pop("latency_s", None)
    return doc


def documents(path: Path) -> list[dict]:
    docs = read_shards(path) if path.is_dir() else finished_documents(path)
    return sorted(map(timeless, docs), key=lambda d: d["id"])


class Clock:
    """`on_document` callback: when each document was written, in seconds since creation."""

    def __init__(self) -> None:
        self.began, self.times = time.perf_counter(), []

    def __call__(self, _doc, _summary) -> None:
        self.times.append(time.perf_counter() - self.began)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default=None, help="encoder checkpoint folder (default: the shipped one)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--modes", nargs="+", default=["encoder", "hybrid"], choices=["encoder", "hybrid"])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--llm-concurrency", type=int, default=4)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance and local threads")
    parser.add_argument("--address", default=None, help="a running Ray cluster instead of a local instance")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import ray

    from hybrid_ie.benchmark.oracle import OracleServer
    from hybrid_ie.llm import LLMConfig

    load_before = os.getloadavg()
    gold = load_dataset("conll04", "test")
    schema = load_schema("conll04")
    model = str(Path(args.model).resolve()) if args.model else None
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    corpus = work / "conll04-test.jsonl"
    corpus.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in gold), encoding="utf-8")
    started = time.perf_counter()
    if args.address:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    else:
        ray.init(address="local", num_cpus=args.num_cpus, object_store_memory=200 * 1024 * 1024,
                 include_dashboard=False, log_to_driver=False, configure_logging=False)  # fmt: skip
    ray_start_s = time.perf_counter() - started
    print(f"{len(gold)} conll04 test sentences; Ray started in {ray_start_s:.1f} s "
          f"({ray.cluster_resources().get('CPU', 0):g} CPUs); load average before {load_before}", flush=True)  # fmt: skip
    rows, identical = [], True
    with OracleServer(gold, schema) as oracle:
        llm = LLMConfig(backend="openai", model="bench-loopback", base_url=oracle.base_url, cache=False,
                        api_key_env="HYBRID_IE_BENCH_NO_KEY", max_concurrency=args.llm_concurrency)  # fmt: skip
        for mode in args.modes:
            reference, local_wall = None, {}
            for threads in sorted({1, args.num_cpus}):
                torch.set_num_threads(threads)
                extractor = Extractor(schema, encoder=model, llm=llm if mode == "hybrid" else None, mode=mode)
                out = work / f"{mode}-local-{threads}.jsonl"
                clock = Clock()
                summary = extract_dataset([corpus], out, extractor, batch_size=args.batch_size, on_document=clock)
                first = clock.times[args.batch_size - 1]  # the first batch's documents are written together
                docs = documents(out)
                same = reference is None or docs == reference
                reference = reference or docs
                local_wall[threads] = summary.wall_s
                rows.append({"mode": mode, "engine": "local", "parallel": f"{threads} thread(s)", "wall_s": summary.wall_s,
                             "docs_per_s": summary.docs_per_s, "overhead": None, "overhead_vs_best_local": None,
                             "first_batch_s": round(first, 3), "identical": same,
                             "steady_docs_per_s": round((len(gold) - args.batch_size) / (summary.wall_s - first), 2),
                             "escalated_chunks": summary.escalated_chunks, "llm_calls": summary.llm_calls})  # fmt: skip
                print(rows[-1], flush=True)
            for workers in args.workers:
                extractor = Extractor(schema, encoder=model, llm=llm if mode == "hybrid" else None, mode=mode)
                out = work / f"{mode}-ray-{workers}"
                summary = extract_dataset([corpus], out, extractor, engine="ray", batch_size=args.batch_size,
                                          workers=workers, llm_concurrency=args.llm_concurrency)  # fmt: skip
                same = documents(out) == reference
                identical &= same
                base = local_wall.get(workers)
                first = summary.settings["engine"].get("first_batch_s", 0.0)
                after_first = len(gold) - args.batch_size  # the documents after the first batch arrived
                rows.append({"mode": mode, "engine": "ray", "parallel": f"{workers} worker(s)", "wall_s": summary.wall_s,
                             "docs_per_s": summary.docs_per_s, "identical": same,
                             "overhead": round(summary.wall_s / base - 1, 3) if base else None,
                             "overhead_vs_best_local": round(summary.wall_s / min(local_wall.values()) - 1, 3),
                             "first_batch_s": first,
                             "steady_docs_per_s": round(after_first / (summary.wall_s - first), 2),
                             "escalated_chunks": summary.escalated_chunks, "llm_calls": summary.llm_calls,
                             "budget_reruns": summary.settings["engine"]["budget_reruns"]})  # fmt: skip
                print(rows[-1], flush=True)
    ray.shutdown()
    load_after = os.getloadavg()
    print(f"\n{'mode':8} {'engine':6} {'parallel':12} {'wall s':>7} {'docs/s':>7} {'vs local':>9} {'vs best':>8} "
          f"{'1st batch s':>11} {'steady/s':>8} {'escalated':>9} {'identical':>9}")  # fmt: skip

    def pct(x: float | None) -> str:
        return f"{100 * x:+.0f}%" if x is not None else ""

    for r in rows:
        first = f"{r['first_batch_s']:.1f}" if r["first_batch_s"] is not None else ""
        steady = f"{r['steady_docs_per_s']:.1f}" if r["steady_docs_per_s"] is not None else ""
        print(f"{r['mode']:8} {r['engine']:6} {r['parallel']:12} {r['wall_s']:7.2f} {r['docs_per_s']:7.2f} "
              f"{pct(r['overhead']):>9} {pct(r['overhead_vs_best_local']):>8} {first:>11} {steady:>8} "
              f"{r['escalated_chunks']:9d} {r['identical']!s:>9}")  # fmt: skip
    print("(vs local: wall time against the local engine with as many torch threads as workers; vs best: against "
          "the faster local run; 1st batch s: job start to the first batch written (encoder load; ray: + actor start); "
          f"steady/s: documents after the first batch / the time after it; Ray start-up {ray_start_s:.1f} s "
          "not included)")  # fmt: skip
    print(f"load average before {tuple(round(x, 2) for x in load_before)}, after {tuple(round(x, 2) for x in load_after)}"
          f" on {os.cpu_count()} cores")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "ray_start_s": ray_start_s, "load_before": load_before,
                                         "load_after": load_after, "sentences": len(gold)}, indent=2))  # fmt: skip
    if not identical:
        print("ERROR: the ray engine's documents differ from the local engine's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
