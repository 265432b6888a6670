"""Error capture: does the router send the chunks where the encoder is wrong to the LLM?

Measured without any LLM. The encoder's strict errors (false positive and false negative
entities and relations, as `hybrid_ie.metrics` counts them) are placed in the chunk that holds
them (an entity by its start; a relation by its first argument; a gold relation whose arguments
lie in two chunks is *unreachable*: no chunk's LLM call can produce it). Then, for each budget,
the chunks that escalate are chosen three ways and the share of the errors they hold is the
*capture*:

- ``router``: exactly as the pipeline chooses them (`router.route_chunk` on the encoder's output,
  `router.apply_budget` per batch of `batch_size` documents, most uncertain first), so its
  escalated chunks are those of the benchmark's ``hybrid-<budget>`` run;
- ``random``: in each batch, as many chunks as the router escalated there, drawn uniformly from
  all the batch's chunks (the mean over `seeds` seeds; ``random_expected`` is the exact
  expectation);
- ``ideal``: in each batch, as many chunks as the router escalated there, those holding the most
  errors.

``auc`` is the area under each capture curve over the budgets (trapezoids from (0, 0)), and
``position`` = (router - random) / (ideal - random): 0 is no better than random, 1 is ideal.
``ceiling`` is the strict F1 the hybrid would reach if every escalated chunk got exactly the gold
answer (a perfect LLM and a perfect merge): what routing alone allows. ``signals``: per routing
reason, the chunks it fired on, the share of them that hold an error, and how many of them
escalate at each budget.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hybrid_ie.document import Document
from hybrid_ie.metrics.counts import f1_of, safe_ratio
from hybrid_ie.metrics.scoring import entity_items, relation_items
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
from hybrid_ie.router import (
    BudgetState,
    RouteDecision,
    RoutingPolicy,
    apply_budget,
    encoder_unknown_labels,
    route_chunk,
)
from hybrid_ie.schema import Schema
from hybrid_ie.tiers import ENCODER_BATCH_SIZE

ERROR_KINDS = ("entity_fp", "entity_fn", "relation_fp", "relation_fn")
STRATEGIES = ("router", "random", "ideal")
DEFAULT_SEEDS = 20


@dataclass
class ChunkRoute:
    """One chunk of one gold document: where it is, its batch, and the router's decision."""

    doc: int  # index into the gold documents
    start: int
    end: int
    batch: int
    decision: RouteDecision
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))

    @property
    def n_errors(self) -> int:
        return sum(self.errors.values())


# -- routing every chunk, as the pipeline does -------------------------------------------------


def route_documents(
    gold: Sequence[Document],
    encoder: Any,
    schema: Schema,
    policy: RoutingPolicy,
    *,
    nested: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_chunk_words: int | None = None,
    encoder_batch_size: int = ENCODER_BATCH_SIZE,
) -> list[ChunkRoute]:
    """The router's decision for every chunk of every document (chunked, encoded and routed with
    the pipeline's own functions and options; with a `SharedEncoder` the encoder pass is the one
    the benchmark's runs share)."""
    from hybrid_ie.pipeline import MAX_CHUNK_WORDS, chunk_text

    unknown = encoder_unknown_labels(schema, encoder, policy)
    routes: list[ChunkRoute] = []
    for batch, first in enumerate(range(0, len(gold), batch_size)):
        docs = range(first, min(first + batch_size, len(gold)))
        chunks = [(d, c) for d in docs for c in chunk_text(gold[d].text, max_chunk_words or MAX_CHUNK_WORDS)]
        if not chunks:
            continue
        results = encoder.predict(
            [c.text for _, c in chunks], schema, ids=[f"{gold[d].id}#{c.index}" for d, c in chunks],
            threshold=None, relation_threshold=None, nested=nested, batch_size=encoder_batch_size,
        )  # fmt: skip
        for (d, c), result in zip(chunks, results, strict=True):
            decision = route_chunk(result, schema, policy, unknown=unknown, nested=nested)
            routes.append(ChunkRoute(d, c.start, c.end, batch, decision))
    return routes


# -- errors per chunk --------------------------------------------------------------------------


def _chunk_at(starts: list[int], routes: list[ChunkRoute], pos: int) -> ChunkRoute | None:
    """The chunk holding character `pos` (the one before it when `pos` falls between chunks)."""
    i = bisect.bisect_right(starts, pos) - 1
    return routes[max(i, 0)] if routes else None


def assign_errors(
    gold: Sequence[Document], preds: Sequence[Document], routes: list[ChunkRoute], symmetric: frozenset[str]
) -> dict[str, int]:
    """Fill `route.errors` with the encoder's strict errors per chunk; returns the totals
    (``tp`` per kind too, and ``unreachable`` gold relations that span two chunks)."""
    by_doc: dict[int, list[ChunkRoute]] = {}
    for r in routes:
        by_doc.setdefault(r.doc, []).append(r)
    pred_by_id = {p.id: p for p in preds}
    totals = dict.fromkeys((*ERROR_KINDS, "entity_tp", "relation_tp", "unreachable"), 0)
    for d, doc in enumerate(gold):
        chunks = sorted(by_doc.get(d, []), key=lambda r: r.start)
        starts = [r.start for r in chunks]
        pred = pred_by_id.get(doc.id)
        g_ent, p_ent = entity_items(doc)[0], entity_items(pred)[0]
        g_rel, p_rel = relation_items(doc, symmetric)[0], relation_items(pred, symmetric)[0]
        totals["entity_tp"] += len(g_ent & p_ent)
        totals["relation_tp"] += len(g_rel & p_rel)
        for kind, items in (("entity_fp", p_ent - g_ent), ("entity_fn", g_ent - p_ent)):
            for start, _, _ in items:
                totals[kind] += 1
                if (chunk := _chunk_at(starts, chunks, start)) is not None:
                    chunk.errors[kind] += 1
        for kind, items in (("relation_fp", p_rel - g_rel), ("relation_fn", g_rel - p_rel)):
            for _, first, second in items:
                totals[kind] += 1
                chunk = _chunk_at(starts, chunks, first[0])
                if chunk is None or _chunk_at(starts, chunks, second[0]) is not chunk:
                    totals["unreachable"] += 1
                    continue
                chunk.errors[kind] += 1
    return totals


# -- which chunks escalate ---------------------------------------------------------------------


def _batches(routes: list[ChunkRoute]) -> list[list[int]]:
    out: dict[int, list[int]] = {}
    for i, r in enumerate(routes):
        out.setdefault(r.batch, []).append(i)
    return [out[b] for b in sorted(out)]


def router_choice(routes: list[ChunkRoute], policy: RoutingPolicy, budget: float) -> list[set[int]]:
    """Per batch, the indices (into `routes`) the pipeline escalates at `budget`."""
    policy = policy.with_budget(budget)
    state, chosen = BudgetState(), []
    for batch in _batches(routes):
        picked = apply_budget([routes[i].decision for i in batch], policy, state)
        chosen.append({batch[j] for j in picked})
    return chosen


def ideal_choice(routes: list[ChunkRoute], counts: list[int]) -> set[int]:
    """Per batch, the `counts[b]` chunks holding the most errors (earlier chunks first on ties)."""
    out: set[int] = set()
    for batch, n in zip(_batches(routes), counts, strict=True):
        out.update(sorted(batch, key=lambda i: -routes[i].n_errors)[:n])
    return out


def random_choice(routes: list[ChunkRoute], counts: list[int], rng: random.Random) -> set[int]:
    out: set[int] = set()
    for batch, n in zip(_batches(routes), counts, strict=True):
        out.update(rng.sample(batch, n))
    return out


def _captured(routes: list[ChunkRoute], chosen: set[int]) -> dict[str, float]:
    return _with_sums({k: float(sum(routes[i].errors[k] for i in chosen)) for k in ERROR_KINDS})


def _with_sums(got: dict[str, float]) -> dict[str, float]:
    """Add the sums: ``entities`` (FP + FN), ``relations`` (FP + FN) and ``all``."""
    got["entities"] = got["entity_fp"] + got["entity_fn"]
    got["relations"] = got["relation_fp"] + got["relation_fn"]
    got["all"] = got["entities"] + got["relations"]
    return got


def _expected_random(routes: list[ChunkRoute], counts: list[int]) -> dict[str, float]:
    got = dict.fromkeys(ERROR_KINDS, 0.0)
    for batch, n in zip(_batches(routes), counts, strict=True):
        for k in ERROR_KINDS:
            got[k] += n / len(batch) * sum(routes[i].errors[k] for i in batch)
    return _with_sums(got)


def _point(budget: float, escalated: float, captured: dict[str, float], totals: dict[str, int], n: int) -> dict:
    denominators = _with_sums({k: float(totals[k]) for k in ERROR_KINDS})
    tp_e = totals["entity_tp"] + captured["entity_fn"]
    tp_r = totals["relation_tp"] + captured["relation_fn"]
    fp_e, fn_e = totals["entity_fp"] - captured["entity_fp"], totals["entity_fn"] - captured["entity_fn"]
    fp_r, fn_r = totals["relation_fp"] - captured["relation_fp"], totals["relation_fn"] - captured["relation_fn"]
    return {
        "budget": budget,
        "escalated": escalated,
        "rate": safe_ratio(escalated, n),
        "captured": captured,
        "share": {k: safe_ratio(captured[k], denominators[k]) for k in captured},
        "ceiling": {
            "entities": f1_of(safe_ratio(tp_e, tp_e + fp_e), safe_ratio(tp_e, tp_e + fn_e)),
            "relations": f1_of(safe_ratio(tp_r, tp_r + fp_r), safe_ratio(tp_r, tp_r + fn_r)),
        },
    }


def area(points: Sequence[dict[str, Any]], key: str = "all") -> float:
    """Area under a capture curve (share of `key` errors) over the budgets, from (0, 0)."""
    xs = [0.0] + [p["budget"] for p in points]
    ys = [0.0] + [p["share"][key] for p in points]
    return sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2 for i in range(1, len(xs)))


def _signals(routes: list[ChunkRoute], chosen: dict[float, set[int]]) -> list[dict[str, Any]]:
    reasons = list(dict.fromkeys(reason for r in routes for reason in r.decision.reasons))
    groups = {reason: [i for i, r in enumerate(routes) if reason in r.decision.reasons] for reason in reasons}
    groups["(any signal)"] = [i for i, r in enumerate(routes) if r.decision.wants_llm]
    groups["(no signal)"] = [i for i, r in enumerate(routes) if not r.decision.wants_llm]
    groups["(all chunks)"] = list(range(len(routes)))
    rows = []
    for name, members in groups.items():
        with_error = [i for i in members if routes[i].n_errors]
        rows.append({
            "signal": name,
            "chunks": len(members),
            "with_error": len(with_error),
            "error_share": safe_ratio(len(with_error), len(members)),
            "errors": sum(routes[i].n_errors for i in members),
            "escalated": {f"{b:g}": len(set(members) & ids) for b, ids in chosen.items()},
            "escalated_with_error": {f"{b:g}": len(set(with_error) & ids) for b, ids in chosen.items()},
        })  # fmt: skip
    return rows


def capture_curves(
    routes: list[ChunkRoute],
    totals: dict[str, int],
    policy: RoutingPolicy,
    budgets: Sequence[float],
    *,
    seeds: int = DEFAULT_SEEDS,
    seed: int = 0,
) -> dict[str, Any]:
    """The capture report of chunks whose `errors` are filled (see `assign_errors`)."""
    budgets = sorted({float(b) for b in budgets if b > 0})
    n = len(routes)
    curves: dict[str, list[dict[str, Any]]] = {name: [] for name in (*STRATEGIES, "random_expected")}
    chosen_by_budget: dict[float, set[int]] = {}
    rngs = [random.Random(seed * 1000 + s) for s in range(seeds)]
    for b in budgets:
        per_batch = router_choice(routes, policy, b)
        counts = [len(ids) for ids in per_batch]
        chosen = set().union(*per_batch) if per_batch else set()
        chosen_by_budget[b] = chosen
        escalated = len(chosen)
        curves["router"].append(_point(b, escalated, _captured(routes, chosen), totals, n))
        curves["ideal"].append(_point(b, escalated, _captured(routes, ideal_choice(routes, counts)), totals, n))
        draws = [_captured(routes, random_choice(routes, counts, rng)) for rng in rngs]
        mean = {k: sum(d[k] for d in draws) / max(len(draws), 1) for k in draws[0]} if draws else _with_sums(
            dict.fromkeys(ERROR_KINDS, 0.0))
        curves["random"].append(_point(b, escalated, mean, totals, n))
        curves["random_expected"].append(_point(b, escalated, _expected_random(routes, counts), totals, n))
    auc = {name: area(points) for name, points in curves.items()}
    spread = auc["ideal"] - auc["random"]
    auc["position"] = (auc["router"] - auc["random"]) / spread if spread > 1e-12 else None
    ratio = {
        f"{r['budget']:g}": (r["share"]["all"] / m["share"]["all"] if m["share"]["all"] > 0 else None)
        for r, m in zip(curves["router"], curves["random"], strict=True)
    }
    return {
        "budgets": budgets,
        "chunks": n,
        "chunks_with_error": sum(1 for r in routes if r.n_errors),
        "chunks_wanting_llm": sum(1 for r in routes if r.decision.wants_llm),
        "errors": {
            **{k: int(v) for k, v in _with_sums({k: float(totals[k]) for k in ERROR_KINDS}).items()},
            "unreachable": totals["unreachable"],
        },
        "random_seeds": seeds,
        "curves": curves,
        "auc": auc,
        "router_over_random": ratio,
        "signals": _signals(routes, chosen_by_budget),
    }


def measure_capture(
    gold: Sequence[Document],
    encoder_preds: Sequence[Document],
    encoder: Any,
    schema: Schema,
    policy: RoutingPolicy,
    budgets: Sequence[float],
    *,
    symmetric: frozenset[str],
    nested: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
) -> dict[str, Any]:
    """Route every chunk of `gold` as the pipeline would, place the encoder's errors (from its
    predictions `encoder_preds`) in their chunks, and return the capture report."""
    routes = route_documents(gold, encoder, schema, policy, nested=nested, batch_size=batch_size)
    totals = assign_errors(gold, encoder_preds, routes, symmetric)
    report = capture_curves(routes, totals, policy, budgets, seeds=seeds, seed=seed)
    report["batch_size"] = batch_size
    return report


__all__ = [
    "ERROR_KINDS",
    "ChunkRoute",
    "area",
    "assign_errors",
    "capture_curves",
    "measure_capture",
    "route_documents",
    "router_choice",
]
