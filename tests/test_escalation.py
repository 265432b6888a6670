"""Escalation policies (`RoutingPolicy.escalation`) with a tiny random encoder and the loopback
LLM server: extract-unfamiliar adds what the encoder never proposed; verify-no-add never adds."""

from __future__ import annotations

import pytest
from support.llm_server import LLMServer, Reply, client_config, instance_for
from support.tiny_encoder import tiny_encoder

from hybrid_ie.errors import InputError
from hybrid_ie.llm.answers import verify_candidates
from hybrid_ie.llm.responses import DROP
from hybrid_ie.pipeline import Extractor
from hybrid_ie.router import Escalation, RoutingPolicy, unfamiliar_schema
from hybrid_ie.schema import Schema, load_schema

TEXT = "John Smith works for Acme Corp in Boston."
# The tiny encoder knows "person" and "location" (exact prompts); "company" is unfamiliar to it.
SCHEMA = Schema.from_labels(["person", "location", "company"])


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


@pytest.fixture
def server():
    with LLMServer() as srv:
        yield srv


def policy(escalation: str) -> RoutingPolicy:
    """Only the unknown-label signal (every non-exact prompt is unfamiliar), every chunk escalates."""
    return RoutingPolicy(entity_band=0.0, relation_band=0.0, check_overlaps=False, check_type_violations=False,
                         empty_min_words=0, min_label_similarity=0.9999, budget=1.0, escalation=escalation)  # fmt: skip


def answer_with_addition(request):
    """Extract: Acme Corp as a company. Verify: drop every candidate, add Acme Corp."""
    schema = request.response_schema
    if "add_entities" in schema["properties"]:
        body = instance_for(schema)
        body["entities"] = [DROP] * len(body["entities"])
        if "relations" in body:
            body["relations"] = [DROP] * len(body["relations"])
        body["add_entities"] = [{"text": "Acme Corp", "type": "company"}]
        return body
    return {"entities": [{"text": "Acme Corp", "type": "company"}]}


def test_unfamiliar_schema_and_the_task_per_reason():
    conll = load_schema("conll04")
    sub = unfamiliar_schema(conll, ["Org", "OrgBased_In"])
    assert sub.entity_labels == ["Org", "Loc"] and sub.relation_labels == ["OrgBased_In"]
    p = RoutingPolicy(escalation="extract-unfamiliar").escalation
    assert p == Escalation("extract-unfamiliar")
    assert p.task(["unknown_label"], conll, ["Org"])[0] == "extract"
    assert p.task(["unknown_label"], conll, ["Org"])[1].entity_labels == ["Org"]
    assert p.task(["empty_long_chunk"], conll, [])[1] is conll
    assert p.task(["entity_near_threshold"], conll, ["Org"])[0] == "verify"
    assert RoutingPolicy().escalation.task(["unknown_label"], conll, ["Org"])[0] == "verify"
    assert Escalation("extract").task(["entity_near_threshold"], conll, ["Org"]) == ("extract", conll)
    with pytest.raises(InputError, match="escalation must be one of"):
        RoutingPolicy(escalation="always-extract")


def test_extract_unfamiliar_adds_an_item_the_encoder_never_proposed(encoder, server):
    server.default = Reply.ok(answer_with_addition)
    ex = Extractor(SCHEMA, encoder=encoder, llm=client_config(server), policy=policy("extract-unfamiliar"),
                   threshold=0.99)  # fmt: skip
    doc = ex.extract(TEXT)
    enc = Extractor(SCHEMA, encoder=encoder, mode="encoder", threshold=0.99).extract(TEXT)
    proposed = {e.span for e in enc.entities}
    assert ("Acme Corp", "company", "llm") in {(e.text, e.label, e.source) for e in doc.entities}
    assert (TEXT.index("Acme Corp"), TEXT.index("Acme Corp") + 9) not in proposed
    enum = str(server.requests[0].response_schema)
    assert "company" in enum and "person" not in enum  # only the unfamiliar type was asked for
    assert doc.meta["pipeline"]["escalation"] == "extract-unfamiliar"


@pytest.mark.parametrize("escalation", ["verify", "verify-no-add"])
def test_verify_no_add_never_adds(encoder, server, escalation):
    server.default = Reply.ok(answer_with_addition)
    ex = Extractor(SCHEMA, encoder=encoder, llm=client_config(server), policy=policy(escalation),
                   reconcile="union", threshold=0.99)  # fmt: skip
    doc = ex.extract(TEXT)
    enc = encoder.predict([TEXT], SCHEMA, threshold=0.99)[0]  # the chunk is the whole text
    listed = verify_candidates(enc, ex.llm.config.max_candidates)  # the candidates the verify prompt showed
    shown = {(c.start, c.end) for c in listed.entities}
    assert (TEXT.index("Acme Corp"), TEXT.index("Acme Corp") + 9) not in shown
    added = [e for e in doc.entities if e.span not in shown | {x.span for x in enc.entities}]
    if escalation == "verify-no-add":
        assert added == [] and server.requests
    else:  # plain verify with union lets the addition in: the test can tell the two apart
        assert [(e.text, e.label, e.source) for e in added] == [("Acme Corp", "company", "llm")]
