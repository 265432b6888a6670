"""The parts of a suite beyond "each set with its own labels" (protocol v2 of eval/ZERO_SHOT.md):

- **label competition**: a set run with its fine labels, then with coarse labels and catch-alls
  offered beside them (`coarse_schema`), the fine "no specific label fits" types merged into their
  parent (`merged_gold`); `label_outcomes` counts gold mentions given a coarser label (an ancestor
  in the mapping file);
- **relation wording**: a set's relations asked with user phrasings instead of its own names
  (`wording_schema`), the phrasings checked against the checkpoint's known labels
  (`known_overlap`), and where relation backoff sends each (`backoff_table`); with `repo_schema`
  the set is also run with the repository's schema for it (`DataSet.schema()`, the labels
  `hybrid-ie benchmark --dataset` uses), for in-domain no-regression checks;
- **user suite**: every set of a separate data dir (hand-written domains), scored pooled.

Every run goes through `predict_and_score`, the same path as a suite's plain sets.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_ie.datasets import DataSet, discover_sets
from hybrid_ie.document import Document, write_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.metrics import score
from hybrid_ie.paths import REPO_ROOT
from hybrid_ie.schema import EntityType, Schema, prompt_key

PART_KEYS = ("label_competition", "relation_wording", "user_suite")


def repo_path(text: str) -> Path:
    """A path of a suite definition: absolute, or relative to the repository root."""
    path = Path(text).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError(f"{what} file {path} not found") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


# -- one run: predict a list of documents with a schema, score it ---------------------------------


def predict_and_score(
    encoder: Any,
    gold: list[Document],
    schema: Schema,
    *,
    tasks: tuple[str, ...],
    nested: bool,
    batch_size: int,
    preds_path: Path | None,
    progress: bool,
) -> tuple[dict[str, Any], list[Document]]:
    """Predict `gold`'s texts with `schema`, score strict / boundary micro F1 on `tasks`; returns
    the run's numbers (sentences, gold counts, labels, schema, timing, scores) and the predictions."""
    started = time.perf_counter()
    preds = encoder.predict(
        [d.text for d in gold],
        schema,
        ids=[d.id for d in gold],
        batch_size=batch_size,
        nested=nested,
        progress=progress,
    )
    seconds = time.perf_counter() - started
    if preds_path is not None:
        write_jsonl(preds, preds_path)
    scores = score(gold, preds, symmetric=schema.symmetric_relations).to_dict()
    if "relations" not in tasks:
        scores.pop("relations", None)
        scores.get("per_label", {}).pop("relations", None)
        scores.get("macro", {}).pop("relations", None)
    result = {
        "tasks": list(tasks),
        "nested": nested,
        "sentences": len(gold),
        "gold": {
            "entities": sum(len(d.entities) for d in gold),
            "relations": sum(len(d.relations) for d in gold),
        },
        "labels": {"entities": len(schema.entity_types), "relations": len(schema.relation_types)},
        "schema": schema.to_dict(),
        "predict_s": seconds,
        "sentences_per_s": len(gold) / seconds if seconds > 0 else None,
        "preds": None if preds_path is None else f"{preds_path.parent.name}/{preds_path.name}",
        "scores": scores,
    }
    return result, preds


@dataclass
class Context:
    """What every part's runs share: the encoder, the split and how to run."""

    encoder: Any
    split: str
    limit: int | None
    root: Path
    batch_size: int
    preds_dir: Path | None
    progress: bool

    def load(self, dataset: DataSet) -> list[Document]:
        gold = dataset.load(self.split)
        return gold if self.limit is None else gold[: self.limit]

    def run(
        self, name: str, run: str, gold: list[Document], schema: Schema, tasks: tuple[str, ...], nested: bool
    ):
        path = None if self.preds_dir is None else self.preds_dir / f"{name}.{run}.jsonl"
        result, preds = predict_and_score(
            self.encoder,
            gold,
            schema,
            tasks=tasks,
            nested=nested,
            batch_size=self.batch_size,
            preds_path=path,
            progress=self.progress,
        )
        return {"name": name, "run": run, "split": self.split, **result}, preds


def f1(result: dict[str, Any], task: str) -> float | None:
    scores = result["scores"].get(task)
    return None if scores is None else scores["strict"]["f1"]


def _sets_in(root: Path, names: list[str], what: str) -> dict[str, DataSet]:
    found = {s.name: s for s in discover_sets(root)}
    missing = [n for n in names if n not in found]
    if missing:
        raise InputError(f"{what}: set(s) {', '.join(missing)} not in {root}")
    return {n: found[n] for n in names}


# -- label competition -------------------------------------------------------------------------


@dataclass(frozen=True)
class Hierarchy:
    """One set's coarse labels, catch-alls, fine -> coarse parents and merged fine types."""

    coarse: dict[str, str]  # key -> prompt
    catch_all: dict[str, str]
    parent: dict[str, str]
    merge: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any], types: dict[str, str], where: str) -> Hierarchy:
        try:
            h = cls(
                coarse={str(k): str(v) for k, v in data["coarse"].items()},
                catch_all={str(k): str(v) for k, v in data.get("catch_all", {}).items()},
                parent={str(k): str(v) for k, v in data["parent"].items()},
                merge=tuple(str(x) for x in data.get("merge", ())),
            )
        except (KeyError, AttributeError, TypeError) as exc:
            raise InputError(f"{where}: needs 'coarse' and 'parent' objects ({exc!r})") from exc
        problems = []
        if set(h.parent) != set(types):
            problems.append(f"'parent' must map exactly the set's types {sorted(types)}")
        if not set(h.parent.values()) <= set(h.coarse):
            problems.append("every parent must be a 'coarse' key")
        if not set(h.merge) <= set(h.parent):
            problems.append("'merge' must list types of the set")
        clash = (set(h.coarse) | set(h.catch_all)) & (set(types) - set(h.merge))
        if clash or set(h.coarse) & set(h.catch_all):
            problems.append(f"coarse / catch-all keys clash with offered type keys {sorted(clash)}")
        if problems:
            raise InputError(f"{where}: " + "; ".join(problems))
        return h

    def ancestors(self, label: str) -> set[str]:
        """The labels coarser than `label`: its parent (fine types) and the catch-alls."""
        up = set(self.catch_all)
        if label in self.parent:
            up.add(self.parent[label])
        return up - {label}

    def group(self, label: str) -> str:
        return self.parent.get(label, label)


def load_hierarchies(path: Path, sets: dict[str, DataSet]) -> dict[str, Hierarchy]:
    data = _read_json(path, "label competition")
    missing = [n for n in sets if n not in data]
    if missing:
        raise InputError(f"{path}: no mapping for set(s) {', '.join(missing)}")
    return {n: Hierarchy.from_dict(data[n], ds.entity_types, f"{path}: {n}") for n, ds in sets.items()}


def coarse_schema(schema: Schema, h: Hierarchy) -> Schema:
    """The fine labels less the merged ones, then the coarse labels and the catch-alls."""
    extra = {**h.coarse, **h.catch_all}
    kept = [t for t in schema.entity_types if t.name not in h.merge]
    added = [EntityType(name=k, description=v, verbose=v) for k, v in extra.items()]
    return dataclasses.replace(schema, entity_types=tuple(kept + added), relation_types=())


def merged_gold(gold: list[Document], h: Hierarchy) -> list[Document]:
    """Gold with each merged fine type renamed to its coarse parent."""
    rename = {m: h.parent[m] for m in h.merge}
    out = []
    for doc in gold:
        ents = [e.model_copy(update={"label": rename.get(e.label, e.label)}) for e in doc.entities]
        out.append(doc.model_copy(update={"entities": ents}))
    return out


OUTCOMES = ("right", "coarser", "other", "missed")


def label_outcomes(gold: list[Document], preds: list[Document], h: Hierarchy) -> dict[str, Any]:
    """Each gold mention's fate: predicted with its label ("right"), with an ancestor of it
    ("coarser"), with another label ("other"), or its span not predicted ("missed"); in total and
    per coarse group, plus `coarser_share` = coarser / gold mentions."""
    by_id = {d.id: d for d in preds}
    total = dict.fromkeys(OUTCOMES, 0)
    groups: dict[str, dict[str, int]] = {}
    for doc in gold:
        pred = by_id.get(doc.id)
        at: dict[tuple[int, int], set[str]] = {}
        for e in pred.entities if pred is not None else ():
            at.setdefault(e.span, set()).add(e.label)
        for e in doc.entities:
            labels = at.get(e.span, set())
            if e.label in labels:
                outcome = "right"
            elif labels & h.ancestors(e.label):
                outcome = "coarser"
            else:
                outcome = "other" if labels else "missed"
            total[outcome] += 1
            row = groups.setdefault(h.group(e.label), dict.fromkeys(OUTCOMES, 0))
            row[outcome] += 1
    n = sum(total.values())
    return {"gold": n, **total, "coarser_share": total["coarser"] / n if n else None, "groups": groups}


def run_label_competition(ctx: Context, spec: dict[str, Any]) -> tuple[list[dict], dict[str, Any]]:
    sets = _sets_in(ctx.root, list(spec["sets"]), "label competition")
    hierarchies = load_hierarchies(repo_path(spec["mapping"]), sets)
    out, metrics = [], {}
    for name, ds in sets.items():
        if ctx.split not in ds.splits:
            continue
        gold = ctx.load(ds)
        schema = dataclasses.replace(ds.types_schema, relation_types=())
        h = hierarchies[name]
        fine, fine_preds = ctx.run(name, "fine", gold, schema, ("entities",), False)
        fine["outcomes"] = label_outcomes(gold, fine_preds, h)
        coarse_gold = merged_gold(gold, h)
        coarse, coarse_preds = ctx.run(
            name, "coarse", coarse_gold, coarse_schema(schema, h), ("entities",), False
        )
        coarse["outcomes"] = label_outcomes(coarse_gold, coarse_preds, h)
        out.append({"name": name, "mapping": str(spec["mapping"]), "runs": [fine, coarse]})
        metrics[f"{name}.fine.entities"] = f1(fine, "entities")
        metrics[f"{name}.coarse.entities"] = f1(coarse, "entities")
        metrics[f"{name}.coarse_minus_fine"] = f1(coarse, "entities") - f1(fine, "entities")
        metrics[f"{name}.coarser_share"] = coarse["outcomes"]["coarser_share"]
    return out, metrics


# -- relation wording --------------------------------------------------------------------------


def load_phrasings(path: Path, sets: dict[str, DataSet]) -> dict[str, dict[str, list[str]]]:
    """{set: {relation type key: [phrasing, ...]}}; every set's relation types exactly, each with
    at least one phrasing."""
    data = _read_json(path, "relation wording")
    out = {}
    for name, ds in sets.items():
        table = data.get(name)
        if not isinstance(table, dict) or set(table) != set(ds.relation_types):
            raise InputError(
                f"{path}: set {name!r} must give phrasings for exactly {sorted(ds.relation_types)}"
            )
        bad = [
            k
            for k, v in table.items()
            if not (isinstance(v, list) and v and all(isinstance(x, str) and x.strip() for x in v))
        ]
        if bad:
            raise InputError(f"{path}: {name}: {bad} need a non-empty list of phrasings")
        out[name] = {k: [str(x) for x in v] for k, v in table.items()}
    return out


def wording_schema(schema: Schema, phrasings: dict[str, list[str]], k: int) -> Schema:
    """The schema with each relation type asked by its k-th phrasing (its last when it has fewer);
    names, argument types and symmetry stay."""
    rels = tuple(
        dataclasses.replace(t, verbose=phrasings[t.name][min(k, len(phrasings[t.name]) - 1)],
                            description=phrasings[t.name][min(k, len(phrasings[t.name]) - 1)])
        for t in schema.relation_types
    )  # fmt: skip
    return dataclasses.replace(schema, relation_types=rels)


def known_overlap(prompts: list[str], known: set[str] | None) -> list[str]:
    """The prompts that are among the checkpoint's known labels (exact, case-insensitive)."""
    keys = {prompt_key(k) for k in known or ()}
    return [p for p in dict.fromkeys(prompts) if prompt_key(p) in keys]


def known_labels(encoder: Any) -> set[str] | None:
    known = getattr(encoder, "known_labels", None)
    return None if known is None else set(known)


def backoff_table(encoder: Any, prompts: list[str]) -> list[dict[str, Any]] | None:
    """Where relation backoff sends each prompt: the nearest known relation prompt and the cosine
    (`JointEncoder.relation_backoff_targets`; a known prompt is its own target). None when the
    encoder has no such method."""
    targets_of = getattr(encoder, "relation_backoff_targets", None)
    if targets_of is None:
        return None
    targets = targets_of(list(dict.fromkeys(prompts)))
    return [
        {"prompt": p, "target": targets[p][0], "similarity": targets[p][1]}
        if p in targets
        else {"prompt": p, "target": prompt_key(p), "similarity": 1.0}
        for p in dict.fromkeys(prompts)
    ]


def backoff_strength(encoder: Any) -> float | None:
    config = getattr(encoder, "config", None)
    return getattr(config, "relation_backoff", None)


def run_relation_wording(
    ctx: Context, spec: dict[str, Any]
) -> tuple[list[dict], dict[str, Any], dict[str, str]]:
    entries = [s if isinstance(s, dict) else {"name": s} for s in spec["sets"]]
    sets = _sets_in(ctx.root, [str(e["name"]) for e in entries], "relation wording")
    phrasings = load_phrasings(repo_path(spec["phrasings"]), sets)
    known = known_labels(ctx.encoder)
    out, metrics, flags = [], {}, {}
    for entry in entries:
        name = str(entry["name"])
        ds, nested = sets[name], bool(entry.get("nested", False))
        table = phrasings[name]
        every = [p for v in table.values() for p in v]
        overlap = known_overlap(every, known)
        if overlap:
            flags[f"{name}.wording_ratio"] = f"phrasing(s) among the checkpoint's known labels: {overlap}"
        item = {
            "name": name,
            "own_names": {t.name: t.prompt for t in ds.types_schema.relation_types},
            "phrasings": table,
            "known_overlap": overlap,
            "known_labels_checked": known is not None,
            "backoff_strength": backoff_strength(ctx.encoder),
            "backoff": backoff_table(ctx.encoder, [t.prompt for t in ds.types_schema.relation_types] + every),
            "runs": [],
        }
        out.append(item)
        if ctx.split not in ds.splits:
            continue
        gold, schema, tasks = ctx.load(ds), ds.types_schema, ("entities", "relations")
        canonical, _ = ctx.run(name, "canonical", gold, schema, tasks, nested)
        item["runs"].append(canonical)
        wordings = []
        for k in range(max(len(v) for v in table.values())):
            run, _ = ctx.run(name, f"wording{k + 1}", gold, wording_schema(schema, table, k), tasks, nested)
            item["runs"].append(run)
            wordings.append(f1(run, "relations"))
            metrics[f"{name}.wording{k + 1}.entities"] = f1(run, "entities")
            metrics[f"{name}.wording{k + 1}.relations"] = f1(run, "relations")
        base = f1(canonical, "relations")
        metrics[f"{name}.canonical.entities"] = f1(canonical, "entities")
        metrics[f"{name}.canonical.relations"] = base
        metrics[f"{name}.wording_ratio"] = sum(wordings) / len(wordings) / base if base else None
        if entry.get("repo_schema"):
            run, _ = ctx.run(name, "schema", gold, ds.schema(), tasks, nested)
            item["runs"].append(run)
            metrics[f"{name}.schema.entities"] = f1(run, "entities")
            metrics[f"{name}.schema.relations"] = f1(run, "relations")
    return out, metrics, flags


# -- the user suite ----------------------------------------------------------------------------


def run_user_suite(ctx: Context, spec: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Every set of the user-suite data dir with its own labels, flat; pooled micro F1."""
    root = repo_path(spec["data"])
    domains = [d for d in discover_sets(root) if ctx.split in d.splits]
    if not domains:
        return None, {}
    runs, gold_all, preds_all, symmetric, never_right = [], [], [], set(), []
    nested = bool(spec.get("nested", False))
    for ds in domains:
        gold, schema = ctx.load(ds), ds.types_schema
        run, preds = ctx.run(f"user_suite.{ds.name}", "own", gold, schema, ("entities", "relations"), nested)
        runs.append(run)
        gold_all += gold
        preds_all += preds
        symmetric |= schema.symmetric_relations
        for level in ("entities", "relations"):
            for label, c in run["scores"]["per_label"][level].items():
                if c["tp"] == 0 and c["fn"] > 0:
                    never_right.append(f"{ds.name}: {label}")
    pooled = score(gold_all, preds_all, symmetric=symmetric).to_dict()
    labels = sorted({t.prompt for ds in domains for t in ds.types_schema.relation_types})
    part = {
        "data_dir": str(root),
        "runs": runs,
        "pooled": {k: pooled[k] for k in ("entities", "relations")},
        "never_right": never_right,
        "backoff": backoff_table(ctx.encoder, labels),
    }
    metrics: dict[str, Any] = {
        "user_suite.entities": pooled["entities"]["strict"]["f1"],
        "user_suite.relations": pooled["relations"]["strict"]["f1"],
        "user_suite.entities_boundary": pooled["entities"]["boundary"]["f1"],
    }
    for run in runs:
        metrics[f"{run['name']}.entities"] = f1(run, "entities")
        metrics[f"{run['name']}.relations"] = f1(run, "relations")
    return part, metrics


def part_metric_names(data: dict[str, Any]) -> set[str]:
    """The metric names a suite's parts produce whatever their data (for checking its bar); the
    user suite's per-domain names depend on its data dir and are not among them."""
    names: set[str] = set()
    for s in (data.get("label_competition") or {}).get("sets", ()):
        names |= {
            f"{s}.fine.entities",
            f"{s}.coarse.entities",
            f"{s}.coarse_minus_fine",
            f"{s}.coarser_share",
        }
    for s in (data.get("relation_wording") or {}).get("sets", ()):
        s = s["name"] if isinstance(s, dict) else s
        names |= {f"{s}.canonical.entities", f"{s}.canonical.relations", f"{s}.wording_ratio"}
        names |= {f"{s}.schema.entities", f"{s}.schema.relations"}
        names |= {f"{s}.wording{k}.{t}" for k in (1, 2, 3) for t in ("entities", "relations")}
    if data.get("user_suite"):
        names |= {"user_suite.entities", "user_suite.relations", "user_suite.entities_boundary"}
    return names


def run_parts(
    suite_parts: dict[str, Any], ctx: Context
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Run the parts a suite defines; returns (parts for the report, metrics, bar flags:
    metric -> why its bar line fails whatever its value)."""
    parts: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    flags: dict[str, str] = {}
    if suite_parts.get("label_competition"):
        parts["label_competition"], m = run_label_competition(ctx, suite_parts["label_competition"])
        metrics.update(m)
    if suite_parts.get("relation_wording"):
        parts["relation_wording"], m, flags = run_relation_wording(ctx, suite_parts["relation_wording"])
        metrics.update(m)
    if suite_parts.get("user_suite"):
        part, m = run_user_suite(ctx, suite_parts["user_suite"])
        if part is not None:
            parts["user_suite"] = part
        metrics.update(m)
    return parts, metrics, flags


__all__ = [
    "PART_KEYS",
    "Context",
    "Hierarchy",
    "backoff_table",
    "coarse_schema",
    "known_overlap",
    "label_outcomes",
    "load_hierarchies",
    "load_phrasings",
    "merged_gold",
    "part_metric_names",
    "predict_and_score",
    "run_parts",
    "wording_schema",
]
