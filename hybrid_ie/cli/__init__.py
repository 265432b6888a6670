"""The `hybrid-ie` command line (typer). Each command group lives in its own module here;
this file only assembles them. Nothing below the CLI knows about the terminal."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="hybrid-ie",
    help="Hybrid information extraction: joint encoder + LLM escalation, grounded and scored.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """hybrid-ie: extract entities and relations, evaluate, train, benchmark."""


def _register() -> None:
    from hybrid_ie.cli import data_cmds

    data_cmds.register(app)
    # Optional command groups: each module registers itself when present.
    import importlib

    for name in ("encoder_cmds", "llm_cmds", "pipeline_cmds", "benchmark_cmds", "integration_cmds",
                 "distill_cmds"):
        try:
            module = importlib.import_module(f"hybrid_ie.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"hybrid_ie.cli.{name}":
                raise
            continue
        module.register(app)


_register()
