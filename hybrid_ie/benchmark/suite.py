"""Benchmark suites: a fixed group of data sets, each evaluated by the encoder alone with its own
labels, in one call.

    from hybrid_ie.benchmark.suite import run_suite
    report = run_suite("models/hybrid-ie-minilm-zs", suite="zero-shot", split="dev", limit=200)
    report["metrics"]["macro"], report["metrics"]["wlp.relations"]

A suite is data, not code: `suites.json` beside this module (or a JSON file of one suite) names
the sets (folders of the data dir, read through `hybrid_ie.datasets`), the tasks scored on each
(`entities`, `relations`), the decoding (`nested`), the macro average and the bar. Each set is
read with the labels of its own `types.json` (`DataSet.types_schema`: verbose names as prompts,
type keys as output labels) and scored strict micro F1 (`hybrid_ie.metrics.score`). A suite may
add parts that run sets with other labels (`suite_parts`: label competition, relation wording, a
user suite read from its own data dir). The protocols of the `zero-shot` and `zero-shot-v2`
suites are written down in eval/ZERO_SHOT.md.

`run_suite` returns the report dictionary; `suite_report.write_suite_report` writes report.md and
report.json. Predictions go to `<output_dir>/preds/<set>.jsonl` when an output folder is given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybrid_ie.benchmark.identity import encoder_identity, git, git_commit, load_average
from hybrid_ie.benchmark.suite_parts import (
    PART_KEYS,
    Context,
    part_metric_names,
    predict_and_score,
    run_parts,
)
from hybrid_ie.datasets import SPLITS, DataSet, discover_sets
from hybrid_ie.errors import InputError
from hybrid_ie.paths import REPO_ROOT, data_dir
from hybrid_ie.schema import Schema

SUITES_FILE = Path(__file__).with_name("suites.json")
TASKS = ("entities", "relations")
DEFAULT_BATCH_SIZE = 32
PREDS_DIR = "preds"


@dataclass(frozen=True)
class SuiteSet:
    name: str
    tasks: tuple[str, ...] = ("entities",)


@dataclass(frozen=True)
class Suite:
    """A suite definition (see `suites.json` for the fields)."""

    name: str
    sets: tuple[SuiteSet, ...]
    description: str = ""
    protocol: str = ""
    nested: bool = False
    macro_level: str = "entities"
    macro_sets: tuple[str, ...] = ()
    bar: tuple[tuple[str, float], ...] = ()  # (metric, minimum)
    bar_max: tuple[tuple[str, float], ...] = ()  # (metric, maximum)
    bar_order: tuple[str, ...] = ()  # the bar's metrics as the definition lists them
    parts: dict[str, Any] = dataclasses.field(default_factory=dict)  # suite_parts.PART_KEYS -> definition

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any], *, source: str = "<dict>") -> Suite:
        where = f"{source}: suite {name!r}"
        try:
            sets = tuple(SuiteSet(str(s["name"]), tuple(s.get("tasks", ("entities",)))) for s in data["sets"])
            macro = data.get("macro") or {}
            bar = tuple((str(b["metric"]), float(b["min"])) for b in data.get("bar", ()) if "max" not in b)
            bar_max = tuple((str(b["metric"]), float(b["max"])) for b in data.get("bar", ()) if "max" in b)
            parts = {k: dict(data[k]) for k in PART_KEYS if data.get(k)}
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{where}: malformed definition ({exc!r})") from exc
        names = [s.name for s in sets]
        if not sets or len(set(names)) != len(names):
            raise InputError(f"{where}: 'sets' must name at least one set, each once")
        for s in sets:
            bad = [t for t in s.tasks if t not in TASKS]
            if bad or "entities" not in s.tasks:
                raise InputError(
                    f"{where}: set {s.name!r} tasks {list(s.tasks)} must be 'entities'[, 'relations']"
                )
        suite = cls(
            name=name,
            sets=sets,
            description=str(data.get("description", "")),
            protocol=str(data.get("protocol", "")),
            nested=bool(data.get("nested", False)),
            macro_level=str(macro.get("level", "entities")),
            macro_sets=tuple(macro.get("sets", ())),
            bar=bar,
            bar_max=bar_max,
            bar_order=tuple(str(b["metric"]) for b in data.get("bar", ())),
            parts=parts,
        )
        if suite.macro_level not in TASKS or not set(suite.macro_sets) <= set(names):
            raise InputError(f"{where}: 'macro' must average a task over sets of the suite")
        known = {"macro"} | {f"{s.name}.{t}" for s in sets for t in s.tasks} | part_metric_names(parts)
        unknown = [m for m, _ in bar + bar_max if m not in known]
        if unknown:
            raise InputError(f"{where}: bar metric(s) {unknown} not measured; known: {sorted(known)}")
        return suite


def _suite_table() -> dict[str, Any]:
    return json.loads(SUITES_FILE.read_text(encoding="utf-8"))


def available_suites() -> list[str]:
    return [k for k in _suite_table() if not k.startswith("_")]


def load_suite(name_or_path: str | Path | Suite) -> Suite:
    """A suite by name (`suites.json`) or from a JSON file holding one suite definition."""
    if isinstance(name_or_path, Suite):
        return name_or_path
    text = str(name_or_path)
    table = _suite_table()
    if text in table and not text.startswith("_"):
        return Suite.from_dict(text, table[text], source=str(SUITES_FILE))
    path = Path(text)
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
        return Suite.from_dict(path.stem, data, source=str(path))
    raise InputError(f"unknown suite {text!r}; available: {', '.join(available_suites())} (or a .json file)")


def set_schema(dataset: DataSet, tasks: tuple[str, ...]) -> Schema:
    """The set's own labels (`types_schema`); relation types only when the suite scores relations."""
    schema = dataset.types_schema
    if "relations" not in tasks:
        schema = dataclasses.replace(schema, relation_types=())
    return schema


# -- the model ---------------------------------------------------------------------------------


def model_info(model: str | Path | None, encoder: Any) -> dict[str, Any]:
    """What identifies the encoder: its folder, a hash of the folder's files and of its config,
    the training sets and best step its config records, and the commit that last touched it."""

    info: dict[str, Any] = {"path": None if model is None else str(model)}
    if model is not None:
        info["identity"] = encoder_identity(str(model), None)
        folder = Path(model).resolve()
        if folder.is_dir() and folder.is_relative_to(REPO_ROOT):
            info["checkpoint_commit"] = git("log", "-1", "--format=%h %cs %s", "--", str(folder))
    else:
        info["identity"] = type(encoder).__name__
    config = getattr(encoder, "config", None)
    cfg = config.to_dict() if hasattr(config, "to_dict") else None
    if isinstance(cfg, dict):
        blob = json.dumps(cfg, sort_keys=True, default=str).encode("utf-8")
        from hybrid_ie.training.averaging import primary_training
        from hybrid_ie.training.config import flatten_settings

        own = cfg.get("training") or {}
        training = flatten_settings(primary_training(own))
        info.update(
            averaged_from=len(own.get("averaged_from") or []),
            config_sha=hashlib.sha256(blob).hexdigest()[:12],
            threshold=cfg.get("threshold"),
            relation_threshold=cfg.get("relation_threshold"),
            training_datasets=training.get("datasets"),
            training_best=training.get("best"),
        )
    return info


def _load_encoder(model: str | Path | None) -> Any:
    from hybrid_ie.encoder import JointEncoder

    return JointEncoder.from_pretrained(model)


# -- running -----------------------------------------------------------------------------------


def _say(message: str, progress: bool) -> None:
    if progress:
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)


def _plan(suite: Suite, split: str, root: Path) -> tuple[list[tuple[SuiteSet, DataSet]], list[dict]]:
    """The (suite set, data set) pairs to evaluate and the sets skipped (no such split)."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
    found = {s.name: s for s in discover_sets(root)}
    missing = [s.name for s in suite.sets if s.name not in found]
    if missing:
        raise InputError(
            f"suite {suite.name!r}: set(s) {', '.join(missing)} not in {root}; "
            f"available: {', '.join(found) or '(none)'}"
        )
    todo, skipped = [], []
    for entry in suite.sets:
        ds = found[entry.name]
        if split in ds.splits:
            todo.append((entry, ds))
        else:
            skipped.append({"name": entry.name, "reason": f"no {split} split (has {', '.join(ds.splits)})"})
    return todo, skipped


def evaluate_set(
    encoder: Any,
    entry: SuiteSet,
    dataset: DataSet,
    split: str,
    *,
    limit: int | None,
    nested: bool,
    batch_size: int,
    preds_path: Path | None,
    progress: bool,
) -> dict[str, Any]:
    """Predict one split of one set with its own labels, score it and time the prediction."""
    gold = dataset.load(split)
    if limit is not None:
        gold = gold[:limit]
    result, _ = predict_and_score(
        encoder,
        gold,
        set_schema(dataset, entry.tasks),
        tasks=entry.tasks,
        nested=nested,
        batch_size=batch_size,
        preds_path=preds_path,
        progress=progress,
    )
    del result["nested"]
    return {"name": dataset.name, "split": split, "annotation": dataset.annotation, **result}


def summarise(
    suite: Suite,
    results: list[dict[str, Any]],
    *,
    complete: bool,
    extra: dict[str, Any] | None = None,
    flags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The headline numbers: strict F1 per set and task, the macro average and the bar check.
    `complete` says whether the run is the full protocol (test split, no limit, nothing skipped);
    only then does the bar check decide anything (`bar_passed`). `extra`: the parts' metrics;
    `flags`: metric -> why its bar line fails whatever its value."""
    metrics: dict[str, float | None] = {}
    for r in results:
        for task in r["tasks"]:
            metrics[f"{r['name']}.{task}"] = r["scores"][task]["strict"]["f1"]
    used = [s for s in suite.macro_sets if f"{s}.{suite.macro_level}" in metrics]
    macro_f1 = sum(metrics[f"{s}.{suite.macro_level}"] for s in used) / len(used) if used else None
    metrics["macro"] = macro_f1
    macro = {
        "level": suite.macro_level,
        "sets": used,
        "missing": [s for s in suite.macro_sets if s not in used],
        "f1": macro_f1,
    }
    metrics.update(extra or {})
    bar = []
    for side, lines in (("min", suite.bar), ("max", suite.bar_max)):
        for metric, limit in lines:
            value = metrics.get(metric)
            ok = None if value is None else (value >= limit if side == "min" else value <= limit)
            line = {"metric": metric, side: limit, "value": value, "ok": ok}
            if metric in (flags or {}):
                line.update(ok=False, note=flags[metric])
            bar.append(line)
    order = {m: i for i, m in enumerate(suite.bar_order)}
    bar.sort(key=lambda b: order.get(b["metric"], len(order)))
    passed = all(b["ok"] for b in bar) if complete and not macro["missing"] else None
    return {
        "metrics": metrics,
        "macro": macro,
        "bar": bar,
        "bar_applies": passed is not None,
        "bar_passed": passed,
    }


def run_suite(
    model: str | Path | Any = None,
    suite: str | Path | Suite = "zero-shot",
    split: str = "test",
    limit: int | None = None,
    root: str | Path | None = None,
    threads: int | None = None,
    *,
    output_dir: str | Path | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: bool = False,
    command: str = "",
) -> dict[str, Any]:
    """Evaluate the encoder on every set of the suite that has `split`, and return the report.

    `model`: a checkpoint folder (None: the shipped one) or an encoder object with `predict` (the
    training loop passes its model). `limit` keeps the first N sentences of each set; `threads`
    sets torch's CPU threads for the call (restored afterwards); `output_dir` receives the
    predictions (`preds/<set>.jsonl`; a part's runs `preds/<set>.<run>.jsonl`), nothing is written
    without it. The suite's parts (`Suite.parts`) run after its sets, on the same split."""
    import torch

    spec = load_suite(suite)
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}")
    if threads is not None and threads < 1:
        raise InputError(f"threads must be at least 1, got {threads}")
    base = Path(root) if root is not None else data_dir()
    todo, skipped = _plan(spec, split, base)
    if not todo:
        raise InputError(f"suite {spec.name!r}: no set has a {split} split")
    started_at_commit = git_commit()
    load_before = load_average()
    previous_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        is_object = hasattr(model, "predict")
        encoder = model if is_object else _load_encoder(model)
        info = model_info(None if is_object else model, encoder)
        preds_dir = None
        if output_dir is not None:
            preds_dir = Path(output_dir) / PREDS_DIR
            preds_dir.mkdir(parents=True, exist_ok=True)
        for item in skipped:
            _say(f"{item['name']}: skipped ({item['reason']})", progress)
        results, wall = [], time.perf_counter()
        for i, (entry, ds) in enumerate(todo, start=1):
            _say(f"[{i}/{len(todo)}] {ds.name}:{split}", progress)
            results.append(
                evaluate_set(
                    encoder,
                    entry,
                    ds,
                    split,
                    limit=limit,
                    nested=spec.nested,
                    batch_size=batch_size,
                    preds_path=None if preds_dir is None else preds_dir / f"{ds.name}.jsonl",
                    progress=progress,
                )
            )
        parts, part_metrics, flags = {}, {}, {}
        if spec.parts:
            _say(f"parts: {', '.join(spec.parts)}", progress)
            context = Context(encoder, split, limit, base, batch_size, preds_dir, progress)
            parts, part_metrics, flags = run_parts(spec.parts, context)
        wall = time.perf_counter() - wall
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(previous_threads)
    complete = split == "test" and limit is None and not skipped
    return {
        "suite": spec.name,
        "description": spec.description,
        "protocol": spec.protocol,
        "split": split,
        "limit": limit,
        "nested": spec.nested,
        "batch_size": batch_size,
        "threads": used_threads,
        "data_dir": str(base),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "git_commit": started_at_commit,
        "model": info,
        "wall_s": wall,
        "load_average": {"start": load_before, "end": load_average()},
        "sets": results,
        "skipped": skipped,
        "parts": parts,
        **summarise(spec, results, complete=complete, extra=part_metrics, flags=flags),
    }


__all__ = [
    "DEFAULT_BATCH_SIZE",
    "Suite",
    "SuiteSet",
    "available_suites",
    "evaluate_set",
    "load_suite",
    "model_info",
    "run_suite",
    "set_schema",
    "summarise",
]
