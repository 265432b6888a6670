"""The benchmark report: `report.json` (every number) and `report.md` (the tables a person reads),
plus the PNG figures of `plots`.

`build_report` turns the runs' scores and costs into one dictionary: error examples per mode,
the changes each LLM-using run made relative to encoder-only, and the verdict (does hybrid beat
both single tiers, at what escalation rate and cost, and if not, why). `render_markdown` reads
only that dictionary, so a report can be re-rendered from its JSON.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybrid_ie.benchmark import plots
from hybrid_ie.benchmark.capture_report import capture_markdown, oracle_markdown
from hybrid_ie.benchmark.examples import changes_against, error_examples
from hybrid_ie.benchmark.verdict import KINDS, best_hybrid, pct, verdict
from hybrid_ie.document import Document

PREDS_DIR = "preds"
GOLD_FILE = "gold.jsonl"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FIGURES = {
    "f1_vs_budget": "f1_vs_budget.png",
    "f1_vs_time": "f1_vs_time.png",
    "reliability": "calibration_reliability.png",
    "capture": "error_capture.png",
}


# -- building ----------------------------------------------------------------------------------


def _items_equal(a: Sequence[Document], b: Sequence[Document]) -> bool:
    def items(docs: Sequence[Document]) -> dict[str, tuple]:
        return {
            d.id: (
                sorted((e.start, e.end, e.label) for e in d.entities),
                sorted((d.entity(r.head).span, d.entity(r.tail).span, r.label) for r in d.relations),
            )
            for d in docs
        }

    return items(a) == items(b)


def build_report(
    *,
    config: Any,
    gold: Sequence[Document],
    results: list[dict[str, Any]],
    meta: dict[str, Any],
    calibration: dict[str, Any] | None,
    symmetric: frozenset[str],
    capture: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The report dictionary. Each entry of `results` holds name, mode, budget, preds, scores,
    cost and `_predictions` (the Documents read back from its preds file; not kept); `capture` is
    the router's error capture (`capture.measure_capture`)."""
    preds = {r["name"]: r.pop("_predictions") for r in results}
    encoder_preds = preds.get("encoder")
    changes = {
        name: changes_against(gold, encoder_preds, docs, symmetric=symmetric)
        for name, docs in preds.items()
        if encoder_preds is not None and name != "encoder"
    }
    shown = {"encoder", "llm"} | {
        best["name"] for kind in KINDS if (best := best_hybrid(results, kind)) is not None
    }
    examples = {
        name: error_examples(
            gold, docs, symmetric=symmetric, per_kind=config.examples_per_kind, seed=config.seed
        )
        for name, docs in preds.items()
        if name in shown
    }
    checks = {}
    if encoder_preds is not None and "hybrid-0" in preds:
        checks["hybrid_budget_0_equals_encoder"] = _items_equal(encoder_preds, preds["hybrid-0"])
    if capture:
        chosen = {p["budget"]: p["escalated"] for p in capture["curves"]["router"]}
        pairs = [(chosen[r["budget"]], r["cost"]["escalated_chunks"]) for r in results
                 if r["mode"] == "hybrid" and r["budget"] in chosen]  # fmt: skip
        if pairs:
            checks["capture_escalates_the_chunks_of_the_hybrid_runs"] = all(a == b for a, b in pairs)
    return {
        "meta": meta,
        "dataset": {
            "source": config.source,
            "limit": config.limit,
            "documents": len(gold),
            "gold": f"{PREDS_DIR}/{GOLD_FILE}",
            "gold_entities": sum(len(d.entities) for d in gold),
            "gold_relations": sum(len(d.relations) for d in gold),
        },
        "runs": results,
        "changes_vs_encoder": changes,
        "examples": examples,
        "checks": checks,
        "verdict": verdict(results, changes, examples),
        "calibration": calibration,
        "capture": capture,
    }


# -- writing -----------------------------------------------------------------------------------


def write_report(report: dict[str, Any], output_dir: str | Path) -> dict[str, Path]:
    """Write the figures, report.json and report.md into `output_dir`; returns their paths."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    drawn = {
        "f1_vs_budget": plots.plot_f1_vs_budget(report, out / FIGURES["f1_vs_budget"]),
        "f1_vs_time": plots.plot_f1_vs_time(report, out / FIGURES["f1_vs_time"]),
        "reliability": plots.plot_reliability(report["calibration"], out / FIGURES["reliability"])
        if report.get("calibration")
        else None,
        "capture": plots.plot_capture(report["capture"], out / FIGURES["capture"], plots.title_of(report))
        if report.get("capture")
        else None,
    }
    report["figures"] = {key: path.name for key, path in drawn.items() if path is not None}
    written.update({key: path for key, path in drawn.items() if path is not None})
    written["json"] = out / REPORT_JSON
    written["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written["markdown"] = out / REPORT_MD
    written["markdown"].write_text(render_markdown(report), encoding="utf-8")
    return written


# -- markdown ----------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def run_label(run: dict[str, Any]) -> str:
    """A run's name in tables: its label when it has one (oracle runs: "hybrid-0.2 (oracle:0.1 —
    reads gold)")."""
    return str(run.get("label") or run["name"])


def _num(value: float | None, fmt: str = "{:,}") -> str:
    return "–" if value is None else fmt.format(value)


def _headline_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in runs:
        s, c = r["scores"], r["cost"]
        ent, rel = s["entities"]["strict"], s["relations"]["strict"]
        rows.append(
            [
                run_label(r),
                f"{c['escalation_rate']:.1%}",
                pct(ent["precision"]),
                pct(ent["recall"]),
                f"**{pct(ent['f1'])}**",
                pct(s["entities"]["boundary"]["f1"]),
                pct(s["macro"]["entities"]["f1"]),
                pct(rel["precision"]),
                pct(rel["recall"]),
                f"**{pct(rel['f1'])}**",
                pct(s["relations"]["boundary"]["f1"]),
                pct(s["macro"]["relations"]["f1"]),
            ]
        )
    return rows


HEADLINE_HEADER = (
    "run",
    "escalated",
    "ent P",
    "ent R",
    "ent F1",
    "ent F1 bound.",
    "ent macro F1",
    "rel P",
    "rel R",
    "rel F1",
    "rel F1 bound.",
    "rel macro F1",
)
COST_HEADER = (
    "run", "chunks", "escalated", "LLM calls", "failed", "cache hits", "prompt tok", "completion tok",
    "tokens spent here", "cost USD", "schema-valid %", "grounded %", "wall s", "stand-alone s", "docs/s",
)  # fmt: skip
COST_NOTE = (
    "Times in seconds. *wall*: inside this benchmark (the encoder pass and the LLM cache are shared "
    "between runs); *stand-alone*: the run alone with an empty LLM cache (the encoder pass added back, "
    "cached LLM calls at the latency they had when computed); docs/s from stand-alone time. Prompt and "
    "completion tokens and cost are stand-alone too; *tokens spent here* counts only the calls this run "
    "did not find in the cache. schema-valid: share of LLM answers that validated; grounded: share of "
    "LLM mentions found in the text (exact or fuzzy)."
)


def _cost_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in runs:
        c = r["cost"]
        rows.append(
            [
                run_label(r),
                _num(c["chunks"]),
                _num(c["escalated_chunks"]),
                _num(c["llm_calls"]),
                _num(c["llm_failed"]),
                _num(c["cache_hits"]),
                _num(c["prompt_tokens"]),
                _num(c["completion_tokens"]),
                _num(c["tokens_spent_here"]),
                _num(c["cost_usd"], "{:.4f}"),
                pct(c["schema_valid_rate"]),
                pct(c["grounding_rate"]),
                _num(c["wall_s"], "{:.1f}"),
                _num(c["standalone_s"], "{:.1f}"),
                _num(c["docs_per_s"], "{:.2f}"),
            ]
        )
    return rows


def _cost_notes(runs: Sequence[dict[str, Any]]) -> list[str]:
    notes = []
    reused = [f"{r['name']} (finished {r['finished']})" for r in runs if r.get("reused")]
    if reused:
        notes.append(
            f"Re-used from an earlier invocation (`--resume`), numbers as measured then: {', '.join(reused)}."
        )
    unknown = {r["name"]: r["cost"]["standalone_unknown_calls"] for r in runs}
    if any(unknown.values()):
        listed = ", ".join(f"{name} {n}" for name, n in unknown.items() if n)
        notes.append(
            f"Some LLM answers came from a cache filled before this benchmark ({listed} calls); their "
            "stand-alone time is unknown (shown as –) and their tokens are counted as those of the cache hit (0)."
        )
    return [line for note in notes for line in ("", f"**Note:** {note}")]


def _per_label_table(runs: Sequence[dict[str, Any]], kind: str) -> str:
    labels = sorted({label for r in runs for label in r["scores"]["per_label"][kind]})
    if not labels:
        return "(no labels)"
    first = runs[0]["scores"]["per_label"][kind]
    rows = []
    for label in labels:
        gold_n = first.get(label, {"tp": 0, "fn": 0})
        support = gold_n["tp"] + gold_n["fn"]
        cells = []
        for r in runs:
            row = r["scores"]["per_label"][kind].get(label)
            cells.append("–" if row is None else f"{pct(row['f1'])} ({row['tp']}/{row['fp']}/{row['fn']})")
        rows.append([label, str(support), *cells])
    return _table(("label", "gold", *(run_label(r) for r in runs)), rows)


def _changes_table(report: dict[str, Any]) -> str:
    rows = []
    for name, kinds in report["changes_vs_encoder"].items():
        for kind in KINDS:
            ch = kinds[kind]
            rows.append([name, kind, ch["fixed"], ch["broken"], ch["fp_added"], ch["fp_removed"]])
    return _table(("run", "kind", "fixed (new TP)", "broken (lost TP)", "FP added", "FP removed"), rows)


def _examples_section(report: dict[str, Any]) -> list[str]:
    lines = []
    for name, data in report["examples"].items():
        counts = ", ".join(f"{k} {v}" for k, v in data["counts"].items())
        lines += [f"### {name}", "", f"Error counts: {counts}.", ""]
        for kind, items in data["examples"].items():
            for ex in items:
                detail = f" — {ex['detail']}" if ex["detail"] else ""
                lines.append(f"- **{kind}** `{ex['doc']}`: {ex['text']}{detail}  \n  > {ex['context']}")
        lines.append("")
    return lines


def _calibration_section(calibration: dict[str, Any] | None, figures: dict[str, str]) -> list[str]:
    if not calibration:
        return ["Not measured (no encoder run, or no dev split for this data set)."]
    lines = [
        f"Encoder scores on `{calibration['dataset']}` ({calibration['documents']} documents). "
        + calibration["note"],
        "",
    ]
    rows = []
    for variant, kinds in calibration["variants"].items():
        for kind in KINDS:
            if kind in kinds:
                rows.append([variant, kind, str(kinds[kind]["count"]), f"{kinds[kind]['ece']:.4f}"])
    lines.append(_table(("scores", "kind", "items", "ECE"), rows))
    if "reliability" in figures:
        lines += ["", f"![reliability diagram]({figures['reliability']})"]
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """report.md from the report dictionary."""
    meta, data, runs = report["meta"], report["dataset"], report["runs"]
    figures = report.get("figures", {})
    limit = f" (first {data['limit']} documents)" if data["limit"] else ""
    lines = [
        f"# Benchmark: {data['source']}{limit}",
        "",
        f"- date: {meta['date']}; git commit: {meta['git_commit'] or '?'}; seed: {meta['seed']}",
        f"- command: `{meta['command'] or '(python API)'}`",
        (
            f"- documents: {data['documents']} ({data['gold_entities']} gold entities, "
            f"{data['gold_relations']} gold relations); schema: `{meta['schema']}`"
        ),
        (
            f"- encoder: {meta['encoder']['model']} (one pass over the chunks: "
            f"{meta['encoder']['encoder_pass_s']:.1f} s); LLM: {_llm_line(meta.get('llm'))}; "
            f"reconcile: {meta.get('reconcile') or 'pipeline default'}"
        ),
        "",
        "## Verdict",
        "",
        *(f"- {report['verdict'][kind]['statement']}" for kind in KINDS),
        "",
    ]
    for check, ok in report.get("checks", {}).items():
        lines.append(f"- check `{check}`: {'yes' if ok else 'NO'}")
    lines += [
        "",
        "## Scores (strict micro unless marked; %)",
        "",
        _table(HEADLINE_HEADER, _headline_rows(runs)),
        "",
        "## Cost",
        "",
        COST_NOTE,
        "",
        _table(COST_HEADER, _cost_rows(runs)),
        *_cost_notes(runs),
        "",
    ]
    if report["changes_vs_encoder"]:
        lines += ["## Changes relative to encoder-only (strict items)", "", _changes_table(report), ""]
    lines += ["## Figures", ""]
    for key in ("f1_vs_budget", "f1_vs_time"):
        if key in figures:
            lines.append(f"![{key}]({figures[key]})")
    lines += ["", "## Router error capture (encoder errors in escalated chunks; no LLM)", ""]
    lines += [*capture_markdown(report.get("capture"), figures.get("capture")), ""]
    lines += oracle_markdown(report)
    lines += ["## Per label (strict F1 %, tp/fp/fn)", ""]
    for kind in KINDS:
        lines += [f"### {kind}", "", _per_label_table(runs, kind), ""]
    lines += ["## Calibration", "", *_calibration_section(report.get("calibration"), figures), ""]
    lines += ["## Error examples", "", *_examples_section(report)]
    lines += [
        "## Reproduce the scores",
        "",
        "Predictions are in `preds/` (not committed). Each run's numbers above come from:",
        "",
        "```",
        *(
            f"hybrid-ie eval --gold {data['gold']} --pred {r['preds']} --schema {meta['schema']} --json"
            for r in runs
        ),
        "```",
        "",
        "(run from this report's folder).",
        "",
    ]
    return "\n".join(lines)


def _llm_line(llm: Any) -> str:
    if not llm:
        return "not used"
    if isinstance(llm, dict) and llm and all(isinstance(v, dict) for v in llm.values()):  # several (--llm)
        return "; ".join(str(v.get("label") or k) for k, v in llm.items())
    if isinstance(llm, dict):
        keys = ("backend", "model", "base_url")
        return ", ".join(f"{k} {llm[k]}" for k in keys if llm.get(k)) or "configured"
    return str(llm)
