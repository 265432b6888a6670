"""Helpers shared by the CLI commands: turning toolkit errors into clean exits, compact tables."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hybrid_ie.errors import HybridIEError

err_console = Console(stderr=True)


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Print a toolkit error as one clear line on stderr and exit with status 2."""
    try:
        yield
    except HybridIEError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from exc


def compact_table(title: str, header: tuple[str, ...], rows: list[list[str]], *, left: int = 1) -> Table:
    """A borderless table whose columns never shrink below their widest cell (numbers are not cut
    to `…` in a narrow terminal); a header may span two lines ("train\\nents"). The first `left`
    columns are left-aligned, the rest right-aligned."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    for i, name in enumerate(header):
        width = max([len(part) for part in name.split("\n")] + [len(row[i]) for row in rows])
        table.add_column(name, justify="left" if i < left else "right", no_wrap=True, min_width=width)
    for row in rows:
        table.add_row(*row)
    return table
