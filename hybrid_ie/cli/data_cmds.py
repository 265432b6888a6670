"""Data commands: `convert` (SpERT -> JSONL), `eval` (score predictions against gold) and
`data list` (every set of the data folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hybrid_ie.cli.common import compact_table, err_console, user_errors


def convert(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="Input format; only 'spert' is supported.")],
    input_path: Annotated[Path, typer.Argument(metavar="IN", help="SpERT JSON file.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output JSONL file.")],
) -> None:
    """Convert a dataset file to the hybrid-ie JSONL document format."""
    from hybrid_ie.datasets import read_spert
    from hybrid_ie.document import write_jsonl
    from hybrid_ie.errors import InputError

    with user_errors():
        if fmt.lower() != "spert":
            raise InputError(f"unknown format {fmt!r}; supported: spert")
        docs = read_spert(input_path)
        n = write_jsonl(docs, output)
    err_console.print(f"wrote {n} documents to {output}")


def _rich_table(title: str, header: tuple[str, ...], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 and not name.endswith("%") else "right")
    for row in rows:
        table.add_row(*row)
    return table


def evaluate(
    gold: Annotated[
        str,
        typer.Option(
            "--gold", help="Gold documents: JSONL, a SpERT JSON file, or name:split (e.g. conll04:test)."
        ),
    ],
    pred: Annotated[Path, typer.Option("--pred", help="Predicted documents (JSONL), matched to gold by id.")],
    schema: Annotated[
        str | None,
        typer.Option(
            "--schema",
            help="Schema name or file; only used for its symmetric relations. Without it every relation "
            "is compared with its direction (nothing is guessed from the data set name).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
) -> None:
    """Score predictions against gold: entities (strict, boundary, partial), relations (strict,
    boundary), per label and macro. Gold documents missing from the predictions count as empty
    predictions and are reported."""
    from hybrid_ie.datasets import load_documents
    from hybrid_ie.metrics import score
    from hybrid_ie.metrics.tables import (
        LABEL_HEADER,
        SUMMARY_HEADER,
        coverage_line,
        per_label_rows,
        summary_rows,
    )
    from hybrid_ie.schema import load_schema

    with user_errors():
        symmetric = load_schema(schema).symmetric_relations if schema else set()
        gold_docs = load_documents(gold)
        pred_docs = load_documents(pred)
        report = score(gold_docs, pred_docs, symmetric=symmetric).to_dict()

    if not as_json:
        out = Console()
        out.print(_rich_table("Scores", SUMMARY_HEADER, summary_rows(report)))
        for level in ("entities", "relations"):
            rows = per_label_rows(report, level)
            if rows:
                out.print(_rich_table(f"Per label, {level} (strict)", LABEL_HEADER, rows))
        out.print(coverage_line(report), highlight=False)
        return
    typer.echo(json.dumps(report, ensure_ascii=False))
    docs = report["documents"]
    if docs["missing_in_pred"] or docs["extra_in_pred"]:
        # stdout holds only the JSON object; the coverage still reaches the person at the terminal.
        err_console.print(f"[yellow]warning:[/] {coverage_line(report)}", highlight=False, soft_wrap=True)


data_app = typer.Typer(help="The data sets of the data folder.", no_args_is_help=True)


def set_summary(dataset) -> dict:
    """One data set in numbers: sentences per split (None when missing), mentions of train."""
    from hybrid_ie.datasets import SPLITS

    counts = {s: dataset.count(s) if s in dataset.splits else None for s in SPLITS}
    train = counts["train"] or {}
    return {
        "name": dataset.name,
        "annotation": dataset.annotation,
        "sentences": {s: (c or {}).get("sentences") for s, c in counts.items()},
        "train_entities": train.get("entities"),
        "train_relations": train.get("relations"),
        "entity_types": len(dataset.entity_types),
        "relation_types": len(dataset.relation_types),
        "path": str(dataset.path),
    }


@data_app.command("list")
def list_sets(
    data: Annotated[
        Path | None, typer.Option("--data", help="Data folder (default: $HYBRID_IE_DATA or ../shared/data).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list instead of a table.")] = False,
) -> None:
    """Every set of the data folder: annotation, sentences per split, train mentions, type counts."""
    from hybrid_ie.datasets import discover_sets
    from hybrid_ie.paths import data_dir

    with user_errors():
        root = data if data is not None else data_dir()
        rows = [set_summary(s) for s in discover_sets(root)]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return

    def num(value: int | None) -> str:
        return "-" if value is None else f"{value:,}"

    header = ("set", "annotation", "train", "dev", "test", "train\nents", "train\nrels", "ent\ntypes", "rel\ntypes")
    cells = [
        [r["name"], r["annotation"], *(num(r["sentences"][s]) for s in ("train", "dev", "test")),
         num(r["train_entities"]), num(r["train_relations"]), str(r["entity_types"]), str(r["relation_types"])]
        for r in rows
    ]  # fmt: skip
    title = f"{len(rows)} data sets in {root} (sentences per split; entity/relation mentions and types)"
    table = compact_table(title, header, cells, left=2)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
    app.command("eval")(evaluate)
    app.add_typer(data_app, name="data")
