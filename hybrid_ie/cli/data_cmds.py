"""Data commands: `convert` (SpERT -> JSONL) and `eval` (score predictions against gold)."""

from __future__ import annotations

from pathlib import Path

import typer

from hybrid_ie.cli.common import err_console, user_errors


def convert(
    fmt: str = typer.Argument(..., metavar="FORMAT", help="Input format; only 'spert' is supported."),
    input_path: Path = typer.Argument(..., metavar="IN", help="SpERT JSON file."),
    output: Path = typer.Option(..., "-o", "--output", help="Output JSONL file."),
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


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
