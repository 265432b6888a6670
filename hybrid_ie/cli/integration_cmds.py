"""`hybrid-ie export labelstudio` and `hybrid-ie import labelstudio`: the review loop through
Label Studio (tasks with predictions out, reviewed annotations back in as Documents)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from hybrid_ie.cli.common import err_console, user_errors

export_app = typer.Typer(help="Export documents to other tools.", no_args_is_help=True)
import_app = typer.Typer(help="Import reviewed documents from other tools.", no_args_is_help=True)


def _warn(lines: list[str]) -> None:
    for line in lines:
        err_console.print(f"[yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def _job_settings(source: Path) -> dict:
    """The settings of the extract job that wrote `source` (its OUT.summary.json), if any."""
    from hybrid_ie.batch import summary_path

    path = summary_path(source)
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("settings") or {}
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}


def _schema_for(name: str | None, docs: list, settings: dict):
    """--schema, else the schema the documents were extracted with (the labels their meta
    records, `labelstudio.recorded_schema`), else the job's schema when it can be loaded."""
    from hybrid_ie.errors import SchemaError
    from hybrid_ie.integrations.labelstudio import recorded_schema
    from hybrid_ie.schema import load_schema

    if name:
        return load_schema(name)
    recorded = recorded_schema(docs)
    if recorded is not None:
        return recorded
    if settings.get("schema"):
        try:
            return load_schema(settings["schema"])
        except SchemaError:
            return None
    return None


def export_labelstudio(
    source: Annotated[Path, typer.Argument(metavar="OUT.jsonl", help="Documents (e.g. from extract).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Label Studio tasks (JSON list) to import.")],
    config_out: Annotated[
        Path | None, typer.Option("--config-out", help="Write the matching labelling config (XML) here.")
    ] = None,
    schema: Annotated[
        str | None,
        typer.Option("--schema", help="Schema name or file (default: the one the documents were extracted with)."),
    ] = None,
    model_version: Annotated[
        str | None, typer.Option("--model-version", help="Override the predictions' model_version.")
    ] = None,
) -> None:
    """Write Label Studio tasks whose predictions are the documents' entities and relations."""
    from hybrid_ie.document import read_jsonl
    from hybrid_ie.integrations.labelstudio import export_tasks, label_config, unknown_labels

    with user_errors():
        docs = list(read_jsonl(source))
        settings = _job_settings(source)
        used = _schema_for(schema, docs, settings)
        tasks, warnings = export_tasks(docs, used, settings=settings, version=model_version)
        if used is not None and (extra := unknown_labels(used, docs)):
            warnings.append(f"labels not in schema {used.name!r} (added to the config): {', '.join(extra)}")
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        if config_out is not None:
            config_out.parent.mkdir(parents=True, exist_ok=True)
            config_out.write_text(label_config(used, docs), encoding="utf-8")
    _warn(warnings)
    items = sum(len(t["predictions"][0]["result"]) for t in tasks)
    schema_note = f", schema {used.name}" if used is not None else ", labels from the documents"
    err_console.print(f"wrote {len(tasks)} tasks ({items} predicted items{schema_note}) to {output}"
                      + (f" and the labelling config to {config_out}" if config_out else ""))  # fmt: skip


def import_labelstudio(
    source: Annotated[Path, typer.Argument(metavar="EXPORT.json", help="Label Studio's JSON export of the project.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Reviewed documents (JSONL).")],
    schema: Annotated[
        str | None, typer.Option("--schema", help="Schema name or file: labels are checked, symmetric relations kept once.")
    ] = None,
    skip_unreviewed: Annotated[
        bool, typer.Option("--skip-unreviewed", help="Leave out tasks without an annotation (default: take their predictions).")
    ] = False,
    set_dir: Annotated[
        Path | None,
        typer.Option("--set-dir", help="Also write a training set (SpERT train.json + types.json) here, e.g. DATA/reviewed."),
    ] = None,
) -> None:
    """Turn reviewed Label Studio tasks back into Documents (for `eval --gold`, or a set to train on)."""
    from hybrid_ie.datasets import write_set
    from hybrid_ie.document import write_jsonl
    from hybrid_ie.errors import InputError
    from hybrid_ie.integrations.labelstudio import import_tasks
    from hybrid_ie.schema import Schema, load_schema

    with user_errors():
        try:
            tasks = json.loads(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror or exc})") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"{source}: not valid JSON ({exc})") from exc
        used = load_schema(schema) if schema else None
        try:
            docs, warnings = import_tasks(tasks, used, skip_unreviewed=skip_unreviewed)
        except InputError as exc:
            raise InputError(f"{source}: {exc}") from exc
        output.parent.mkdir(parents=True, exist_ok=True)
        write_jsonl(docs, output)
        counts = None
        if set_dir is not None:
            if used is None:
                used = Schema.from_labels(
                    sorted({e.label for d in docs for e in d.entities}),
                    sorted({r.label for d in docs for r in d.relations}),
                    name=set_dir.name,
                )
            counts = write_set(docs, set_dir, used)
    _warn(warnings)
    reviewed = sum(1 for d in docs if d.meta["labelstudio"]["from"] == "annotation")
    err_console.print(
        f"wrote {len(docs)} documents ({reviewed} reviewed, {sum(len(d.entities) for d in docs)} entities, "
        f"{sum(len(d.relations) for d in docs)} relations) to {output}"
    )
    if counts is not None:
        dropped = counts["entities_dropped"]
        note = f"; {dropped} entities not on word boundaries left out" if dropped else ""
        err_console.print(f"wrote the training set {set_dir} (train.json, types.json{note}): "
                          f"hybrid-ie train --datasets {set_dir.name} (with the data dir holding it)")  # fmt: skip


export_app.command("labelstudio")(export_labelstudio)
import_app.command("labelstudio")(import_labelstudio)


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
    app.add_typer(import_app, name="import")


__all__ = ["export_labelstudio", "import_labelstudio", "register"]
