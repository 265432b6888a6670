"""The router's error capture (hybrid_ie/benchmark/capture.py): hand-counted on a tiny example, and
the chunks it says the router escalates are those the pipeline really sends to the LLM."""

from __future__ import annotations

import pytest
from support.tiny_encoder import tiny_encoder

from hybrid_ie.benchmark.capture import (
    ChunkRoute,
    assign_errors,
    capture_curves,
    measure_capture,
    route_documents,
    router_choice,
)
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.llm.client import LLMResult
from hybrid_ie.pipeline import Extractor, chunk_text
from hybrid_ie.router import RouteDecision, RoutingPolicy, Signal
from hybrid_ie.schema import load_schema

A, B = "Ann met Bob.", "Cal saw Dee."
C, D = "Eve ran.", "Fay sat."
TEXT0, TEXT1 = f"{A} {B}", f"{C} {D}"


def _doc(doc_id: str, text: str, ents: list[tuple[str, str]], rels: list[tuple[int, str, int]]) -> Document:
    """Entities by (mention, label), each found left to right; relations by entity index."""
    entities, pos = [], 0
    for i, (mention, label) in enumerate(ents):
        start = text.index(mention, pos)
        pos = start + len(mention)
        entities.append(make_entity(text, start, pos, label, id=f"T{i + 1}"))
    relations = [Relation(head=f"T{h + 1}", tail=f"T{t + 1}", label=label) for h, label, t in rels]
    return Document(id=doc_id, text=text, entities=entities, relations=relations)


# Gold: doc 0 has Ann, Bob, Cal (Peop), Dee (Loc); Cal Live_In Dee (chunk B); Ann Live_In Dee
# (crosses chunks A and B: unreachable). Doc 1: Eve, Fay (Peop).
GOLD = [
    _doc("d0", TEXT0, [("Ann", "Peop"), ("Bob", "Peop"), ("Cal", "Peop"), ("Dee", "Loc")],
         [(2, "Live_In", 3), (0, "Live_In", 3)]),
    _doc("d1", TEXT1, [("Eve", "Peop"), ("Fay", "Peop")], []),
]  # fmt: skip
# Encoder: Bob as Org (chunk A: 1 FP + 1 FN entity), no relation (chunk B: 1 FN relation; the
# cross-chunk one is unreachable), "sat" as Loc (chunk D: 1 FP entity). Chunk C is right.
PRED = [
    _doc("d0", TEXT0, [("Ann", "Peop"), ("Bob", "Org"), ("Cal", "Peop"), ("Dee", "Loc")], []),
    _doc("d1", TEXT1, [("Eve", "Peop"), ("Fay", "Peop"), ("sat", "Loc")], []),
]


def _routes() -> list[ChunkRoute]:
    """Chunks A, B (doc 0), C, D (doc 1), one batch. Router ranking: A (0.9) > D (0.6) > C (0.3);
    B has no signal and never escalates."""
    def decision(*signals: tuple[str, float]) -> RouteDecision:
        return RouteDecision([Signal(reason, u) for reason, u in signals])

    return [
        ChunkRoute(0, 0, len(A), 0, decision(("entity_near_threshold", 0.9))),
        ChunkRoute(0, len(A) + 1, len(TEXT0), 0, decision()),
        ChunkRoute(1, 0, len(C), 0, decision(("overlap", 0.3))),
        ChunkRoute(1, len(C) + 1, len(TEXT1), 0, decision(("entity_near_threshold", 0.6))),
    ]


def test_errors_are_placed_in_their_chunks_by_hand() -> None:
    routes = _routes()
    totals = assign_errors(GOLD, PRED, routes, frozenset())
    assert [r.errors for r in routes] == [
        {"entity_fp": 1, "entity_fn": 1, "relation_fp": 0, "relation_fn": 0},  # A: Bob Org / Bob Peop
        {"entity_fp": 0, "entity_fn": 0, "relation_fp": 0, "relation_fn": 1},  # B: Cal Live_In Dee
        {"entity_fp": 0, "entity_fn": 0, "relation_fp": 0, "relation_fn": 0},  # C
        {"entity_fp": 1, "entity_fn": 0, "relation_fp": 0, "relation_fn": 0},  # D: sat Loc
    ]
    assert totals == {"entity_fp": 2, "entity_fn": 1, "relation_fp": 0, "relation_fn": 2, "entity_tp": 5,
                      "relation_tp": 0, "unreachable": 1}  # fmt: skip


def test_capture_router_random_ideal_by_hand() -> None:
    """5 errors (4 in chunks: A 2, B 1, D 1; 1 unreachable). Budgets 0.25 / 0.5 / 1 give 1 / 2 / 4
    slots in the batch of 4 chunks; the router fills 1 / 2 / 3 (only 3 chunks want the LLM).
    router: {A} 2, {A, D} 3, {A, D, C} 3 -> 0.4, 0.6, 0.6
    ideal (as many chunks, most errors first): {A} 2, {A, B} 3, {A, B, D} 4 -> 0.4, 0.6, 0.8
    random (expected: n/4 of the 4 placed errors): 1, 2, 3 -> 0.2, 0.4, 0.6
    AUC (trapezoids from 0): router 0.475, ideal 0.525, random 0.35 -> position 0.125 / 0.175."""
    routes = _routes()
    totals = assign_errors(GOLD, PRED, routes, frozenset())
    cap = capture_curves(routes, totals, RoutingPolicy(), [0.25, 0.5, 1.0], seeds=4000, seed=1)
    share = {name: [p["share"]["all"] for p in cap["curves"][name]] for name in cap["curves"]}
    assert share["router"] == pytest.approx([0.4, 0.6, 0.6])
    assert share["ideal"] == pytest.approx([0.4, 0.6, 0.8])
    assert share["random_expected"] == pytest.approx([0.2, 0.4, 0.6])
    assert share["random"] == pytest.approx([0.2, 0.4, 0.6], abs=0.015)  # the mean of 4000 seeded draws
    assert [p["escalated"] for p in cap["curves"]["router"]] == [1, 2, 3]
    assert cap["auc"]["router"] == pytest.approx(0.475)
    assert cap["auc"]["ideal"] == pytest.approx(0.525)
    assert cap["auc"]["random_expected"] == pytest.approx(0.35)
    assert cap["auc"]["position"] == pytest.approx(0.125 / 0.175, abs=0.05)
    assert cap["router_over_random"]["0.5"] == pytest.approx(1.5, abs=0.06)
    assert cap["errors"] == {"entity_fp": 2, "entity_fn": 1, "relation_fp": 0, "relation_fn": 2,
                             "entities": 3, "relations": 2, "all": 5, "unreachable": 1}  # fmt: skip
    # ceiling at 0.5 (A and D get the gold): entities tp 5 + 1, fp 0, fn 0; relations tp 0, fn 2
    router_05 = cap["curves"]["router"][1]
    assert router_05["ceiling"] == {"entities": pytest.approx(1.0), "relations": 0.0}
    assert router_05["share"]["entity_fp"] == pytest.approx(1.0)
    assert router_05["share"]["relation_fn"] == 0.0
    signals = {s["signal"]: s for s in cap["signals"]}
    assert signals["entity_near_threshold"]["chunks"] == 2
    assert signals["entity_near_threshold"]["with_error"] == 2
    assert signals["entity_near_threshold"]["errors"] == 3
    assert signals["entity_near_threshold"]["escalated"] == {"0.25": 1, "0.5": 2, "1": 2}
    assert signals["overlap"]["chunks"] == 1 and signals["overlap"]["with_error"] == 0
    assert signals["(no signal)"]["chunks"] == 1 and signals["(no signal)"]["errors"] == 1


def test_random_draws_are_seeded() -> None:
    routes = _routes()
    totals = assign_errors(GOLD, PRED, routes, frozenset())
    first = capture_curves(routes, totals, RoutingPolicy(), [0.25], seeds=3, seed=7)
    again = capture_curves(routes, totals, RoutingPolicy(), [0.25], seeds=3, seed=7)
    assert first["curves"]["random"] == again["curves"]["random"]


class _EchoLLM:
    """Stands in for the LLM: confirms nothing and adds nothing (only the routing is looked at)."""

    def extract(self, text, schema):
        return LLMResult(task="extract")

    def verify(self, text, schema, candidates):
        return LLMResult(task="verify")


def test_capture_escalates_exactly_the_chunks_the_pipeline_escalates() -> None:
    texts = [
        "John Smith works for Acme Corp in Boston. Mary lives in Paris.",
        "Nothing to see here. Peter visited Rome with Anna.",
        "The mayor of Berlin met the CEO of Siemens.",
        "Bob left.",
    ]
    gold = [Document(id=f"g{i}", text=t) for i, t in enumerate(texts)]
    schema = load_schema("conll04")
    encoder = tiny_encoder(seed=3)
    routes = route_documents(gold, encoder, schema, RoutingPolicy(), batch_size=2)
    for budget in (0.2, 0.5, 1.0):
        chosen = set().union(*router_choice(routes, RoutingPolicy(), budget))
        policy = RoutingPolicy(budget=budget)
        extractor = Extractor(schema, encoder=encoder, llm=_EchoLLM(), policy=policy, mode="hybrid")
        docs = list(extractor.extract_many([{"id": d.id, "text": d.text} for d in gold], batch_size=2))
        escalated = [(d, c["start"]) for d, doc in enumerate(docs) for c in doc.meta["route"] if c["escalated"]]
        assert sorted(escalated) == sorted((routes[i].doc, routes[i].start) for i in chosen), budget
        assert len(routes) == sum(doc.meta["pipeline"]["chunks"] for doc in docs)


def test_measure_capture_runs_end_to_end_with_the_tiny_encoder() -> None:
    schema = load_schema("conll04")
    encoder = tiny_encoder(seed=0)
    gold = GOLD
    preds = list(Extractor(schema, encoder=encoder, mode="encoder").extract_many(
        [{"id": d.id, "text": d.text} for d in gold]))  # fmt: skip
    cap = measure_capture(gold, preds, encoder, schema, RoutingPolicy(), [0.5, 1.0],
                          symmetric=frozenset(), seeds=5)  # fmt: skip
    assert cap["chunks"] == sum(len(chunk_text(d.text)) for d in gold)
    assert cap["errors"]["all"] >= cap["chunks_with_error"]
    for name in ("router", "random", "ideal"):
        assert all(0.0 <= p["share"]["all"] <= 1.0 for p in cap["curves"][name])
    assert cap["curves"]["ideal"][-1]["share"]["all"] >= cap["curves"]["router"][-1]["share"]["all"]
