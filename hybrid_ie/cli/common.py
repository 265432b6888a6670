"""Helpers shared by the CLI commands: turning toolkit errors into clean exits."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import typer
from rich.console import Console
from rich.markup import escape

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
