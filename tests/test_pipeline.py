"""The Extractor end to end with a tiny random encoder and the misbehaving loopback LLM server
(a real HTTP server on 127.0.0.1): modes, routing budget, token cap, failures, offsets."""

from __future__ import annotations

import pytest
from support.llm_server import LLMServer, Reply, client_config
from support.tiny_encoder import tiny_encoder

import hybrid_ie
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError, SchemaError
from hybrid_ie.pipeline import Extractor, chunk_text
from hybrid_ie.router import SKIPPED_BUDGET, SKIPPED_TOKENS, RoutingPolicy

TEXTS = [
    {"id": "a", "text": "John Smith works for Acme Corp in Boston. He met Mary Jones in Paris last May."},
    {"id": "b", "text": "The mayor of Chicago visited IBM headquarters."},
    {"id": "c", "text": ""},
    {"id": "d", "text": "Nothing happened. Then Peter Brown left Google for Microsoft in Seattle. Rain fell."},
]
N_CHUNKS = 6  # 2 + 1 + 0 + 3 sentences


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


@pytest.fixture
def server():
    with LLMServer() as srv:
        yield srv


def quiet_policy(**overrides) -> RoutingPolicy:
    """Only the signals a test asks for: the tiny model knows just two labels, and its random
    scores sit near 0.5, so band and label signals would fire everywhere."""
    base = {"entity_band": 0.0, "relation_band": 0.0, "check_overlaps": False, "check_unknown_labels": False,
            "check_type_violations": False, "empty_min_words": 0}  # fmt: skip
    return RoutingPolicy(**{**base, **overrides})


def items(doc: Document) -> tuple:
    ents = [(e.start, e.end, e.label, e.score, e.source) for e in doc.entities]
    rels = [(r.head, r.tail, r.label, r.score, r.source) for r in doc.relations]
    return doc.id, ents, rels


def test_chunks_are_sentences_and_run_ons_are_cut():
    assert [c.text for c in chunk_text("One two. Three four.")] == ["One two.", "Three four."]
    long = " ".join(f"w{i}" for i in range(25))
    chunks = chunk_text(long, max_words=10)
    assert [len(c.text.split()) for c in chunks] == [10, 10, 5]
    assert all(long[c.start : c.end] == c.text for c in chunks)


def test_encoder_mode_streams_documents_with_global_offsets_and_never_creates_the_llm(encoder):
    extractor = Extractor("conll04", encoder=encoder, mode="encoder")
    docs = list(extractor.extract_many(TEXTS, batch_size=3))
    assert [d.id for d in docs] == ["a", "b", "c", "d"]
    assert extractor._llm is None
    assert sum(len(d.entities) for d in docs) > 0
    for doc, item in zip(docs, TEXTS, strict=True):
        assert doc.text == item["text"]
        assert [e.id for e in doc.entities] == [f"T{i + 1}" for i in range(len(doc.entities))]
        assert all(doc.text[e.start : e.end] == e.text and e.source == "encoder" for e in doc.entities)
        assert doc.meta["pipeline"]["mode"] == "encoder" and "route" not in doc.meta
    assert docs[2].entities == [] and docs[2].error is None and docs[2].meta["pipeline"]["chunks"] == 0
    # entities of the second sentence of "a" sit beyond the first sentence
    second = TEXTS[0]["text"].index("He met")
    assert any(e.start >= second for e in docs[0].entities) or not docs[0].entities


def test_encoder_results_do_not_depend_on_batch_size(encoder):
    extractor = Extractor("conll04", encoder=encoder, mode="encoder")
    one = [items(d) for d in extractor.extract_many(TEXTS, batch_size=1)]
    four = [items(d) for d in extractor.extract_many(TEXTS, batch_size=4)]
    assert one == four


def test_budget_zero_hybrid_equals_encoder_and_sends_nothing(encoder, server):
    enc = list(Extractor("conll04", encoder=encoder, mode="encoder").extract_many(TEXTS))
    hybrid = Extractor(
        "conll04", encoder=encoder, llm=client_config(server), policy=RoutingPolicy.always(budget=0.0), mode="hybrid"
    )
    out = list(hybrid.extract_many(TEXTS))
    assert [items(d) for d in out] == [items(d) for d in enc]
    assert server.requests == []
    routes = [r for d in out for r in d.meta["route"]]
    assert len(routes) == N_CHUNKS and all(not r["escalated"] and r["skipped"] == SKIPPED_BUDGET for r in routes)
    assert all(d.meta["llm"] == {"calls": 0, "status": "not_called"} for d in out)


def test_always_sends_every_chunk_and_reconciles_with_provenance(encoder, server):
    extractor = Extractor(
        "conll04", encoder=encoder, llm=client_config(server), policy=RoutingPolicy.always(), reconcile="llm_corrects"
    )
    out = list(extractor.extract_many(TEXTS))
    chunks = [c.text for item in TEXTS for c in chunk_text(item["text"])]
    assert sorted(r.chunk_text for r in server.requests) == sorted(chunks)
    assert all(r["escalated"] and r["reasons"][0] == "always" for d in out for r in d.meta["route"])
    # The server confirms every candidate it is shown ("ok"): those come back as "both"; with
    # llm_corrects nothing the LLM did not return survives as "encoder".
    sources = {e.source for d in out for e in d.entities}
    assert "both" in sources and "encoder" not in sources
    usage = out[0].meta["llm"]["usage"]
    assert out[0].meta["llm"]["calls"] == 2 and usage["prompt_tokens"] == 200 and usage["completion_tokens"] == 40


def test_budget_sends_only_the_chosen_chunks(encoder, server):
    extractor = Extractor(
        "conll04", encoder=encoder, llm=client_config(server), policy=RoutingPolicy.always(budget=0.5)
    )
    out = list(extractor.extract_many(TEXTS, batch_size=len(TEXTS)))
    routes = [(d.text[r["start"] : r["end"]], r) for d in out for r in d.meta["route"]]
    escalated = sorted(text for text, r in routes if r["escalated"])
    assert len(escalated) == N_CHUNKS // 2
    assert sorted(r.chunk_text for r in server.requests) == escalated
    assert all(r["skipped"] == SKIPPED_BUDGET for _, r in routes if not r["escalated"])


def test_token_cap_stops_calls_within_the_batch(encoder, server):
    # each answer costs 100 + 20 tokens: calls go out while fewer than 250 are spent -> 3 calls
    policy = RoutingPolicy.always(max_llm_tokens=250)
    extractor = Extractor("conll04", encoder=encoder, llm=client_config(server), policy=policy)
    out = list(extractor.extract_many(TEXTS, batch_size=len(TEXTS)))
    routes = [r for d in out for r in d.meta["route"]]
    assert len(server.requests) == 3
    assert sum(r["escalated"] for r in routes) == 3
    assert sum(r["skipped"] == SKIPPED_TOKENS for r in routes) == N_CHUNKS - 3


def test_router_signals_pick_chunks_when_not_escalating_everything(encoder, server):
    # The tiny model was trained on "person" and "location" only: every conll04 chunk has
    # unknown labels, so every chunk wants the LLM; with a 1/3 budget the first batch sends 2.
    # (min similarity 1: only exact training prompts are familiar; the random tiny backbone's
    # prompt embeddings are all alike, so a similarity cut below 1 would call everything familiar.)
    policy = quiet_policy(check_unknown_labels=True, budget=1 / 3, min_label_similarity=1.0)
    extractor = Extractor("conll04", encoder=encoder, llm=client_config(server), policy=policy)
    out = list(extractor.extract_many(TEXTS, batch_size=len(TEXTS)))
    routes = [r for d in out for r in d.meta["route"]]
    assert all(r["reasons"] == ["unknown_label"] for r in routes)
    assert sum(r["escalated"] for r in routes) == len(server.requests) == 2


def test_llm_down_keeps_the_encoder_answer_and_marks_the_document(encoder, server):
    server.default = Reply.server_error(500)
    enc = {d.id: items(d) for d in Extractor("conll04", encoder=encoder, mode="encoder").extract_many(TEXTS)}
    extractor = Extractor(
        "conll04", encoder=encoder, llm=client_config(server, max_retries=1), policy=RoutingPolicy.always()
    )
    out = list(extractor.extract_many(TEXTS))
    for doc in out:
        assert items(doc) == enc[doc.id]
        if doc.meta["pipeline"]["chunks"]:
            assert doc.error.startswith("llm_failed: ") and doc.meta["llm"]["status"] == "llm_failed"
        else:
            assert doc.error is None


def test_one_failing_call_fails_only_its_document(encoder, server):
    server.script(Reply.server_error(500), Reply.server_error(500))  # the first call, retried once
    extractor = Extractor(
        "conll04", encoder=encoder, llm=client_config(server, max_retries=1), policy=RoutingPolicy.always()
    )
    out = list(extractor.extract_many(TEXTS[1:2] + TEXTS[3:], batch_size=1))
    assert out[0].error is not None and out[1].error is None and out[1].meta["llm"]["calls"] == 3


def test_llm_mode_extracts_every_chunk_without_the_encoder(server):
    def answer(request):
        return {"entities": [{"text": request.chunk_text.split()[0], "type": "Peop"}], "relations": []}

    server.default = Reply.ok(answer)
    extractor = Extractor("conll04", llm=client_config(server), mode="llm")
    out = list(extractor.extract_many(TEXTS))
    assert extractor._encoder is None
    assert len(server.requests) == N_CHUNKS
    first_words = sorted(c.text.split()[0] for item in TEXTS for c in chunk_text(item["text"]))
    assert sorted(e.text for d in out for e in d.entities) == first_words
    assert all(e.source == "llm" and e.label == "Peop" for d in out for e in d.entities)


def test_a_text_the_encoder_cannot_read_fails_alone():
    encoder = tiny_encoder(seed=0, max_length=48)
    hopeless = "qzx" * 30  # one word of 90 word pieces: longer than the model's input
    extractor = Extractor("conll04", encoder=encoder, mode="encoder")
    out = list(extractor.extract_many(["Mary lives in Paris.", hopeless, "Bob left."], batch_size=3))
    assert [d.error is None for d in out] == [True, False, True]
    assert out[1].error.startswith("encoder_failed: ") and out[1].entities == []


def test_one_call_api_and_clear_errors(encoder):
    doc = hybrid_ie.extract("Mary lives in Paris.", schema="conll04", mode="encoder", encoder=encoder)
    assert isinstance(doc, Document) and doc.id == "doc-0"
    docs = hybrid_ie.extract(["One.", "Two."], mode="encoder", encoder=encoder)
    assert [d.id for d in docs] == ["doc-0", "doc-1"]
    with pytest.raises(InputError, match="unknown mode"):
        Extractor("conll04", mode="fast")
    with pytest.raises(SchemaError, match="unknown schema"):
        Extractor("nope")
    with pytest.raises(InputError, match="'text' string"):
        list(Extractor("conll04", encoder=encoder, mode="encoder").extract_many([{"id": "x"}]))


def test_concurrent_llm_calls_give_the_same_documents(encoder, server):
    def run(workers: int) -> list[tuple]:
        llm = client_config(server, max_concurrency=workers)
        extractor = Extractor("conll04", encoder=encoder, llm=llm, policy=RoutingPolicy.always(), reconcile="union")
        return [items(d) for d in extractor.extract_many(TEXTS, batch_size=len(TEXTS))]

    assert run(1) == run(4)
    assert len(server.requests) == 2 * N_CHUNKS
