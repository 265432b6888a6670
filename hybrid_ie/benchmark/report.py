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
from hybrid_ie.benchmark.examples import (
    ENTITY_ERROR_KINDS,
    RELATION_ERROR_KINDS,
    changes_against,
    error_examples,
)
from hybrid_ie.document import Document, read_jsonl
from hybrid_ie.metrics import score

KINDS = ("entities", "relations")
PREDS_DIR = "preds"
GOLD_FILE = "gold.jsonl"
REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FIGURES = {
    "f1_vs_budget": "f1_vs_budget.png",
    "f1_vs_time": "f1_vs_time.png",
    "reliability": "calibration_reliability.png",
}


# -- building ----------------------------------------------------------------------------------


def _f1(run: dict[str, Any], kind: str) -> float:
    return run["scores"][kind]["strict"]["f1"]


def best_hybrid(runs: Sequence[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The hybrid run with budget > 0 and the highest strict F1 of `kind` (lowest budget on ties)."""
    hybrids = [r for r in runs if r["mode"] == "hybrid" and r["budget"] > 0]
    return max(hybrids, key=lambda r: (_f1(r, kind), -r["budget"]), default=None)


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


def _run_named(runs: Sequence[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in runs if r["name"] == name), None)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _cost_phrase(run: dict[str, Any]) -> str:
    c = run["cost"]
    escalation = f"escalation rate {c['escalation_rate']:.1%}, " if run["mode"] == "hybrid" else ""
    if c["standalone_s"] is None:
        return (
            f"{escalation}{c['llm_calls']} LLM calls, {c['standalone_unknown_calls']} of them answered from a "
            "cache filled outside this benchmark, so tokens and time are unknown"
        )
    return (
        f"{escalation}{c['llm_calls']} LLM calls, "
        f"{c['prompt_tokens'] + c['completion_tokens']:,} LLM tokens, {c['standalone_s']:.0f} s stand-alone"
    )


def _changes_phrase(kind: str, run: dict[str, Any], changes: dict[str, Any]) -> str | None:
    ch = changes.get(run["name"], {}).get(kind)
    if ch is None:
        return None
    return (
        f"against encoder-only, the LLM at budget {run['budget']:g} fixed {ch['fixed']} and broke "
        f"{ch['broken']} {kind} (true positives), added {ch['fp_added']} and removed "
        f"{ch['fp_removed']} false positives"
    )


def _why_not(
    kind: str,
    best: dict[str, Any],
    encoder: dict[str, Any],
    llm: dict[str, Any],
    changes: dict[str, Any],
    examples: dict[str, Any],
    runs: Sequence[dict[str, Any]],
) -> str:
    """A measured explanation of why the best hybrid run does not beat both single tiers: which
    tier it does not exceed, what the LLM changed at that budget and at the largest one."""
    best_f1 = _f1(best, kind)
    parts = [
        f"it does not exceed {tier}-only ({_pct(_f1(run, kind))})"
        for tier, run in (("encoder", encoder), ("LLM", llm))
        if _f1(run, kind) >= best_f1
    ]
    if (phrase := _changes_phrase(kind, best, changes)) is not None:
        parts.append(phrase)
    largest = max((r for r in runs if r["mode"] == "hybrid"), key=lambda r: r["budget"], default=None)
    if largest is not None and largest is not best and (phrase := _changes_phrase(kind, largest, changes)):
        parts.append(phrase.replace("against encoder-only, ", "and "))
    error_kinds = ENTITY_ERROR_KINDS if kind == "entities" else RELATION_ERROR_KINDS
    enc_counts = examples.get("encoder", {}).get("counts", {})
    hyb_counts = examples.get(best["name"], {}).get("counts", {})
    if enc_counts and hyb_counts:
        grew = max(error_kinds, key=lambda k: hyb_counts.get(k, 0) - enc_counts.get(k, 0))
        delta = hyb_counts.get(grew, 0) - enc_counts.get(grew, 0)
        if delta > 0:
            parts.append(
                f"the error kind that grew most is '{grew}' ({enc_counts[grew]} -> {hyb_counts[grew]})"
            )
    if _f1(llm, kind) < _f1(encoder, kind):
        parts.append(
            f"the LLM alone is weaker than the encoder on {kind} "
            f"({_pct(_f1(llm, kind))} vs {_pct(_f1(encoder, kind))})"
        )
    return "; ".join(parts) + "." if parts else "no LLM run to explain it."


def verdict(
    runs: Sequence[dict[str, Any]], changes: dict[str, Any], examples: dict[str, Any]
) -> dict[str, Any]:
    """Per kind (entities, relations, strict micro F1): does the best hybrid budget beat both
    encoder-only and LLM-only; the lowest budget that does; and a plain statement."""
    encoder, llm = _run_named(runs, "encoder"), _run_named(runs, "llm")
    out: dict[str, Any] = {}
    for kind in KINDS:
        best = best_hybrid(runs, kind)
        if best is None or encoder is None or llm is None:
            ran = ", ".join(r["name"] for r in runs)
            statement = f"{kind}: not compared (needs encoder, llm and a hybrid budget > 0; ran: {ran})."
            if best is not None and encoder is not None:  # no LLM-only run: hybrid vs encoder only
                better = _f1(best, kind) > _f1(encoder, kind)
                detail = _changes_phrase(kind, best, changes)
                statement = (
                    f"{kind} (strict micro F1), no LLM-only run: best hybrid {_pct(_f1(best, kind))} at budget "
                    f"{best['budget']:g} ({_cost_phrase(best)}) vs encoder-only {_pct(_f1(encoder, kind))}: "
                    + ("hybrid is better than the encoder" if better else "hybrid does NOT beat the encoder")
                    + (f"; {detail}." if detail else ".")
                )
            out[kind] = {"compared": False, "statement": statement}
            continue
        enc_f1, llm_f1, best_f1 = _f1(encoder, kind), _f1(llm, kind), _f1(best, kind)
        winners = [
            r
            for r in runs
            if r["mode"] == "hybrid" and r["budget"] > 0 and _f1(r, kind) > max(enc_f1, llm_f1)
        ]
        first = min(winners, key=lambda r: r["budget"], default=None)
        entry = {
            "compared": True,
            "beats_both": bool(winners),
            "best_budget": best["budget"],
            "best_f1": best_f1,
            "encoder_f1": enc_f1,
            "llm_f1": llm_f1,
            "best_escalation_rate": best["cost"]["escalation_rate"],
            "lowest_winning_budget": first["budget"] if first else None,
        }
        head = (
            f"{kind} (strict micro F1): hybrid {_pct(best_f1)} at budget {best['budget']:g} "
            f"({_cost_phrase(best)}) vs encoder-only {_pct(enc_f1)} and LLM-only {_pct(llm_f1)} "
            f"({_cost_phrase(llm)})"
        )
        if winners:
            detail = _changes_phrase(kind, best, changes)
            entry["statement"] = (
                f"{head}: hybrid BEATS both single tiers; the lowest budget that does is "
                f"{first['budget']:g} ({_cost_phrase(first)})."
                + (f" Best budget {best['budget']:g}: {detail}." if detail else "")
            )
        else:
            entry["statement"] = f"{head}: hybrid does NOT beat both single tiers. Why: " + _why_not(
                kind, best, encoder, llm, changes, examples, runs
            )
        out[kind] = entry
    return out


def build_report(
    *,
    config: Any,
    gold: Sequence[Document],
    results: list[dict[str, Any]],
    meta: dict[str, Any],
    calibration: dict[str, Any] | None,
    symmetric: frozenset[str],
) -> dict[str, Any]:
    """The report dictionary. Each entry of `results` holds name, mode, budget, preds, scores,
    cost and `_predictions` (the Documents read back from its preds file; not kept)."""
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
    }
    report["figures"] = {key: path.name for key, path in drawn.items() if path is not None}
    written.update({key: path for key, path in drawn.items() if path is not None})
    written["json"] = out / REPORT_JSON
    written["json"].write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    written["markdown"] = out / REPORT_MD
    written["markdown"].write_text(render_markdown(report), encoding="utf-8")
    return written


def rerender(output_dir: str | Path) -> dict[str, Path]:
    """Re-score every run from its saved predictions and re-write the verdict, report.md and the
    figures of a report folder from its report.json (no extraction is run again; costs are kept
    as measured)."""
    out = Path(output_dir)
    report = json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))
    gold = list(read_jsonl(out / report["dataset"]["gold"]))
    symmetric = report["meta"].get("symmetric_relations", [])
    for run in report["runs"]:
        run["scores"] = score(gold, list(read_jsonl(out / run["preds"])), symmetric=symmetric).to_dict()
    report["verdict"] = verdict(report["runs"], report["changes_vs_encoder"], report["examples"])
    return write_report(report, out)


# -- markdown ----------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _num(value: float | None, fmt: str = "{:,}") -> str:
    return "–" if value is None else fmt.format(value)


def _headline_rows(runs: Sequence[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for r in runs:
        s, c = r["scores"], r["cost"]
        ent, rel = s["entities"]["strict"], s["relations"]["strict"]
        rows.append(
            [
                r["name"],
                f"{c['escalation_rate']:.1%}",
                _pct(ent["precision"]),
                _pct(ent["recall"]),
                f"**{_pct(ent['f1'])}**",
                _pct(s["entities"]["boundary"]["f1"]),
                _pct(s["macro"]["entities"]["f1"]),
                _pct(rel["precision"]),
                _pct(rel["recall"]),
                f"**{_pct(rel['f1'])}**",
                _pct(s["relations"]["boundary"]["f1"]),
                _pct(s["macro"]["relations"]["f1"]),
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
                r["name"],
                _num(c["chunks"]),
                _num(c["escalated_chunks"]),
                _num(c["llm_calls"]),
                _num(c["llm_failed"]),
                _num(c["cache_hits"]),
                _num(c["prompt_tokens"]),
                _num(c["completion_tokens"]),
                _num(c["tokens_spent_here"]),
                _num(c["cost_usd"], "{:.4f}"),
                _pct(c["schema_valid_rate"]),
                _pct(c["grounding_rate"]),
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
            cells.append("–" if row is None else f"{_pct(row['f1'])} ({row['tp']}/{row['fp']}/{row['fn']})")
        rows.append([label, str(support), *cells])
    return _table(("label", "gold", *(r["name"] for r in runs)), rows)


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
    lines += ["", "## Per label (strict F1 %, tp/fp/fn)", ""]
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
    if isinstance(llm, dict):
        keys = ("backend", "model", "base_url")
        return ", ".join(f"{k} {llm[k]}" for k in keys if llm.get(k)) or "configured"
    return str(llm)


# -- eval/RESULTS.md ---------------------------------------------------------------------------

RESULTS_HEADER = ("data (documents)", "run", "escalated", "ent F1", "rel F1", "LLM calls", "docs/s", "report")


def results_rows(report: dict[str, Any], link: str) -> list[list[str]]:
    """Rows for the headline table of eval/RESULTS.md: encoder-only, LLM-only and the best hybrid
    budget by relation F1 (strict micro F1 %, docs/s from stand-alone time)."""
    data, runs = report["dataset"], report["runs"]
    limit = f", first {data['limit']}" if data["limit"] else ""
    best = best_hybrid(runs, "relations")
    shown = [r for r in runs if r["mode"] != "hybrid" or (best is not None and r["name"] == best["name"])]
    return [
        [
            f"{data['source']} ({data['documents']}{limit})",
            r["name"],
            f"{r['cost']['escalation_rate']:.1%}" if r["mode"] == "hybrid" else "–",
            _pct(_f1(r, "entities")),
            _pct(_f1(r, "relations")),
            str(r["cost"]["llm_calls"]),
            _num(r["cost"]["docs_per_s"], "{:.2f}"),
            f"[{link}]({link})",
        ]
        for r in shown
    ]


def results_table(reports: Sequence[tuple[dict[str, Any], str]]) -> str:
    """The headline table from (report, link to its report.md) pairs."""
    return _table(RESULTS_HEADER, [row for report, link in reports for row in results_rows(report, link)])
