"""`hybrid-ie benchmark --suite NAME`: a suite of data sets (e.g. the zero-shot protocol of
eval/ZERO_SHOT.md) evaluated by the encoder alone; writes report.md, report.json and preds/.
The options live on the `benchmark` command (benchmark_cmds); this module runs the suite."""

from __future__ import annotations

import shlex

import typer
from rich.console import Console

from hybrid_ie.cli.common import compact_table, err_console, user_errors

# the `benchmark` options a suite run reads; any other given on the command line is an error
# the columns of suite_report.SUITE_HEADER, in two lines to fit a terminal
CONSOLE_HEADER = (
    "set", "split", "sents", "labels", "ent\nP", "ent\nR", "ent\nF1", "ent F1\nbound.", "rel\nF1",
    "rel F1\nbound.", "sent/s",
)  # fmt: skip
SUITE_OPTIONS = ("suite", "model", "split", "limit", "threads", "data", "batch_size", "output", "progress")


def _given(ctx: typer.Context, name: str) -> bool:
    """True when the option was given (command line or environment), not left at its default.
    Compared by name: typer may carry its own copy of click's ParameterSource enum."""
    return getattr(ctx.get_parameter_source(name), "name", None) in ("COMMANDLINE", "ENVIRONMENT", "PROMPT")


def suite_command_line(ctx: typer.Context) -> str:
    """The command that reproduces this suite run (recorded in the report)."""
    p = ctx.params
    words = ["hybrid-ie", "benchmark", "--suite", str(p["suite"])]
    if p["model"] is not None:
        words += ["--model", str(p["model"])]
    words += ["--split", p["split"]]
    for name in ("limit", "threads", "data"):
        if p[name] is not None:
            words += [f"--{name}", str(p[name])]
    if _given(ctx, "batch_size"):
        words += ["--batch-size", str(p["batch_size"])]
    return shlex.join([*words, "-o", str(p["output"])])


def run_suite_command(ctx: typer.Context) -> None:
    from hybrid_ie.benchmark import BenchmarkConfig
    from hybrid_ie.benchmark.suite import DEFAULT_BATCH_SIZE, run_suite
    from hybrid_ie.benchmark.suite_report import (
        bar_lines,
        macro_line,
        part_lines,
        skipped_lines,
        suite_rows,
        write_suite_report,
    )
    from hybrid_ie.errors import InputError

    p = ctx.params
    with user_errors():
        extra = [n for n in ctx.params if n not in SUITE_OPTIONS and _given(ctx, n)]
        if extra:
            flags = ", ".join("--" + n.replace("_", "-") for n in extra)
            raise InputError(f"{flags}: not used with --suite (the suite fixes data, labels and decoding)")
        if p["split"] not in ("test", "dev"):
            raise InputError(f"--split with --suite: test or dev, got {p['split']!r}")
        report = run_suite(
            p["model"],
            suite=p["suite"],
            split=p["split"],
            limit=p["limit"],
            root=p["data"],
            threads=p["threads"],
            output_dir=p["output"],
            batch_size=p["batch_size"] if _given(ctx, "batch_size") else DEFAULT_BATCH_SIZE,
            progress=BenchmarkConfig.progress if p["progress"] is None else p["progress"],
            command=suite_command_line(ctx),
        )
        written = write_suite_report(report, p["output"])

    out = Console()
    title = f"suite {report['suite']} ({report['split']}): {report['model']['identity']}"
    out.print(compact_table(title, CONSOLE_HEADER, suite_rows(report), left=2))
    for line in [*skipped_lines(report), macro_line(report), *part_lines(report)]:
        out.print(line, highlight=False, markup=False)
    for line in bar_lines(report):
        out.print(line, highlight=False)
    err_console.print(f"wrote {', '.join(str(x) for x in written.values())} and {p['output']}/preds/")
