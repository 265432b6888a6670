"""The verdict of a benchmark: per kind (entities, relations), does the best hybrid budget beat both
single tiers (encoder-only, LLM-only), at what escalation rate and cost, and if not, why (what
the LLM fixed and broke, which error kind grew). Reads only the report's run entries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hybrid_ie.benchmark.examples import ENTITY_ERROR_KINDS, RELATION_ERROR_KINDS

KINDS = ("entities", "relations")


def strict_f1(run: dict[str, Any], kind: str) -> float:
    return run["scores"][kind]["strict"]["f1"]


def best_hybrid(runs: Sequence[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    """The hybrid run with budget > 0 and the highest strict F1 of `kind` (lowest budget on ties)."""
    hybrids = [r for r in runs if r["mode"] == "hybrid" and r["budget"] > 0]
    return max(hybrids, key=lambda r: (strict_f1(r, kind), -r["budget"]), default=None)


def _run_named(runs: Sequence[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((r for r in runs if r["name"] == name), None)


def pct(value: float | None) -> str:
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


def _with_llm(run: dict[str, Any]) -> str:
    """" with oracle:0.1 (reads gold)" for a run of one of several LLMs (`--llm`), else ""."""
    return f" with {run['llm']} (reads gold)" if run.get("llm") else ""


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
    best_f1 = strict_f1(best, kind)
    parts = [
        f"it does not exceed {tier}-only ({pct(strict_f1(run, kind))})"
        for tier, run in (("encoder", encoder), ("LLM", llm))
        if strict_f1(run, kind) >= best_f1
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
    if strict_f1(llm, kind) < strict_f1(encoder, kind):
        parts.append(
            f"the LLM alone is weaker than the encoder on {kind} "
            f"({pct(strict_f1(llm, kind))} vs {pct(strict_f1(encoder, kind))})"
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
                better = strict_f1(best, kind) > strict_f1(encoder, kind)
                detail = _changes_phrase(kind, best, changes)
                statement = (
                    f"{kind} (strict micro F1), no LLM-only run: best hybrid {pct(strict_f1(best, kind))} at budget "
                    f"{best['budget']:g}{_with_llm(best)} ({_cost_phrase(best)}) vs encoder-only {pct(strict_f1(encoder, kind))}: "
                    + ("hybrid is better than the encoder" if better else "hybrid does NOT beat the encoder")
                    + (f"; {detail}." if detail else ".")
                )
            out[kind] = {"compared": False, "statement": statement}
            continue
        enc_f1, llm_f1, best_f1 = strict_f1(encoder, kind), strict_f1(llm, kind), strict_f1(best, kind)
        winners = [
            r
            for r in runs
            if r["mode"] == "hybrid" and r["budget"] > 0 and strict_f1(r, kind) > max(enc_f1, llm_f1)
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
            f"{kind} (strict micro F1): hybrid {pct(best_f1)} at budget {best['budget']:g}{_with_llm(best)} "
            f"({_cost_phrase(best)}) vs encoder-only {pct(enc_f1)} and LLM-only {pct(llm_f1)} "
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
