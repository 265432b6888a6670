"""The suite report: `report.json` (every number of `suite.run_suite`) and `report.md` (the table a
person reads). `suite_rows` is shared with the console table of `hybrid-ie benchmark --suite`;
everything here reads only the report dictionary, so a report can be re-rendered from its JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SUITE_HEADER = (
    "set",
    "split",
    "sentences",
    "labels",
    "ent P",
    "ent R",
    "ent F1",
    "ent F1 boundary",
    "rel F1",
    "rel F1 boundary",
    "sent/s",
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def part_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run of the suite's parts, in report order."""
    parts = report.get("parts") or {}
    runs = [run for item in parts.get("label_competition", []) for run in item["runs"]]
    runs += [run for item in parts.get("relation_wording", []) for run in item["runs"]]
    return runs + list((parts.get("user_suite") or {}).get("runs", []))


def suite_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per evaluated set, then per run of a part (strict unless the column says boundary)."""
    rows = []
    for r in [*report["sets"], *part_runs(report)]:
        ent = r["scores"]["entities"]
        rel = r["scores"].get("relations")
        labels = r["labels"]["entities"] + r["labels"]["relations"]
        run = f" ({r['run']})" if r.get("run") not in (None, "own") else ""
        rows.append(
            [
                r["name"] + run,
                r["split"],
                f"{r['sentences']:,}",
                f"{r['labels']['entities']}+{r['labels']['relations']}" if rel else f"{labels}",
                _pct(ent["strict"]["precision"]),
                _pct(ent["strict"]["recall"]),
                _pct(ent["strict"]["f1"]),
                _pct(ent["boundary"]["f1"]),
                _pct(rel["strict"]["f1"]) if rel else "–",
                _pct(rel["boundary"]["f1"]) if rel else "–",
                "–" if r["sentences_per_s"] is None else f"{r['sentences_per_s']:.1f}",
            ]
        )
    return rows


def skipped_lines(report: dict[str, Any]) -> list[str]:
    return [f"{s['name']}: skipped, {s['reason']}" for s in report["skipped"]]


def macro_line(report: dict[str, Any]) -> str:
    macro = report["macro"]
    level = {"entities": "entity", "relations": "relation"}.get(macro["level"], macro["level"])
    text = f"macro strict {level} F1 over {', '.join(macro['sets']) or '(no set)'}: {_pct(macro['f1'])}"
    if macro["missing"]:
        text += f" (without {', '.join(macro['missing'])}: not the protocol's macro)"
    return text


def bar_lines(report: dict[str, Any]) -> list[str]:
    """The bar check, one line per metric, and the verdict (only on the full protocol)."""
    lines = []
    for b in report["bar"]:
        mark = {True: "pass", False: "FAIL", None: "not measured"}[b["ok"]]
        bound = f">= {_pct(b['min'])}" if "min" in b else f"<= {_pct(b['max'])}"
        note = f"; {b['note']}" if b.get("note") else ""
        lines.append(f"{b['metric']} {bound}: {_pct(b['value'])} ({mark}{note})")
    if not report["bar"]:
        return lines
    if report["bar_applies"]:
        lines.append("bar: " + ("PASSED" if report["bar_passed"] else "NOT PASSED"))
    else:
        why = []
        if report["split"] != "test":
            why.append(f"{report['split']} split")
        if report["limit"] is not None:
            why.append(f"first {report['limit']} sentences per set")
        if report["skipped"] or report["macro"]["missing"]:
            why.append("sets missing")
        lines.append(f"bar: indicative only ({', '.join(why)}); the bar is judged on the full test protocol")
    return lines


def _table(header: tuple[str, ...], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _f1(run: dict[str, Any], task: str) -> str:
    scores = run["scores"].get(task)
    return "–" if scores is None else _pct(scores["strict"]["f1"])


def _backoff_rows(table: list[dict[str, Any]] | None, where: dict[str, str]) -> list[list[str]]:
    return [
        [where.get(b["prompt"], ""), b["prompt"], b["target"], f"{b['similarity']:.2f}"] for b in table or []
    ]


def competition_lines(items: list[dict[str, Any]]) -> list[str]:
    """Label competition: both F1s, the coarser share, and per coarse group the gold mentions'
    fates in the coarse run."""
    out = []
    for item in items:
        fine, coarse = item["runs"]
        o = coarse["outcomes"]
        head = (
            f"**{item['name']}** ({item['mapping']}): fine labels only {_f1(fine, 'entities')}, with coarse "
            f"labels and catch-alls {_f1(coarse, 'entities')}; gold mentions given a coarser label: "
            f"{o['coarser']} of {o['gold']} ({_pct(o['coarser_share'])}%)"
        )
        rows = [
            [group, str(sum(r.values())), *(str(r[k]) for k in ("right", "coarser", "other", "missed"))]
            for group, r in sorted(o["groups"].items())
        ]
        header = ("coarse run: group", "gold", "right", "coarser", "other label", "missed")
        out += [head, "", _table(header, rows), ""]
    return out


def wording_lines(items: list[dict[str, Any]]) -> list[str]:
    """Relation wording: relation F1 per run and the ratio, the known-label check, and where
    relation backoff sends each label."""
    rows, backoff = [], []
    for item in items:
        runs = {r["run"]: r for r in item["runs"]}
        wordings = [r for k, r in runs.items() if k.startswith("wording")]
        canonical = runs.get("canonical")
        ratio = None
        if canonical and wordings and canonical["scores"]["relations"]["strict"]["f1"]:
            mean = sum(r["scores"]["relations"]["strict"]["f1"] for r in wordings) / len(wordings)
            ratio = mean / canonical["scores"]["relations"]["strict"]["f1"]
        overlap = ", ".join(item["known_overlap"]) or (
            "none" if item["known_labels_checked"] else "not checked"
        )
        schema = runs.get("schema")
        rows.append(
            [item["name"], "–" if canonical is None else _f1(canonical, "relations"),
             " / ".join(_f1(r, "relations") for r in wordings) or "–",
             "–" if ratio is None else f"{ratio:.2f}", overlap,
             "–" if schema is None else f"{_f1(schema, 'entities')} / {_f1(schema, 'relations')}"]
        )  # fmt: skip
        where = {p: f"{item['name']} {k} (own name)" for k, p in item.get("own_names", {}).items()}
        where.update({p: f"{item['name']} {k}" for k, v in item["phrasings"].items() for p in v})
        backoff += _backoff_rows(item["backoff"], where)
    header = ("set", "rel F1 own names", "rel F1 wording 1 / 2", "ratio", "phrasings among known labels",
              "repo schema ent / rel F1")  # fmt: skip
    out = [_table(header, rows), ""]
    strengths = sorted(
        {item["backoff_strength"] for item in items if item.get("backoff_strength") is not None}
    )
    if strengths:
        out += [f"relation backoff strength of the checkpoint: {', '.join(map(str, strengths))}", ""]
    if backoff:
        out += [
            (
                "Relation backoff targets (the known training relation prompt nearest to each label; a "
                "known label is its own target):"
            ),
            "",
            _table(("set / type", "label", "backoff target", "cosine"), backoff),
            "",
        ]
    return out


def user_suite_lines(part: dict[str, Any]) -> list[str]:
    """The user suite: pooled micro F1, per domain, labels never right, backoff targets."""
    pooled = part["pooled"]
    head = (
        f"pooled over {sum(r['sentences'] for r in part['runs'])} sentences ({part['data_dir']}): entity F1 "
        f"**{_pct(pooled['entities']['strict']['f1'])}** (boundary "
        f"{_pct(pooled['entities']['boundary']['f1'])}), relation F1 **{_pct(pooled['relations']['strict']['f1'])}**"
    )
    rows = [
        [
            r["name"].split(".", 1)[-1],
            str(r["sentences"]),
            f"{r['labels']['entities']}+{r['labels']['relations']}",
            _f1(r, "entities"),
            _pct(r["scores"]["entities"]["boundary"]["f1"]),
            _f1(r, "relations"),
        ]
        for r in part["runs"]
    ]
    out = [
        head,
        "",
        _table(("domain", "sentences", "labels", "ent F1", "ent F1 boundary", "rel F1"), rows),
        "",
        f"labels never right once ({len(part['never_right'])}): "
        + (", ".join(part["never_right"]) or "none"),
        "",
    ]
    if part.get("backoff"):
        out += [
            _table(("", "relation label", "backoff target", "cosine"), _backoff_rows(part["backoff"], {})),
            "",
        ]
    return out


def part_lines(report: dict[str, Any]) -> list[str]:
    """The parts' sections (markdown), empty when the suite has none."""
    parts = report.get("parts") or {}
    out = []
    for key, title, render in (
        ("label_competition", "Label competition", competition_lines),
        ("relation_wording", "Relation wording", wording_lines),
        ("user_suite", "User suite", user_suite_lines),
    ):
        if parts.get(key):
            out += [f"## {title}", "", *render(parts[key])]
    return out


def _model_lines(model: dict[str, Any]) -> list[str]:
    lines = [f"- model: `{model.get('path') or model.get('identity')}` ({model.get('identity')})"]
    if model.get("checkpoint_commit"):
        lines.append(f"- checkpoint last committed: {model['checkpoint_commit']}")
    if model.get("config_sha"):
        best = model.get("training_best") or {}
        sets = model.get("training_datasets")
        trained = sets if isinstance(sets, str) else ", ".join(sets or []) or "?"  # "all" or names
        step = f", best step {best['step']}" if best.get("step") is not None else ""
        what = f"trained on {trained}{step}"
        if model.get("averaged_from"):
            what = f"the average of {model['averaged_from']} checkpoints (the first {what})"
        lines.append(
            f"- config sha {model['config_sha']}; {what}; thresholds "
            f"{model.get('threshold')} / {model.get('relation_threshold')}"
        )
    return lines


def render_suite_markdown(report: dict[str, Any]) -> str:
    decoding = "nested" if report["nested"] else "flat (no nested entities)"
    intro = (
        "Each set is read with its own labels (the verbose names of its types.json); scores are strict "
        "micro F1 (boundaries and type must match; relations: type and both arguments) unless the column "
        f"says boundary (boundaries only); decoding {decoding}. sent/s is the encoder's prediction "
        "throughput on this machine."
    )
    if report["protocol"]:
        intro = f"Protocol: {report['protocol']}. " + intro
    run = (
        f"- code commit {report['git_commit']}, {report['date']}, {report['threads']} torch thread(s), "
        f"batch size {report['batch_size']}, total {report['wall_s']:.0f} s"
    )
    command = f"`{report['command']}`" if report["command"] else "(called from Python)"
    load = report.get("load_average") or {}
    if load.get("start") and load.get("end"):
        run += f"; load average (1/5/15 min) {load['start']} at the start, {load['end']} at the end"
    out = [
        f"# Suite `{report['suite']}`: {report['split']} split",
        "",
        *([report["description"], ""] if report["description"] else []),
        intro,
        "",
        _table(SUITE_HEADER, suite_rows(report)),
        "",
        *([*(f"- {line}" for line in skipped_lines(report)), ""] if report["skipped"] else []),
        f"**{macro_line(report)}**",
        "",
        *part_lines(report),
        *(["## Bar", ""] if report.get("parts") else []),
        *(f"- {line}" for line in bar_lines(report)),
        "",
        "## Run",
        "",
        *_model_lines(report["model"]),
        f"- command: {command}",
        run,
        f"- data: `{report['data_dir']}`",
    ]
    return "\n".join(out) + "\n"


def write_suite_report(report: dict[str, Any], output_dir: str | Path) -> dict[str, Path]:
    """Write report.json and report.md into `output_dir`; returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"json": out / REPORT_JSON, "markdown": out / REPORT_MD}
    written["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written["markdown"].write_text(render_suite_markdown(report), encoding="utf-8")
    return written


__all__ = [
    "SUITE_HEADER",
    "bar_lines",
    "macro_line",
    "part_lines",
    "part_runs",
    "render_suite_markdown",
    "suite_rows",
    "write_suite_report",
]
