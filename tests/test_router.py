"""Router: escalation signals on hand-built encoder outputs, the uncertainty order, the budget."""

from __future__ import annotations

import pytest

from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.router import (
    ALWAYS,
    EMPTY_LONG_CHUNK,
    ENTITY_NEAR_THRESHOLD,
    OVERLAP,
    RELATION_NEAR_THRESHOLD,
    SKIPPED_BUDGET,
    TYPE_VIOLATION,
    UNKNOWN_LABEL,
    BudgetState,
    RouteDecision,
    RoutingPolicy,
    Signal,
    apply_budget,
    label_familiarity,
    route_chunk,
    unknown_labels,
)
from hybrid_ie.schema import load_schema

SCHEMA = load_schema("conll04")
TEXT = "John Smith works for Acme Corp in Boston ."


def chunk(entities=(), relations=(), candidates=(), relation_candidates=(), text=TEXT) -> Document:
    """An encoder output for one chunk; entities are (start, end, label, score)."""
    ents = [
        make_entity(text, s, e, label, id=f"T{i + 1}", score=score, source="encoder")
        for i, (s, e, label, score) in enumerate(entities)
    ]
    rels = [Relation(head=h, tail=t, label=label, score=score, source="encoder") for h, t, label, score in relations]
    meta = {
        "encoder": {
            "threshold": 0.5,
            "relation_threshold": 0.5,
            "candidates": [
                {"start": s, "end": e, "text": text[s:e], "label": label, "score": score}
                for s, e, label, score in candidates
            ],
            "relation_candidates": list(relation_candidates),
            "windows": 1,
        }
    }
    return Document(id="c", text=text, entities=ents, relations=rels, meta=meta)


JOHN, ACME, BOSTON = (0, 10), (21, 30), (34, 40)


def test_confident_chunk_does_not_escalate():
    doc = chunk([(*JOHN, "Peop", 0.95), (*ACME, "Org", 0.9)], [("T1", "T2", "Work_For", 0.9)])
    assert route_chunk(doc, SCHEMA, RoutingPolicy()).reasons == []


def test_entity_just_above_threshold_escalates_with_band_uncertainty():
    doc = chunk([(*JOHN, "Peop", 0.55)])
    decision = route_chunk(doc, SCHEMA, RoutingPolicy(entity_band=0.1))
    assert decision.reasons == [ENTITY_NEAR_THRESHOLD]
    assert decision.uncertainty == pytest.approx(1 - 0.05 / 0.1)


def test_candidate_below_threshold_escalates_but_not_far_below():
    near = chunk([(*JOHN, "Peop", 0.95)], candidates=[(*BOSTON, "Loc", 0.42)])
    far = chunk([(*JOHN, "Peop", 0.95)], candidates=[(*BOSTON, "Loc", 0.2)])
    assert route_chunk(near, SCHEMA, RoutingPolicy()).reasons == [ENTITY_NEAR_THRESHOLD]
    assert route_chunk(far, SCHEMA, RoutingPolicy()).reasons == []


def test_band_is_measured_from_a_label_s_own_threshold():
    # 0.55 is just above the global 0.5 but far above Peop's own 0.3; 0.35 is far below 0.5 but
    # just above Loc's own 0.3
    doc = chunk([(*JOHN, "Peop", 0.55)], candidates=[(*BOSTON, "Loc", 0.25)])
    doc.meta["encoder"]["label_thresholds"] = {"Peop": 0.3, "Loc": 0.3}
    decision = route_chunk(doc, SCHEMA, RoutingPolicy(entity_band=0.1))
    assert decision.reasons == [ENTITY_NEAR_THRESHOLD]
    assert [s.detail for s in decision.signals] == ["'Boston' Loc 0.25"]


def test_relation_scores_near_threshold_escalate():
    kept = chunk([(*JOHN, "Peop", 0.95), (*ACME, "Org", 0.95)], [("T1", "T2", "Work_For", 0.52)])
    cand = chunk(
        [(*JOHN, "Peop", 0.95), (*BOSTON, "Loc", 0.95)],
        relation_candidates=[{"head": list(JOHN), "tail": list(BOSTON), "label": "Live_In", "score": 0.45}],
    )
    assert route_chunk(kept, SCHEMA, RoutingPolicy()).reasons == [RELATION_NEAR_THRESHOLD]
    assert route_chunk(cand, SCHEMA, RoutingPolicy()).reasons == [RELATION_NEAR_THRESHOLD]


def test_competing_candidates_are_an_overlap_signal():
    # "Acme Corp" kept as Org, but "Acme Corp in Boston" (crossing nothing, containing it) scored 0.8
    # and was dropped by flat decoding; the same span as Loc also competes.
    doc = chunk([(*ACME, "Org", 0.9)], candidates=[(21, 40, "Org", 0.8), (*ACME, "Loc", 0.7)])
    decision = route_chunk(doc, SCHEMA, RoutingPolicy(entity_band=0.0))
    assert decision.reasons == [OVERLAP]
    assert decision.uncertainty == pytest.approx(0.8 / 0.9)


def test_nested_candidate_competes_only_in_flat_mode():
    doc = chunk([(21, 40, "Org", 0.9)], candidates=[(*BOSTON, "Loc", 0.8)])
    policy = RoutingPolicy(entity_band=0.0)
    assert route_chunk(doc, SCHEMA, policy, nested=False).reasons == [OVERLAP]
    assert route_chunk(doc, SCHEMA, policy, nested=True).reasons == []


def test_unknown_labels_compare_schema_prompts_with_training_labels():
    known = {"person", "organization", "location", "works for", "killed"}
    missing = unknown_labels(SCHEMA, known)
    assert missing == ["Other", "OrgBased_In", "Live_In", "Located_In"]
    assert unknown_labels(SCHEMA, None) == []
    decision = route_chunk(chunk([(*JOHN, "Peop", 0.99)]), SCHEMA, RoutingPolicy(), unknown=missing)
    assert decision.reasons == [UNKNOWN_LABEL] and decision.uncertainty == 1.0


def test_unknown_labels_by_similarity_to_the_nearest_training_prompt():
    def familiarity(prompts):  # a fake embedding comparison: what a broad encoder would answer
        table = {"person": (1.0, "person"), "organization": (0.91, "organisation"), "location": (0.85, "place"),
                 "other named entity": (0.42, "miscellaneous"), "works for": (0.88, "employer"),
                 "killed": (0.79, "place of death")}
        return {p: table.get(p, (0.1, "time")) for p in prompts}

    found = label_familiarity(SCHEMA, {"person"}, familiarity=familiarity, min_similarity=0.8)
    names = [n for n, _, _ in found]
    assert "Peop" not in names and "Org" not in names and "Work_For" not in names
    assert ("Other", 0.42, "miscellaneous") in found and "Kill" in names
    assert unknown_labels(SCHEMA, {"person"}, familiarity=familiarity, min_similarity=0.4) == [
        n for n, sim, _ in found if sim < 0.4]
    decision = route_chunk(chunk([(*JOHN, "Peop", 0.99)]), SCHEMA, RoutingPolicy(), unknown=found)
    assert decision.reasons == [UNKNOWN_LABEL]
    assert decision.uncertainty == pytest.approx(1 - 0.1)  # the least familiar label sets it
    assert "nearest 'miscellaneous' 0.42" in decision.signals[0].detail


def test_encoder_label_familiarity_is_exact_for_training_prompts_and_graded_otherwise():
    from support.tiny_encoder import tiny_encoder

    enc = tiny_encoder(seed=0)
    enc.config.known_labels = ["person", "organization", "located in"]
    fam = enc.label_familiarity(["Person", "organisation", "chemical compound"])
    assert fam["Person"] == (1.0, "person")
    assert fam["organisation"][1] in {"person", "organization", "located in"}
    assert -1.0 <= fam["chemical compound"][0] < 1.0
    again = enc.label_familiarity(["chemical compound"])
    assert again["chemical compound"] == pytest.approx(fam["chemical compound"])
    enc.config.known_labels = []
    assert enc.label_familiarity(["x"]) == {"x": (0.0, "")}


def test_type_violation_is_flagged():
    # Work_For must go Peop -> Org; Org -> Peop violates the schema.
    doc = chunk([(*JOHN, "Peop", 0.99), (*ACME, "Org", 0.99)], [("T2", "T1", "Work_For", 0.99)])
    assert route_chunk(doc, SCHEMA, RoutingPolicy()).reasons == [TYPE_VIOLATION]
    assert route_chunk(doc, SCHEMA, RoutingPolicy(check_type_violations=False)).reasons == []


def test_long_chunk_without_entities_escalates_short_one_does_not():
    long_text = " ".join(["word"] * 20)
    assert route_chunk(chunk(text=long_text), SCHEMA, RoutingPolicy()).reasons == [EMPTY_LONG_CHUNK]
    assert route_chunk(chunk(text="Nothing here ."), SCHEMA, RoutingPolicy()).reasons == []
    assert route_chunk(chunk(text=long_text), SCHEMA, RoutingPolicy(empty_min_words=0)).reasons == []


def test_always_policy_escalates_a_confident_chunk():
    doc = chunk([(*JOHN, "Peop", 0.99)])
    decision = route_chunk(doc, SCHEMA, RoutingPolicy.always())
    assert decision.reasons == [ALWAYS] and decision.wants_llm


def decisions(*uncertainties: float | None) -> list[RouteDecision]:
    return [RouteDecision([] if u is None else [Signal("x", u)]) for u in uncertainties]


def test_budget_takes_the_most_uncertain_first():
    batch = decisions(0.2, None, 0.9, 0.5, 0.7)
    chosen = apply_budget(batch, RoutingPolicy(budget=0.4), BudgetState())
    assert chosen == [2, 4]
    assert [d.escalate for d in batch] == [False, False, True, False, True]
    assert [d.skipped for d in batch] == [SKIPPED_BUDGET, None, None, SKIPPED_BUDGET, None]


def test_budget_zero_escalates_nothing_and_one_escalates_every_wanting_chunk():
    assert apply_budget(decisions(1.0, 0.9), RoutingPolicy(budget=0.0), BudgetState()) == []
    assert sorted(apply_budget(decisions(0.1, None, 0.3), RoutingPolicy(budget=1.0), BudgetState())) == [0, 2]


def test_budget_over_many_small_batches_matches_the_fraction():
    state, total, policy = BudgetState(), 0, RoutingPolicy(budget=0.1)
    for _ in range(30):  # 30 batches of 3 chunks that all want the LLM: 90 chunks, 9 slots
        total += len(apply_budget(decisions(0.5, 0.6, 0.7), policy, state))
    assert total == 9


def test_ties_rank_chunks_with_more_signals_first():
    one = RouteDecision([Signal("x", 0.5)])
    two = RouteDecision([Signal("x", 0.5), Signal("y", 0.2)])
    assert apply_budget([one, two], RoutingPolicy(budget=0.5), BudgetState()) == [1]
    assert apply_budget([one, two], RoutingPolicy(budget=0.5, rank="uncertainty"), BudgetState()) == [1]


def test_default_rank_is_by_number_of_signals_then_uncertainty():
    """A chunk with three uncertain items goes before one with a single very uncertain item (the
    order that captures more encoder errors); rank="uncertainty" is the former rule."""
    sure_but_many = RouteDecision([Signal("x", 0.2), Signal("y", 0.3), Signal("z", 0.1)])
    one_very_unsure = RouteDecision([Signal("x", 0.95)])
    batch = [one_very_unsure, sure_but_many, RouteDecision([Signal("x", 0.5), Signal("x", 0.4)])]
    assert apply_budget(batch, RoutingPolicy(budget=0.67), BudgetState()) == [1, 2]
    assert apply_budget(batch, RoutingPolicy(budget=0.67, rank="uncertainty"), BudgetState()) == [0, 2]
    with pytest.raises(InputError, match="rank"):
        RoutingPolicy(rank="random")


def test_bad_policy_values_are_clear_errors():
    with pytest.raises(InputError, match="budget"):
        RoutingPolicy(budget=1.5)
    with pytest.raises(InputError, match="escalation"):
        RoutingPolicy(escalation="guess")
