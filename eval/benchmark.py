"""Thin wrapper: `python eval/benchmark.py ARGS` runs `hybrid-ie benchmark ARGS`.

    python eval/benchmark.py --dataset conll04 --split test --limit 100 -o eval/reports/conll04-test-100

Everything (options, report layout) is documented in `hybrid-ie benchmark --help` and
`hybrid_ie/benchmark/`.
"""

from __future__ import annotations

import sys

from hybrid_ie.cli import app

if __name__ == "__main__":
    # The report records sys.argv as its command: make it the equivalent CLI command.
    sys.argv = ["hybrid-ie", "benchmark", *sys.argv[1:]]
    app(sys.argv[1:], prog_name="hybrid-ie")
