"""`hybrid-ie benchmark`: encoder-only, LLM-only and hybrid at each escalation budget on the same
documents; writes report.md, report.json, PNG figures and the predictions (preds/) to a folder.
`hybrid-ie benchmark --suite NAME` runs a suite of data sets with the encoder alone instead
(`suite_cmds`). An option that `BenchmarkConfig` has defaults to None, "not given": the config's
default applies (`hybrid_ie.benchmark.runner`, the one place it is written)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hybrid_ie.cli.common import err_console, user_errors
from hybrid_ie.cli.options import Escalation, LLMConfigFile, LLMScore, Model, Nested, Rank, Reconcile, given


def _split_list(value: str, what: str) -> list[str]:
    from hybrid_ie.errors import InputError

    items = [x.strip() for x in value.split(",") if x.strip()]
    if not items:
        raise InputError(f"{what}: give a comma-separated list, got {value!r}")
    return items


def _budgets(value: str) -> tuple[float, ...]:
    from hybrid_ie.errors import InputError

    out = []
    for item in _split_list(value, "--budgets"):
        try:
            out.append(float(item))
        except ValueError as exc:
            raise InputError(f"--budgets: {item!r} is not a number") from exc
    return tuple(out)


def _command_line(options: dict[str, object]) -> str:
    """The command that reproduces this run, every option spelt out (recorded in the report;
    `options` hold the config's values where an option was left to its default)."""
    words = ["hybrid-ie", "benchmark"]
    for name, value in options.items():
        if value is None or name in ("output", "progress"):
            continue
        if name == "nested":
            words.append("--nested" if value else "--flat")
            continue
        if value is False:
            continue
        if name == "split" and Path(str(options["dataset"])).exists():
            continue
        flag = "--" + name.replace("_", "-")
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join([*words, "-o", str(options["output"])])


def benchmark(
    ctx: typer.Context,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Report folder (e.g. eval/reports/conll04).")
    ],
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Data set name (conll04, scierc, ade) or a SpERT JSON / JSONL file of gold Documents.",
        ),
    ] = None,
    suite: Annotated[
        str | None,
        typer.Option(
            "--suite",
            help="Run a suite of data sets with the encoder alone instead of --dataset (e.g. zero-shot; "
            "see eval/ZERO_SHOT.md). Applies: --model, --split, --limit, --threads, --data, --batch-size.",
        ),
    ] = None,
    split: Annotated[
        str, typer.Option("--split", help="Split, when --dataset is a name; with --suite: test or dev.")
    ] = "test",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N documents.")] = None,
    modes: Annotated[
        str | None,
        typer.Option(
            "--modes", help="Comma-separated: encoder,llm,hybrid (default: all three; with --capture alone: encoder)."
        ),
    ] = None,
    budgets: Annotated[
        str | None,
        typer.Option("--budgets", help="Hybrid escalation budgets (fractions of chunks), comma-separated."),
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed for torch and the error-example sample.")] = None,
    model: Model = None,
    llm_config: LLMConfigFile = None,
    schema: Annotated[
        str | None, typer.Option("--schema", help="Schema name or file (default: the one named like the data set, else the one its types.json describes).")
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Documents per pipeline batch.", min=1)] = None,
    nested: Nested = None,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration",
            help="Where to measure encoder calibration: 'auto' (the dev split beside the data), "
            "a name:split or file, or 'none'.",
        ),
    ] = None,
    examples: Annotated[int | None, typer.Option("--examples", help="Error examples per kind and mode.")] = None,
    labelled_examples: Annotated[
        str | None,
        typer.Option("--labelled-examples", help="Labelled documents of another split (name:split or file): LLM and "
                     "hybrid runs show a few to the LLM as demonstrations; hybrid runs measure competence on them "
                     "(--escalation competence becomes the default)."),
    ] = None,
    labelled_limit: Annotated[
        int | None, typer.Option("--labelled-limit", help="How many labelled examples, drawn at random (default 20).",
                                 min=1),
    ] = None,
    resume: Annotated[
        bool | None,
        typer.Option(
            "--resume",
            help="Re-use runs an earlier invocation finished in the same folder with the same documents, "
            "models and settings (their numbers are the ones measured then).",
        ),
    ] = None,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Progress bars on stderr.")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Torch CPU threads (default: torch's choice).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Data folder for --suite (default: $HYBRID_IE_DATA).")
    ] = None,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            help="Oracle LLMs instead of the configured one, comma-separated: 'oracle' (answers the gold) or "
            "'oracle:P' (gold with noise P). Evaluation only: they read the gold; rows are labelled so.",
        ),
    ] = None,
    capture: Annotated[
        bool | None,
        typer.Option(
            "--capture",
            help="Measure the router's error capture (share of encoder errors in escalated chunks, router vs "
            "random vs ideal) without any LLM; alone it runs the encoder only. Always done with hybrid runs.",
        ),
    ] = None,
    reconcile: Reconcile = None,
    escalation: Escalation = None,
    llm_score: LLMScore = None,
    rank: Rank = None,
) -> None:
    """Compare encoder-only, LLM-only and hybrid (at each budget) on the same documents, or run a
    suite of data sets with the encoder alone (--suite)."""
    from hybrid_ie.benchmark import BenchmarkConfig, run_benchmark, write_report
    from hybrid_ie.errors import InputError

    if suite is not None:
        from hybrid_ie.cli.suite_cmds import run_suite_command

        run_suite_command(ctx)
        return
    with user_errors():
        if dataset is None:
            raise InputError("give --dataset (one data set, all modes) or --suite (e.g. zero-shot)")
        from hybrid_ie.benchmark.plots import require_pyplot

        require_pyplot()  # the report's figures: a missing `bench` extra stops the run before it starts
        if data is not None:
            raise InputError("--data applies only with --suite")
        if threads is not None:
            if threads < 1:
                raise InputError(f"--threads must be at least 1, got {threads}")
            import torch

            torch.set_num_threads(threads)
        if reconcile is not None:
            from hybrid_ie.reconcile import check_strategy

            check_strategy(reconcile)
        llms = tuple(_split_list(llm, "--llm")) if llm is not None else ()
        if modes is None:
            modes = "encoder,hybrid" if capture and llms else "encoder" if capture else "encoder,llm,hybrid"
        source = dataset if Path(dataset).exists() else f"{dataset}:{split}"
        options = given(budgets=_budgets(budgets) if budgets is not None else None, seed=seed, batch_size=batch_size,
                        nested=nested, examples_per_kind=examples, progress=progress, resume=resume, capture=capture,
                        labelled_examples=labelled_examples, labelled_limit=labelled_limit)
        if calibration is not None:  # "none": measure no calibration
            options["calibration_source"] = None if calibration.lower() == "none" else calibration
        config = BenchmarkConfig(
            source=source,
            output_dir=output,
            schema=schema,
            modes=tuple(_split_list(modes, "--modes")),
            limit=limit,
            model=model,
            llm_config=str(llm_config) if llm_config else None,
            llms=llms,
            reconcile=reconcile,
            escalation=escalation,
            rank=rank,
            llm_score=llm_score,
            **options,
        )
        effective = {"budgets": ",".join(f"{b:g}" for b in config.budgets), "seed": config.seed,
                     "batch_size": config.batch_size, "calibration": config.calibration_source or "none",
                     "examples": config.examples_per_kind}  # fmt: skip
        config.command = _command_line({**ctx.params, **effective})
        report = run_benchmark(config)
        written = write_report(report, output)

    out = Console()
    table = Table(title=f"{report['dataset']['source']}: {report['dataset']['documents']} documents")
    for name in ("run", "escalated", "ent F1", "rel F1", "LLM calls", "stand-alone s"):
        table.add_column(name, justify="left" if name == "run" else "right")
    for run in report["runs"]:
        cost = run["cost"]
        table.add_row(
            run.get("label") or run["name"],
            f"{cost['escalation_rate']:.1%}",
            f"{100 * run['scores']['entities']['strict']['f1']:.2f}",
            f"{100 * run['scores']['relations']['strict']['f1']:.2f}",
            str(cost["llm_calls"]),
            "–" if cost["standalone_s"] is None else f"{cost['standalone_s']:.1f}",
        )
    out.print(table)
    for kind in ("entities", "relations"):
        out.print(report["verdict"][kind]["statement"], highlight=False)
    if report.get("capture"):
        out.print(capture_summary(report["capture"]), highlight=False)
    err_console.print(f"wrote {', '.join(str(p) for p in written.values())}")


def capture_summary(capture: dict) -> str:
    """One line per budget: the share of encoder errors the router's chunks hold, against random and ideal."""
    lines = ["error capture (share of encoder errors in escalated chunks): budget router / random / ideal"]
    for r, m, i in zip(capture["curves"]["router"], capture["curves"]["random"], capture["curves"]["ideal"],
                       strict=True):  # fmt: skip
        ratio = capture["router_over_random"].get(f"{r['budget']:g}")
        lines.append(
            f"  {r['budget']:g}: {r['share']['all']:.1%} / {m['share']['all']:.1%} / {i['share']['all']:.1%}"
            + (f"  (router {ratio:.2f}x random)" if ratio else "")
        )
    position = capture["auc"].get("position")
    if position is not None:
        lines.append(f"  router position between random (0) and ideal (1): {position:.2f}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("benchmark")(benchmark)
