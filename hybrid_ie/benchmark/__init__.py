"""The evaluation harness: extraction modes x escalation budgets on the same documents.

    from hybrid_ie.benchmark import BenchmarkConfig, run_benchmark, write_report
    report = run_benchmark(BenchmarkConfig("conll04:test", "eval/reports/conll04", limit=100))
    write_report(report, "eval/reports/conll04")

`runner` runs the modes and budgets and collects scores and costs, `report` writes report.json
and report.md, `plots` the PNG figures, `calibration_report` the encoder's reliability and ECE,
`examples` the error analysis, `metering` the shared encoder pass and the LLM call accounting.
"""

from hybrid_ie.benchmark.report import build_report, render_markdown, write_report
from hybrid_ie.benchmark.runner import (
    DEFAULT_BUDGETS,
    MODES,
    BenchmarkConfig,
    RunSpec,
    plan_runs,
    run_benchmark,
)

__all__ = [
    "DEFAULT_BUDGETS",
    "MODES",
    "BenchmarkConfig",
    "RunSpec",
    "build_report",
    "plan_runs",
    "render_markdown",
    "run_benchmark",
    "write_report",
]
