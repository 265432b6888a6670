"""Time the HTML reader on pathological pages: N nested `<div>`s or N sibling `<div>`s.

    PYTHONPATH=. python eval/bench_html_scaling.py nested:4000 nested:20000 siblings:20000

A linear reader takes about five times as long for five times the elements.
"""

from __future__ import annotations

import sys
import time

from hybrid_ie.readers.html import read


def main(specs: list[str]) -> None:
    read(b"<html><body><p>warm</p></body></html>", "warm-up")
    for spec in specs:
        shape, n = spec.split(":")[0], int(spec.split(":")[1])
        body = "<div>x " * n + "</div>" * n if shape == "nested" else "<div>x</div>" * n
        page = f"<html><head><meta charset='utf-8'></head><body>{body}<p>Mary lives in Paris.</p></body></html>"
        data = page.encode()
        started = time.perf_counter()
        read(data, spec)
        print(f"{shape} {n}: {len(data) / 1024:.0f} KB, {time.perf_counter() - started:.2f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["nested:4000", "nested:20000", "siblings:20000"])
