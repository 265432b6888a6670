"""Benchmark figures (matplotlib, Agg backend, PNG), drawn from the report dictionary.

Every function reads the same dictionary that `report.json` holds, so the figures can be
redrawn from a saved report without re-running anything:

- `plot_f1_vs_budget`: strict micro F1 of the hybrid runs against the escalation budget, one
  panel for entities and one for relations; encoder-only and LLM-only as horizontal lines.
- `plot_f1_vs_time`: strict micro F1 of every run against its stand-alone wall time (the time
  the run would take with an empty LLM cache, see `runner.run_cost`); runs whose time is unknown
  (answers from a cache filled elsewhere) are left out and named in the title.
- `plot_capture`: the router's error capture curve against random and ideal rankings.
- `plot_reliability`: reliability diagram of encoder scores (calibration on the dev split).

matplotlib comes with the `bench` extra and is imported on the first figure (`require_pyplot`),
so importing the harness never pays for it; without it the benchmark stops before it runs, with
one line naming the install command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hybrid_ie.errors import InputError

BENCH_EXTRA = "the benchmark's figures need matplotlib: pip install 'hybrid-ie[bench]'"
KINDS = ("entities", "relations")
LLM_COLORS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")
SINGLE_TIER_STYLE = {"encoder": ("tab:blue", "--"), "llm": ("tab:red", ":")}


def _strict_f1(run: dict[str, Any], kind: str) -> float:
    return float(run["scores"][kind]["strict"]["f1"])


def require_pyplot() -> Any:
    """`matplotlib.pyplot` on the Agg backend, or a one-line InputError naming the `bench` extra."""
    try:
        import matplotlib
    except ImportError as exc:
        raise InputError(BENCH_EXTRA) from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    require_pyplot().close(fig)
    return path


def plot_f1_vs_budget(report: dict[str, Any], path: str | Path) -> Path | None:
    """F1 (strict, micro) against the escalation budget; None when there is no hybrid run and no
    single-tier run to draw."""
    runs = report["runs"]
    hybrid = sorted((r for r in runs if r["mode"] == "hybrid"), key=lambda r: r["budget"])
    singles = [r for r in runs if r["mode"] in SINGLE_TIER_STYLE]
    if not hybrid and not singles:
        return None
    fig, axes = require_pyplot().subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, kind in zip(axes, KINDS, strict=True):
        llms = list(dict.fromkeys(r.get("llm") for r in hybrid))
        for n, llm in enumerate(llms):
            line = [r for r in hybrid if r.get("llm") == llm]
            color = LLM_COLORS[n % len(LLM_COLORS)]
            budgets = [r["budget"] for r in line]
            f1s = [_strict_f1(r, kind) for r in line]
            ax.plot(budgets, f1s, "o-", color=color, label="hybrid" if llm is None else f"hybrid, {llm} (reads gold)")
            for r, b, f in zip(line, budgets, f1s, strict=True):
                rate = r["cost"]["escalation_rate"]
                ax.annotate(
                    f"{rate:.0%}",
                    (b, f),
                    textcoords="offset points",
                    xytext=(0, 6),
                    ha="center",
                    fontsize=7,
                    color=color,
                )
        for r in singles:
            color, style = SINGLE_TIER_STYLE[r["mode"]]
            label = f"{r['mode']} only" + (f", {r['llm']}" if r.get("llm") else "")
            ax.axhline(_strict_f1(r, kind), color=color, linestyle=style, label=label)
        ax.set_title(f"{kind}: strict micro F1")
        ax.set_xlabel("escalation budget (point labels: measured escalation rate)")
        ax.set_ylabel("F1")
        ax.set_xlim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    fig.suptitle(title_of(report), fontsize=10)
    return _save(fig, Path(path))


def plot_capture(capture: dict[str, Any], path: str | Path, title: str = "") -> Path | None:
    """Share of the encoder's errors in the escalated chunks against the budget: router, random
    and ideal rankings; one panel for all errors, one for relation errors."""
    curves = capture.get("curves") or {}
    if not curves.get("router"):
        return None
    fig, axes = require_pyplot().subplots(1, 2, figsize=(10, 4))
    styles = {"router": ("tab:green", "o-"), "random": ("tab:grey", "s--"), "ideal": ("tab:purple", "^:")}
    for ax, key, name in zip(axes, ("all", "relations"), ("all the encoder's errors", "the encoder's relation errors"),
                             strict=True):  # fmt: skip
        for strategy, (color, style) in styles.items():
            points = curves[strategy]
            ax.plot([0.0] + [p["budget"] for p in points], [0.0] + [p["share"][key] for p in points], style,
                    color=color, label=strategy)  # fmt: skip
        ax.set_title(f"share of {name} in escalated chunks", fontsize=9)
        ax.set_xlabel("escalation budget")
        ax.set_ylabel("share captured")
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    position = (capture.get("auc") or {}).get("position")
    note = "" if position is None else f"; router position {position:.2f} (0 = random, 1 = ideal)"
    fig.suptitle(f"{title}{note}", fontsize=10)
    return _save(fig, Path(path))


def plot_f1_vs_time(report: dict[str, Any], path: str | Path) -> Path | None:
    """F1 (strict, micro) of each run against its stand-alone wall time in seconds."""
    runs = [r for r in report["runs"] if r["cost"]["standalone_s"] is not None]
    left_out = [r["name"] for r in report["runs"] if r["cost"]["standalone_s"] is None]
    if not runs:
        return None
    fig, axes = require_pyplot().subplots(1, 2, figsize=(10, 4))
    colors = {"encoder": "tab:blue", "llm": "tab:red", "hybrid": "tab:green"}
    for ax, kind in zip(axes, KINDS, strict=True):
        points: dict[tuple[float, float], list[dict[str, Any]]] = {}
        for r in runs:  # runs at the same point (e.g. encoder and hybrid-0) share one label
            key = (round(r["cost"]["standalone_s"], 0), round(_strict_f1(r, kind), 4))
            points.setdefault(key, []).append(r)
        for i, ((x, y), group) in enumerate(sorted(points.items())):
            ax.scatter([x], [y], color=colors.get(group[0]["mode"], "black"))
            label = ", ".join(r["name"] for r in group)
            offset = (4, 4) if i % 2 == 0 else (4, -10)  # alternate so neighbours' labels do not overlap
            ax.annotate(label, (x, y), textcoords="offset points", xytext=offset, fontsize=7)
        ax.set_title(f"{kind}: strict micro F1 vs time")
        ax.set_xlabel("stand-alone wall time for the document set (s)")
        ax.set_ylabel("F1")
        times = [r["cost"]["standalone_s"] for r in runs]
        if min(times) > 0 and max(times) / min(times) > 20:
            ax.set_xscale("log")
        ax.margins(x=0.15, y=0.1)
        ax.grid(alpha=0.3)
    note = f"; time unknown, not drawn: {', '.join(left_out)}" if left_out else ""
    fig.suptitle(title_of(report) + note, fontsize=10)
    return _save(fig, Path(path))


def plot_reliability(calibration: dict[str, Any], path: str | Path) -> Path | None:
    """Reliability diagram: mean score vs observed precision per score bin, one line per
    variant (e.g. raw and temperature-scaled), the diagonal for perfect calibration."""
    variants = calibration.get("variants", {})
    if not variants:
        return None
    fig, axes = require_pyplot().subplots(1, 2, figsize=(10, 4))
    for ax, kind in zip(axes, KINDS, strict=True):
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
        drawn = False
        for variant, kinds in variants.items():
            data = kinds.get(kind)
            if not data or not data["count"]:
                continue
            xs = [b["mean_score"] for b in data["bins"] if b["count"]]
            ys = [b["accuracy"] for b in data["bins"] if b["count"]]
            ax.plot(xs, ys, "o-", label=f"{variant} (ECE {data['ece']:.3f}, n={data['count']})")
            drawn = True
        ax.set_title(f"{kind}: reliability")
        ax.set_xlabel("encoder score")
        ax.set_ylabel("fraction correct (strict match)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        if drawn:
            ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(f"encoder calibration on {calibration.get('dataset', '?')}", fontsize=10)
    return _save(fig, Path(path))


def title_of(report: dict[str, Any]) -> str:
    data = report.get("dataset", {})
    return f"{data.get('source', '?')} ({data.get('documents', '?')} documents)"
