"""The report.md sections of the router's error capture (`capture`) and of the oracle LLMs
(`oracle`): tables rendered from the report dictionary only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

CAPTURE_NOTE = (
    "Share of the encoder's strict errors (false positive and false negative entities and relations) "
    "that lie in the chunks escalated at each budget: *router* = the pipeline's own choice (the chunks "
    "the `hybrid-<budget>` runs send to the LLM), *random* = as many chunks per batch drawn at random "
    "(mean of {seeds} seeds), *ideal* = as many chunks per batch, those with the most errors. "
    "*Ceiling*: the strict F1 if every escalated chunk got exactly its gold answer (what routing alone "
    "allows)."
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def capture_markdown(capture: dict[str, Any] | None, figure: str | None) -> list[str]:
    """The "Router error capture" section."""
    if not capture:
        return ["Not measured (needs an encoder run and hybrid runs or `--capture`)."]
    err, curves, auc = capture["errors"], capture["curves"], capture["auc"]
    lines = [
        (f"{err['all']} encoder errors (entities: {err['entity_fp']} FP, {err['entity_fn']} FN; relations: "
        f"{err['relation_fp']} FP, {err['relation_fn']} FN; {err['unreachable']} gold relations span two "
        f"chunks, no chunk can fix them) in {capture['chunks_with_error']} of {capture['chunks']} chunks; "
        f"{capture['chunks_wanting_llm']} chunks have a routing signal. Batches of {capture.get('batch_size', '?')} "
        "documents, as the runs."),
        "",
        CAPTURE_NOTE.format(seeds=capture["random_seeds"]),
        "",
    ]
    rows = []
    for r, m, i in zip(curves["router"], curves["random"], curves["ideal"], strict=True):
        ratio = capture["router_over_random"].get(f"{r['budget']:g}")
        rows.append([
            f"{r['budget']:g}", f"{r['escalated']:.0f} ({r['rate']:.1%})", _pct(r["share"]["all"]),
            _pct(m["share"]["all"]), _pct(i["share"]["all"]), _ratio(ratio),
            _pct(r["share"]["relations"]), _pct(m["share"]["relations"]), _pct(i["share"]["relations"]),
            _pct(r["ceiling"]["entities"]), _pct(r["ceiling"]["relations"]), _pct(i["ceiling"]["relations"]),
        ])  # fmt: skip
    header = ("budget", "escalated", "router %", "random %", "ideal %", "router / random", "rel. router %",
              "rel. random %", "rel. ideal %", "ceiling ent F1", "ceiling rel F1", "ideal ceiling rel F1")  # fmt: skip
    lines += [_table(header, rows), ""]
    position = auc.get("position")
    lines.append(
        f"Area under the capture curve (all errors, budgets 0-{capture['budgets'][-1]:g}): router "
        f"{auc['router']:.4f}, random {auc['random']:.4f} (exact expectation {auc['random_expected']:.4f}), "
        f"ideal {auc['ideal']:.4f}; **router position {'–' if position is None else f'{position:.2f}'}** "
        "(0 = random, 1 = ideal)."
    )
    kinds = ("entity_fp", "entity_fn", "relation_fp", "relation_fn")
    rows = [
        [kind, str(err[kind]), *(f"{_pct(r['share'][kind])} / {_pct(m['share'][kind])} / {_pct(i['share'][kind])}"
                                 for r, m, i in zip(curves["router"], curves["random"], curves["ideal"], strict=True))]
        for kind in kinds
    ]  # fmt: skip
    budgets = [f"{b:g}" for b in capture["budgets"]]
    lines += ["", "By error kind (router / random / ideal, % of that kind captured):", "",
              _table(("kind", "errors", *budgets), rows), ""]  # fmt: skip
    rows = [
        [s["signal"], s["chunks"], f"{s['with_error']} ({_pct(s['error_share'])}%)", s["errors"],
         *(f"{s['escalated'][b]} ({s['escalated_with_error'][b]})" for b in budgets)]
        for s in capture["signals"]
    ]  # fmt: skip
    lines += [
        ("Per routing signal: chunks it fired on, how many of them hold an error, the errors they hold, and "
        "chunks escalated at each budget (of which with an error):"),
        "",
        _table(("signal", "chunks", "with an error", "errors", *(f"escalated @{b}" for b in budgets)), rows),
    ]
    if figure:
        lines += ["", f"![error capture]({figure})"]
    return lines


def oracle_markdown(report: dict[str, Any]) -> list[str]:
    """The "Oracle LLMs" section: what each oracle did, and where the hybrid loses against the
    routing ceiling (empty when no oracle ran)."""
    oracles = report["meta"].get("oracles") or {}
    runs = [r for r in report["runs"] if r.get("llm")]
    if not oracles and not runs:
        return []
    lines = [
        "## Oracle LLMs (evaluation only: they read the gold)",
        "",
        ("Each oracle is a chat-completions server on 127.0.0.1 answering every escalated chunk from the "
        "gold annotations (`oracle:P`: each gold item dropped with probability P, else its label swapped "
        "with probability P, plus spurious items at rate P; seeded), through the same LLM client, "
        "grounding and reconcile code as a real LLM."),
        "",
    ]
    rows = []
    for spec, stats in oracles.items():
        for kind in ("entities", "relations"):
            n = stats["noise"][kind]
            gold = n["gold"] or 1
            rows.append([spec, kind, stats["requests"], stats["unmatched_chunks"], n["gold"],
                         f"{n['dropped'] / gold:.3f}", f"{n['swapped'] / gold:.3f}", f"{n['spurious'] / gold:.3f}"])  # fmt: skip
    if rows:
        header = ("oracle", "kind", "requests", "chunks not in gold", "gold items seen", "dropped", "swapped",
                  "spurious")  # fmt: skip
        lines += [_table(header, rows), ""]
    capture = report.get("capture") or {}
    ceiling = {f"{p['budget']:g}": p["ceiling"] for p in (capture.get("curves") or {}).get("router", [])}
    encoder = next((r for r in report["runs"] if r["mode"] == "encoder"), None)
    rows = []
    for r in runs:
        if r["mode"] != "hybrid":
            continue
        c, s = r["cost"], r["scores"]
        top = ceiling.get(f"{r['budget']:g}", {})
        g = c.get("grounding") or {}
        rows.append([
            r.get("label", r["name"]), f"{c['escalation_rate']:.1%}",
            _pct(encoder["scores"]["entities"]["strict"]["f1"]) if encoder else "–",
            _pct(s["entities"]["strict"]["f1"]), _pct(top.get("entities")),
            _pct(encoder["scores"]["relations"]["strict"]["f1"]) if encoder else "–",
            _pct(s["relations"]["strict"]["f1"]), _pct(top.get("relations")),
            f"{g.get('exact', 0)}/{g.get('fuzzy', 0)}/{g.get('ungrounded', 0)}", c["llm_failed"],
        ])  # fmt: skip
    if rows:
        header = ("run", "escalated", "encoder ent F1", "hybrid ent F1", "ceiling ent F1", "encoder rel F1",
                  "hybrid rel F1", "ceiling rel F1", "grounded exact/fuzzy/none", "failed calls")  # fmt: skip
        lines += [
            ("Hybrid with each oracle against the routing ceiling (the F1 if the escalated chunks got exactly "
            "the gold): encoder -> ceiling is what routing allows; ceiling -> hybrid is lost after routing "
            "(the verify task's candidate list and caps, grounding, reconcile)."),
            "",
            _table(header, rows),
            "",
        ]
    return lines
