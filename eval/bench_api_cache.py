"""Seconds per `hybrid_ie.extract(...)` call on one sentence in one fresh process: the first call
(loads the encoder) and the calls after it (the encoder comes from the per-process cache).

    python eval/bench_api_cache.py --calls 5 [--mode auto|encoder|hybrid] [--threads 2]

Prints one JSON line: import seconds, first-call seconds, each later call's seconds, their
median, and the median of the bare network call on the same sentence (`encoder.predict`) timed
between them: on a loaded machine the difference is what the API adds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

SENTENCE = "Tim Cook, the chief executive of Apple, spoke in Cupertino."


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", default=None, help="auto | encoder | hybrid (needs a working LLM); default: none "
                        "given, as the README calls hybrid_ie.extract")
    parser.add_argument("--schema", default="conll04")
    parser.add_argument("--calls", type=int, default=5, help="calls after the first")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args()
    started = time.perf_counter()
    import torch

    import hybrid_ie

    if args.threads:
        torch.set_num_threads(args.threads)
    imported = time.perf_counter() - started
    from hybrid_ie.api import cached_encoder

    times, bare = [], []
    for i in range(args.calls + 1):
        t0 = time.perf_counter()
        mode = {"mode": args.mode} if args.mode else {}
        doc = hybrid_ie.extract(SENTENCE, schema=args.schema, **mode)
        times.append(time.perf_counter() - t0)
        if i:
            encoder, schema = cached_encoder(), hybrid_ie.load_schema(args.schema)
            t0 = time.perf_counter()
            encoder.predict([SENTENCE], schema)
            bare.append(time.perf_counter() - t0)
    print(json.dumps({
        "mode": args.mode, "ran_as": doc.meta["pipeline"]["mode"], "schema": args.schema,
        "threads": torch.get_num_threads(), "import_s": round(imported, 3),
        "first_call_s": round(times[0], 3), "later_calls_s": [round(t, 3) for t in times[1:]],
        "second_call_s": round(times[1], 3), "median_later_s": round(statistics.median(times[1:]), 3),
        "median_bare_predict_s": round(statistics.median(bare), 3),
        "entities": [(e.text, e.label) for e in doc.entities],
    }))  # fmt: skip


if __name__ == "__main__":
    main()
