"""`hybrid-ie extract` (resumable batch extraction) and `hybrid-ie render` (HTML view)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from hybrid_ie.cli.common import err_console, user_errors
from hybrid_ie.cli.options import (
    EXTRACTOR,
    Escalation,
    LLMConfigFile,
    LLMScore,
    Model,
    Nested,
    Rank,
    Reconcile,
    given,
    label_options_schema,
)
from hybrid_ie.datasets import load_documents
from hybrid_ie.engines import DEFAULT_ENGINE, ENGINES
from hybrid_ie.engines.ray import RayOptions
from hybrid_ie.job_inputs import BAD_UTF8_POLICIES, ON_BAD_UTF8
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
from hybrid_ie.router import DEFAULT_BUDGET, MEASURED_WEAK_BUDGET

RAY = RayOptions()


class _Rate(ProgressColumn):
    """Recent chunks (documents with --engine ray) per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}/s" if speed else "-/s")


def _progress_bar(enabled: bool) -> Progress:
    """The bar of `extract`: chunks (documents with --engine ray) done out of all, their rate,
    documents done, escalation, LLM tokens, failures."""
    return Progress(
        TextColumn("[bold]extract[/]"),
        BarColumn(bar_width=20),
        TextColumn("{task.completed:.0f}/{task.total:.0f} {task.fields[unit]}"),
        _Rate(),
        TextColumn("docs {task.fields[docs]}/{task.fields[total_docs]}"),
        TextColumn("escalated {task.fields[escalation]:.0%}"),
        TextColumn("tokens {task.fields[tokens]:,}"),
        TextColumn("failed {task.fields[failures]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=not enabled,
    )


def _pending_chunks(texts: list, output: Path, resume: bool, max_words: int) -> int:
    """Chunks of the inputs this run will extract (on resume, not those of finished documents);
    document files are not read yet: their chunks join the total as they are written."""
    from hybrid_ie.batch import finished_documents
    from hybrid_ie.chunking import chunk_text
    from hybrid_ie.job_output import partial_path

    target = partial_path(output) if partial_path(output).exists() else output
    done = {str(obj.get("id")) for obj in finished_documents(target)} if resume else set()
    return sum(len(chunk_text(t.text, max_words)) for t in texts
               if t.id not in done and t.error is None and t.path is None)  # fmt: skip


def extract(
    inputs: Annotated[
        list[Path], typer.Argument(
            metavar="INPUT...",
            help=".txt, .pdf, .html, .docx, .parquet files, folders of them, or JSONL of {id, text} (documents: the "
            "docs extra; Parquet, a text and an optional id column: the ray extra).",
        )
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Output JSONL (one Document per line); --engine ray: a folder of shards.")
    ],
    schema: Annotated[
        str | None, typer.Option("--schema", help=f"Schema name or JSON file (default {EXTRACTOR['schema']}).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option("--labels", help="Entity labels, comma-separated, instead of --schema "
                                 "(\"person,organization,city\").")
    ] = None,
    relations: Annotated[
        str | None, typer.Option("--relations", help="With --labels: relation labels, comma-separated "
                                 "(\"works for,located in\").")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help=f"auto (hybrid when an LLM is set up, else encoder) | encoder | llm | hybrid "
                     f"(default {EXTRACTOR['mode']})."),
    ] = None,
    model: Model = None,
    quantize: Annotated[
        str | None, typer.Option("--quantize", help="none | int8 (encoder Linear layers in int8 on CPU; see README; "
                                 f"default {EXTRACTOR['quantize']}).")
    ] = None,
    budget: Annotated[
        float | None,
        typer.Option("--budget", help=f"Hybrid: fraction of chunks that may go to the LLM (0..1; default "
                     f"{DEFAULT_BUDGET:g}; with --labelled-examples, {MEASURED_WEAK_BUDGET:g} when they show the "
                     "LLM better on some label).", min=0.0, max=1.0),
    ] = None,
    escalate_all: Annotated[
        bool, typer.Option("--escalate-all", help="Hybrid: every chunk wants the LLM (with --budget 1: always).")
    ] = False,
    max_llm_tokens: Annotated[
        int | None, typer.Option("--max-llm-tokens", help="Hybrid: LLM token cap per batch.", min=1)
    ] = None,
    escalation: Escalation = None,
    rank: Rank = None,
    silver_out: Annotated[
        Path | None, typer.Option("--silver-out", help="Hybrid: write the escalated chunks' answers as a silver set "
                                  "for `hybrid-ie distill --silver`.")
    ] = None,
    reconcile: Reconcile = None,
    llm_score: LLMScore = None,
    examples: Annotated[
        str | None,
        typer.Option("--labelled-examples", help="Hybrid, --escalation competence (its default with examples), or "
                     "--mode llm: labelled documents of your corpus (JSONL of Documents with gold, a SpERT file, or "
                     "name:split). The LLM's extract prompt shows a few of them (--demonstrations); in the hybrid "
                     "mode the encoder and the LLM both read them once, and each label's trust comes from that "
                     "measurement."),
    ] = None,
    demonstrations: Annotated[
        int | None,
        typer.Option("--demonstrations", help="With --labelled-examples: how many pieces of them the LLM's extract "
                     f"prompt shows (0: none; default {EXTRACTOR['demonstrations']}).", min=0),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Encoder entity threshold (0..1).", min=0.0, max=1.0)
    ] = None,
    relation_threshold: Annotated[
        float | None,
        typer.Option("--relation-threshold", help="Encoder relation threshold (0..1).", min=0.0, max=1.0),
    ] = None,
    nested: Nested = None,
    llm_config: LLMConfigFile = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue OUT (or a stopped job's OUT.partial): skip the ids already "
                           "written; refused when OUT was made with another schema, mode or model.")
    ] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT (it stays intact until this job finishes).")
    ] = False,
    on_bad_utf8: Annotated[
        str, typer.Option("--on-bad-utf8", help=f"{' | '.join(BAD_UTF8_POLICIES)} (replace: bad bytes become "
                          "U+FFFD, with a warning).")
    ] = ON_BAD_UTF8,
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N input documents.", min=0)] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Documents per pipeline batch.", min=1)] = DEFAULT_BATCH_SIZE,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr: chunks done and their rate.")
    ] = True,
    engine: Annotated[str, typer.Option("--engine", help="local (this process) | ray (a Ray cluster; the ray extra).")]
    = DEFAULT_ENGINE,
    workers: Annotated[int | None, typer.Option("--workers", help=f"Ray: encoder actors (default {RAY.workers}).", min=1)] = None,
    llm_concurrency: Annotated[
        int | None,
        typer.Option("--llm-concurrency", help=f"Ray: LLM requests in flight over the cluster (default {RAY.llm_concurrency}).",
                     min=1),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray: join this cluster (default $RAY_ADDRESS, else start one).")
    ] = None,
    num_cpus: Annotated[int | None, typer.Option("--num-cpus", help="Ray: CPUs of a local instance.", min=1)] = None,
    shard_size: Annotated[
        int | None, typer.Option("--shard-size", help=f"Ray: documents per shard (default {RAY.shard_size}).", min=1)
    ] = None,
    output_format: Annotated[
        str | None, typer.Option("--output-format", help=f"Ray: jsonl | parquet shards (default {RAY.output_format}).")
    ] = None,
    llm: Annotated[
        str | None, typer.Option("--llm", hidden=True, help="Not for extract: the LLM is set by --llm-config.")
    ] = None,
) -> None:
    """Extract entities and relations from texts into a JSONL of Documents (resumable).

    The labels come from --schema (a name or a file) or, for a quick zero-shot run, from
    --labels "person,company" and --relations "works for".

    Every setting is checked (the LLM first, then the inputs, the encoder and the LLM client)
    before the output is touched; the output is locked while the job runs. Exit status: 0, 2 for
    a usage or configuration error, 1 when every document of this run failed."""
    from hybrid_ie.engines import extract_dataset
    from hybrid_ie.errors import InputError
    from hybrid_ie.job_inputs import collect_inputs
    from hybrid_ie.job_output import check_output_path
    from hybrid_ie.pipeline import Extractor
    from hybrid_ie.router import RoutingPolicy

    with user_errors():
        if llm is not None:
            raise InputError(f"--llm {llm}: an option of benchmark; set extract's LLM with --llm-config or HYBRID_IE_LLM_*")
        ray_options = {"workers": workers, "llm_concurrency": llm_concurrency, "address": address,
                       "num_cpus": num_cpus, "shard_size": shard_size, "output_format": output_format}  # fmt: skip
        ray_options = {k: v for k, v in ray_options.items() if v is not None}
        if engine not in ENGINES:
            raise InputError(f"--engine {engine}: choose one of {', '.join(ENGINES)}")
        if engine == "local" and ray_options:
            names = ", ".join("--" + k.replace("_", "-") for k in ray_options)
            raise InputError(f"{names}: options of --engine ray")
        if resume and overwrite:
            raise InputError("--resume and --overwrite exclude each other")
        check_output_path(output, folder=engine == "ray")
        if labels is not None or relations is not None:
            schema = label_options_schema(schema, labels, relations)
        if engine == "ray":
            from hybrid_ie.engines.ray import RayOptions, require_ray

            require_ray()
            RayOptions(**ray_options)  # bad values fail before the inputs are read
        policy = RoutingPolicy(**given(escalate_all=escalate_all or None, max_llm_tokens=max_llm_tokens,
                                       escalation=escalation or ("competence" if examples else None),
                                       rank=rank, budget=budget))  # fmt: skip
        if demonstrations is not None and not examples:
            raise InputError("--demonstrations: the demonstrations are pieces of --labelled-examples; give those too")
        mode = mode or EXTRACTOR["mode"]
        llm = None
        if mode != "encoder":
            from hybrid_ie.llm import LLMConfig

            llm = LLMConfig.load(llm_config)
        extractor = Extractor(  # resolves the mode: hybrid without a usable LLM stops here, before the inputs
            encoder=model, llm=llm, policy=policy, mode=mode,
            **given(schema=schema, reconcile=reconcile, llm_score=llm_score, threshold=threshold,
                    relation_threshold=relation_threshold, nested=nested, quantize=quantize,
                    examples=load_documents(examples) if examples else None, demonstrations=demonstrations),
        )  # fmt: skip
        mode = extractor.mode
        llm = llm if mode != "encoder" else None
        texts, warnings = collect_inputs(inputs, on_bad_utf8)
        for warning in warnings:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
        if limit is not None:
            texts = texts[:limit]
        settings = {
            "schema": extractor.schema.name,
            "schema_fingerprint": extractor.schema.fingerprint,
            "mode": mode,
            "model": model,
            "quantize": extractor.quantize,
            "llm_model": f"{llm.backend}:{llm.model}" if llm is not None else None,
            "budget": extractor.policy.budget if mode == "hybrid" else None,  # None: picked by the measurement (below)
            "escalate_all": escalate_all,
            "escalation": policy.escalation.name if mode == "hybrid" else None,
            "reconcile": extractor.strategy if mode == "hybrid" else None,
            "llm_score": extractor.llm_score if mode != "encoder" else None,
            "inputs": [str(p) for p in inputs],
            "limit": limit,
            "batch_size": batch_size,
        }
        by_chunks = engine == "local"  # Ray workers run the Extractor elsewhere: documents there
        total = _pending_chunks(texts, output, resume, extractor.max_chunk_words) if by_chunks else len(texts)
        with _progress_bar(progress) as bar:
            task = bar.add_task("extract", total=total, unit="chunks" if by_chunks else "docs", docs=0,
                                total_docs=len(texts), escalation=0.0, tokens=0, failures=0)  # fmt: skip
            if by_chunks:
                extractor.on_chunks = lambda n: bar.advance(task, n)

            lazy = {t.id for t in texts if t.path is not None}  # document files, read as their batch fills

            def advance(doc, summary) -> None:
                if by_chunks and doc.id in lazy:
                    bar.update(task, total=bar.tasks[task].total + doc.meta.get("pipeline", {}).get("chunks", 0))
                done = summary.skipped_as_done + summary.processed_this_run
                bar.update(task, docs=done, escalation=summary.escalation_rate, tokens=summary.llm_tokens,
                           failures=summary.failures, **({} if by_chunks else {"completed": done}))  # fmt: skip

            summary = extract_dataset(
                texts,
                output,
                extractor,
                engine=engine,
                resume=resume,
                overwrite=overwrite,
                batch_size=batch_size,
                on_document=advance,
                settings=settings,
                warnings=warnings,
                **ray_options,
            )
    measured: dict = {}  # what the run measured (local engine: the Extractor ran here)
    if by_chunks and mode == "hybrid":
        if settings["budget"] is None and extractor.policy.budget is not None:
            measured["budget"] = extractor.policy.budget  # the one the measurement on the examples picked
        if extractor.competence is not None:
            measured["competence"] = extractor.competence.to_meta()  # per label: estimates, calls, their noise
    if measured:
        from hybrid_ie.batch import write_summary

        summary.settings.update(measured)
        write_summary(output, summary)
    for warning in summary.warnings[len(warnings) :]:
        err_console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    if summary.torn_bytes_removed:
        err_console.print(f"resume: cut a torn last line ({summary.torn_bytes_removed} bytes) from {output}")
    from hybrid_ie.job_output import summary_path

    keys = ("documents", "processed_this_run", "skipped_as_done", "failures", "chunks", "escalated_chunks",
            "escalation_rate", "llm_calls", "llm_tokens", "wall_s", "docs_per_s")  # fmt: skip
    data = summary.to_dict()
    err_console.print(" · ".join(f"{k}={data[k]}" for k in keys), highlight=False, soft_wrap=True)
    err_console.print(f"wrote {output} and {summary_path(output)}")
    if summary.processed_this_run and summary.failed_this_run == summary.processed_this_run:
        err_console.print(f"[bold red]error:[/] every document of this run failed ({summary.failed_this_run}); "
                          f"see their error fields in {escape(str(output))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1)
    if silver_out is not None:
        from hybrid_ie.distill.silver import harvest_file

        with user_errors():
            n = harvest_file(output, silver_out)
        err_console.print(f"wrote {n} escalated chunks to the silver set {silver_out}")


def render(
    source: Annotated[Path, typer.Argument(metavar="OUT.jsonl", help="JSONL of Documents (e.g. from extract).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="HTML file to write.")],
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N documents.")] = None,
    title: Annotated[str | None, typer.Option("--title", help="Page title (default: the file name).")] = None,
) -> None:
    """Render Documents as one self-contained HTML page (labels, nesting, provenance, relations)."""
    from hybrid_ie.render import render_file

    with user_errors():
        n = render_file(source, output, limit=limit, title=title)
    err_console.print(f"rendered {n} documents to {output}")


def register(app: typer.Typer) -> None:
    app.command("extract")(extract)
    app.command("render")(render)


__all__ = ["extract", "register", "render"]
