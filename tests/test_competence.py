"""Per-label competence (`hybrid_ie.competence`), the trust-weighted vote, the ``competence``
escalation end to end with a scripted encoder and the loopback LLM server, and LLM relations that
survive the merge."""

from __future__ import annotations

import pytest
from support.llm_server import LLMServer, Reply, client_config

from hybrid_ie.competence import (
    ENTITIES,
    RELATIONS,
    TRUSTED,
    Competence,
    competition_estimate,
    measure_on_examples,
    weak_items,
)
from hybrid_ie.document import Document, Entity, Relation, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.llm import LLMConfig
from hybrid_ie.pipeline import Extractor
from hybrid_ie.reconcile import reconcile
from hybrid_ie.router import (
    DEFAULT_BUDGET,
    MEASURED_WEAK_BUDGET,
    WEAK_LABEL,
    Escalation,
    RoutingPolicy,
    route_chunk,
)
from hybrid_ie.schema import Schema

SCHEMA = Schema.from_labels(["person", "politician", "city"], ["born in"])
TEXTS = [f"Senator Obama{i} was born in Honolulu ." for i in range(6)]


def make_schema(entities: list[str], relation: dict) -> Schema:
    return Schema.from_dict({"name": "s", "entity_types": [{"name": n, "description": n} for n in entities],
                             "relation_types": [{"description": relation["name"], **relation}]})  # fmt: skip


def ent(text: str, mention: str, label: str, score: float | None = 0.9, i: int = 1, source: str = "encoder") -> Entity:
    start = text.index(mention)
    return make_entity(text, start, start + len(mention), label, id=f"T{i}", score=score, source=source)


def chunk(text: str, ents: list[Entity], rels: list[Relation] = (), candidates: list[dict] = ()) -> Document:
    meta = {"encoder": {"threshold": 0.5, "relation_threshold": 0.5, "candidates": list(candidates)}}
    return Document(id="c", text=text, entities=ents, relations=list(rels), meta=meta)


def candidate(text: str, mention: str, label: str, score: float) -> dict:
    """A near-miss candidate of the encoder's meta on `mention`'s first occurrence."""
    s = text.index(mention)
    return {"start": s, "end": s + len(mention), "text": mention, "label": label, "score": score}


def encoder_doc(text: str) -> Document:
    """The scripted encoder: the senator as a person (gold: politician), the city right."""
    name = text.split()[1]
    born = Relation(head="T1", tail="T2", label="born in", score=0.9, source="encoder")
    return chunk(text, [ent(text, name, "person", 0.9, 1), ent(text, "Honolulu", "city", 0.9, 2)], [born])


def gold_doc(text: str) -> Document:
    name = text.split()[1]
    born = Relation(head="T1", tail="T2", label="born in")
    return Document(id="g", text=text, entities=[ent(text, name, "politician", None, 1), ent(text, "Honolulu", "city", None, 2)],
                    relations=[born])  # fmt: skip


# -- the estimate ---------------------------------------------------------------------------------


def test_before_any_observation_every_label_is_trusted():
    c = Competence(SCHEMA, reference_f1=0.5)
    assert c.estimate("person") == c.estimate("born in", RELATIONS) == 1.0
    assert c.trust_map() == {ENTITIES: {"person": 1.0, "politician": 1.0, "city": 1.0}, RELATIONS: {"born in": 1.0}}
    assert c.weak() == {ENTITIES: {}, RELATIONS: {}}


def test_agreement_against_gold_separates_the_wrong_label_from_the_right_one():
    c = Competence(SCHEMA)
    c.observe_examples([encoder_doc(t) for t in TEXTS], [gold_doc(t) for t in TEXTS])
    # pooled entity agreement: 2 * 6 both / 24 items = 0.5; city agrees 6 of 6, person 0 of 6
    assert c.pooled(ENTITIES) == pytest.approx(0.5)
    assert c.estimate("city") == pytest.approx((12 + 0.5 * 8) / (12 + 8))
    assert c.estimate("person") == pytest.approx((0 + 0.5 * 8) / (6 + 8))
    assert c.estimate("politician") == c.estimate("person")  # 6 gold items, none from the encoder
    assert set(c.weak()[ENTITIES]) == {"person", "politician"}
    assert c.trust("city") == 1.0 and c.trust("person") == pytest.approx(c.estimate("person") / c.trusted)
    # the relation's arguments are the same spans: it agrees although one argument's label does not
    assert c.estimate("born in", RELATIONS) == 1.0 and c.to_meta()["chunks"] == 6


def test_a_weaker_reference_reads_the_same_agreement_as_higher_competence():
    strict, lenient = Competence(SCHEMA, reference_f1=1.0), Competence(SCHEMA, reference_f1=0.5)
    for c in (strict, lenient):
        c.observe_examples([encoder_doc(t) for t in TEXTS[:2]], [gold_doc(t) for t in TEXTS[:2]])
    assert lenient.estimate("person") == pytest.approx(min(1.0, 2 * strict.estimate("person")))
    with pytest.raises(ValueError, match="reference_f1"):
        Competence(SCHEMA, reference_f1=0.0)


def test_symmetric_relations_agree_in_either_order():
    schema = make_schema(["person"], {"name": "knows", "symmetric": True})
    text = "Ann met Bob ."
    a, b = ent(text, "Ann", "person", 0.9, 1), ent(text, "Bob", "person", 0.9, 2)
    enc = chunk(text, [a, b], [Relation(head="T1", tail="T2", label="knows")])
    ref = chunk(text, [a, b], [Relation(head="T2", tail="T1", label="knows")])
    c = Competence(schema)
    c.observe(enc, ref)
    assert c.tallies[RELATIONS]["knows"].both == 1 and c.estimate("knows", RELATIONS) == 1.0


def test_competition_reads_rival_labels_on_the_same_span():
    text = TEXTS[0]
    name = text.split()[1]
    rival, far = candidate(text, name, "politician", 0.8), candidate(text, name, "city", 0.2)
    docs = [chunk(text, [ent(text, name, "person", 0.9), ent(text, "Honolulu", "city", 0.9, 2)], candidates=[rival, far])]
    assert competition_estimate(docs) == {"person": 0.0, "city": 1.0}
    assert competition_estimate(docs, ratio=0.95) == {"person": 1.0, "city": 1.0}


# -- routing and escalation -----------------------------------------------------------------------


def test_weak_items_become_weak_label_signals_one_per_item():
    text = TEXTS[0]
    name = text.split()[1]
    near, low = candidate(text, name, "politician", 0.4), candidate(text, name, "politician", 0.2)
    doc = chunk(text, encoder_doc(text).entities, encoder_doc(text).relations, candidates=[near, low])
    weak = {ENTITIES: {"person": 0.3, "politician": 0.4}, RELATIONS: {"born in": 0.5}}
    items = weak_items(doc, weak, entity_band=0.15)
    assert [round(e, 2) for e, _ in items] == [0.3, 0.4, 0.5]  # the kept person, the near candidate, the relation
    quiet = RoutingPolicy(entity_band=0.0, relation_band=0.0, check_overlaps=False, check_unknown_labels=False,
                          check_type_violations=False, empty_min_words=0)  # fmt: skip
    decision = route_chunk(doc, SCHEMA, quiet, weak=weak)
    assert [s.reason for s in decision.signals] == [WEAK_LABEL] * 2  # band 0: the candidate at 0.4 is not plausible
    assert decision.uncertainty == pytest.approx(0.7)
    assert route_chunk(doc, SCHEMA, quiet).signals == []


def test_the_competence_escalation_extracts_weak_and_empty_chunks_and_verifies_the_rest():
    esc = Escalation("competence")
    assert esc.task([WEAK_LABEL], SCHEMA, []) == ("extract", SCHEMA)
    assert esc.task(["empty_long_chunk"], SCHEMA, []) == ("extract", SCHEMA)
    assert esc.task(["entity_near_threshold", "unknown_label"], SCHEMA, ["politician"])[0] == "verify"


# -- the trust-weighted vote, and LLM relations ----------------------------------------------------


def llm_answer(text: str) -> Document:
    """The LLM's answer: the senator as a politician, the city, the relation."""
    name = text.split()[1]
    return Document(id="l", text=text, entities=[ent(text, name, "politician", None, 1, "llm"),
                                                 ent(text, "Honolulu", "city", None, 2, "llm")],
                    relations=[Relation(head="T1", tail="T2", label="born in", source="llm")])  # fmt: skip


def labels(doc: Document) -> list[tuple[str, str, str]]:
    return [(e.text, e.label, e.source) for e in doc.entities]


def test_full_trust_is_the_plain_vote_and_no_trust_lets_the_llm_decide():
    text = TEXTS[0]
    enc, llm = encoder_doc(text), llm_answer(text)
    plain = reconcile(enc, llm, SCHEMA, "vote")
    full = {ENTITIES: {"person": 1.0, "politician": 1.0, "city": 1.0}, RELATIONS: {"born in": 1.0}}
    assert reconcile(enc, llm, SCHEMA, "vote", trust=full) == plain
    # the plain vote keeps the encoder's label (0.9 against the LLM's 0.5) and drops the addition
    assert ("Obama0", "person", "encoder") in labels(plain)
    weak = {ENTITIES: {"person": 0.1, "politician": 0.1}}
    merged = reconcile(enc, llm, SCHEMA, "vote", trust=weak)
    assert labels(merged) == [("Obama0", "politician", "llm"), ("Honolulu", "city", "both")]
    # the relation both returned survives on the relabelled argument, typed after the merge
    assert [(r.label, r.source) for r in merged.relations] == [("born in", "both")]


def test_an_llm_relation_whose_arguments_survive_is_kept_with_its_provenance():
    text = TEXTS[0]
    enc = encoder_doc(text).model_copy(update={"relations": []})
    llm = llm_answer(text)
    weak_rel = {ENTITIES: {"person": 0.0, "politician": 0.0}, RELATIONS: {"born in": 0.0}}
    merged = reconcile(enc, llm, SCHEMA, "vote", trust=weak_rel)
    assert [(r.label, r.source) for r in merged.relations] == [("born in", "llm")]
    # a relation the schema forbids between the merged types is dropped after the merge
    strict = make_schema(["person", "politician", "city"], {"name": "born in", "head_types": ["person"], "tail_types": ["city"]})
    assert reconcile(enc, llm, strict, "vote", trust=weak_rel).relations == []
    # with full trust the encoder, which did not have it as a candidate, outvotes the addition
    assert reconcile(enc, llm, SCHEMA, "vote").relations == []


# -- end to end: a scripted encoder, the loopback LLM ------------------------------------------------


class ScriptedEncoder:
    """An EncoderTier that always answers `encoder_doc` (no model)."""

    known_labels = frozenset({"person", "politician", "city", "born in"})

    def predict(self, texts, schema, *, ids=None, **_):
        ids = ids or [f"d{i}" for i in range(len(texts))]
        return [encoder_doc(t).model_copy(update={"id": i}) for t, i in zip(texts, ids, strict=True)]

    def quantize(self, mode):
        return self


def politician_answer(request):
    """Extract: the senator as a politician; verify: relabel every candidate named like one."""
    text = request.chunk_text
    name = text.split()[1]
    body = {"entities": [{"text": name, "type": "politician"}, {"text": "Honolulu", "type": "city"}],
            "relations": [{"head": name, "type": "born in", "tail": "Honolulu"}]}  # fmt: skip
    if "add_entities" in request.response_schema["properties"]:
        return {"entities": ["politician", "ok"], "relations": ["ok"], "add_entities": [], "add_relations": []}
    return body


@pytest.fixture
def server():
    with LLMServer() as srv:
        yield srv


RUN_TEXTS = [f"Senator Obama{i} was born in Honolulu ." for i in range(24)]


def run(server: LLMServer, escalation: str, batch_size: int = 8, texts: list[str] = RUN_TEXTS) -> tuple[list[Document], Extractor]:
    policy = RoutingPolicy(budget=1.0, escalation=escalation, escalate_all=True)
    ex = Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=client_config(server), policy=policy, mode="hybrid",
                   llm_score=0.8)  # fmt: skip
    return list(ex.extract_many(texts, batch_size=batch_size)), ex


def test_the_running_estimate_moves_trust_to_the_llm_on_the_label_it_keeps_correcting(server):
    server.default = Reply.ok(politician_answer)
    old, old_ex = run(server, "verify")
    new, new_ex = run(server, "competence")
    assert old_ex.competence is None
    # at the same LLM score the plain vote keeps the encoder's label: 0.9 against the LLM's 0.8
    assert all([e.label for e in d.entities] == ["person", "city"] for d in old)
    # the first batch merges after its own answers were observed: person's trust is already 0.78
    assert all([e.label for e in d.entities] == ["politician", "city"] for d in new)
    assert all(d.relations and d.relations[0].label == "born in" for d in new)
    meta = new_ex.competence.to_meta()
    assert meta["chunks"] == len(RUN_TEXTS) and meta[ENTITIES]["city"]["trust"] == 1.0
    # person: agreed 0 of 24 items, shrunk toward the pooled 0.5 by 4 pseudo-items, read through an LLM of 0.8
    assert meta[ENTITIES]["person"]["trust"] == pytest.approx((0.5 * 8 / (24 + 8)) / 0.8 / TRUSTED, abs=1e-4)
    assert new[0].meta["pipeline"]["escalation"] == "competence"


def test_failed_llm_answers_teach_the_estimate_nothing(server):
    server.default = Reply.server_error(500)
    docs, ex = run(server, "competence", batch_size=2, texts=TEXTS[:3])
    assert ex.competence.chunks == 0
    assert all(d.error and d.error.startswith("llm_failed") for d in docs)
    assert all([e.label for e in d.entities] == ["person", "city"] for d in docs)  # the encoder's answer stays


# -- both sides measured on the user's labelled examples -----------------------------------------


def test_measured_on_examples_the_llm_owns_the_labels_it_does_better():
    texts = TEXTS[:4]
    llm_docs = [gold_doc(t).model_copy(update={"relations": []}) for t in texts]  # right, without relations
    c = Competence.measured(SCHEMA, [encoder_doc(t) for t in texts], llm_docs, [gold_doc(t) for t in texts])
    assert c.fixed and c.llm_estimate("city") == 1.0 and c.estimate("politician") < c.llm_estimate("politician")
    # the encoder says person where gold says politician; its right cities are shrunk toward its pooled F1
    assert set(c.weak()[ENTITIES]) == {"person", "politician", "city"}
    assert c.trust("politician") == pytest.approx(c.estimate("politician") / c.llm_estimate("politician"))
    assert c.trust("politician") < 0.5 < c.trust("city") < 1.0
    # relations: the encoder finds them all, the LLM none: the encoder's
    assert c.weak()[RELATIONS] == {} and c.trust("born in", RELATIONS) == 1.0
    assert c.to_meta()["measured"] and c.to_meta()[ENTITIES]["politician"]["llm_estimate"] == 1.0
    # the LLM's votes count its measured F1 in place of llm_score (here 0.5), weighed by min(1, q / e)
    half = Competence.measured(SCHEMA, [encoder_doc(t) for t in texts], llm_docs, [gold_doc(t) for t in texts],
                               reference_f1=0.5)  # fmt: skip
    assert half.llm_trust("politician") == pytest.approx(half.llm_estimate("politician") / 0.5)
    assert half.llm_trust("born in", RELATIONS) == 0.0  # it found no relation: its relation votes count nothing


AIRLINES = Schema.from_labels(["airline", "city"], [])


def airline_docs(mentions: list[str], found_by_encoder: int, found_by_llm: int) -> tuple[Document, Document, Document]:
    """(encoder, LLM, gold) of one sentence listing `mentions`, each side finding the first few."""
    text = "Flights by " + " , ".join(mentions) + " land in Boston ."

    def doc(names: list[str]) -> Document:
        ents = [ent(text, m, "airline", None, i + 1) for i, m in enumerate(names)]
        return Document(id="d", text=text, entities=[*ents, ent(text, "Boston", "city", None, len(ents) + 1)])

    return doc(mentions[:found_by_encoder]), doc(mentions[:found_by_llm]), doc(mentions)


def test_a_call_resting_on_one_crowded_document_is_named_as_within_noise(caplog):
    # one example sentence lists eleven airlines: the LLM finds nine, the encoder one; in four
    # one-airline sentences both sides find it. Mention by mention the LLM looks far better.
    crowded = airline_docs([f"Air{i}" for i in range(11)], 1, 9)
    single = [airline_docs([f"Jet{i}"], 1, 1) for i in range(4)]
    enc, llm, gold = (list(side) for side in zip(crowded, *single, strict=True))
    c = measure_on_examples(AIRLINES, gold, enc, llm)
    assert "airline" in c.weak()[ENTITIES] and c.estimate("airline") < 0.6 < c.llm_estimate("airline")
    call = c.side_call("airline")
    # documents are the unit of sampling: the differences are [d, 0, 0, 0, 0] with d = F1 0.9 - 2/12,
    # whose standard error is d / 5
    assert call["documents"] == 5 and call["se"] == pytest.approx((0.9 - 2 / 12) / 5, abs=1e-4)
    assert call["per_document"] == pytest.approx(call["se"]) and call["per_document"] < call["difference"]
    # both sides get every city right; shrunk toward each side's pooled F1 the call still says
    # weak: a tie the warning names too
    assert "city" in c.weak()[ENTITIES] and c.side_call("city")["per_document"] == 0.0
    assert c.within_noise() == ["airline", "city"]
    assert "call ['airline', 'city'] weak within 2 standard errors of a tie" in caplog.text
    assert c.to_meta()[ENTITIES]["airline"]["documents"] == 5
    assert "airline (LLM " in c.describe_weak() and "per document +0.15 ± 0.15 over 5 documents" in c.describe_weak()
    # the LLM ahead in every document: the same call, not within noise
    steady = [airline_docs([f"Air{i}", f"Jet{i}"], 1, 2) for i in range(5)]
    enc, llm, gold = (list(side) for side in zip(*steady, strict=True))
    c = measure_on_examples(AIRLINES, gold, enc, llm)
    assert "airline" in c.weak()[ENTITIES] and c.side_call("airline")["se"] == 0.0
    assert c.within_noise() == ["city"]  # the tie again
    assert Competence(AIRLINES).side_call("airline") is None  # only a measurement on examples has calls


def wrong_answer(request):
    """An LLM worse than the encoder on every label: the city as the person, the senator as a city."""
    name = request.chunk_text.split()[1]
    if "add_entities" in request.response_schema["properties"]:
        return {"entities": ["city", "person"], "relations": ["drop"], "add_entities": [], "add_relations": []}
    return {"entities": [{"text": name, "type": "city"}, {"text": "Honolulu", "type": "person"}], "relations": []}


def test_with_examples_a_weaker_llm_is_measured_and_the_encoder_keeps_its_answer(server):
    server.default = Reply.ok(wrong_answer)
    policy = RoutingPolicy(budget=1.0, escalation="competence", escalate_all=True)
    examples = [gold_doc(t).model_copy(update={"id": f"ex{i}"}) for i, t in enumerate(TEXTS[:4])]

    def extract(examples):
        ex = Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=client_config(server), policy=policy, mode="hybrid",
                       llm_score=0.8, examples=examples)  # fmt: skip
        return list(ex.extract_many(RUN_TEXTS[:8], batch_size=4)), ex

    running, _ = extract(None)
    measured, ex = extract(examples)
    assert ex.competence.fixed and ex.competence.weak() == {ENTITIES: {}, RELATIONS: {}}
    assert all([(e.text, e.label) for e in d.entities][1] == ("Honolulu", "city") for d in measured)
    assert all(d.relations for d in measured)
    # the running estimate, reading the disagreement through llm_score 0.8, hands the labels to the LLM
    assert any(("Honolulu", "person") in [(e.text, e.label) for e in d.entities] for d in running)
    asked = len(server.requests)
    list(ex.extract_many(RUN_TEXTS[:2]))  # the examples are read once per Extractor
    assert len(server.requests) == asked + 2


LLM_CONFIG = LLMConfig(backend="openai", base_url="http://127.0.0.1:9/v1", api_key_env="HYBRID_IE_TEST_NO_KEY")


def test_examples_are_checked_before_any_work():
    policy = RoutingPolicy(escalation="competence")
    good = [gold_doc(TEXTS[0])]
    with pytest.raises(InputError, match=r"only by the LLM mode \(as demonstrations\) and the hybrid mode's 'competence' escalation"):
        Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=LLM_CONFIG, mode="hybrid", examples=good,
                  policy=RoutingPolicy(escalation="verify"))
    assert Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=LLM_CONFIG, mode="hybrid",
                     examples=good).policy.escalation.name == "competence"  # the default with examples
    with pytest.raises(InputError, match=r"labels \['mayor'\] are not in the schema"):
        bad = gold_doc(TEXTS[0]).model_copy(update={"entities": [ent(TEXTS[0], "Honolulu", "mayor", None)]})
        Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=LLM_CONFIG, mode="hybrid", policy=policy, examples=[bad])
    with pytest.raises(InputError, match="expected a Document"):
        Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=LLM_CONFIG, mode="hybrid", policy=policy, examples=["text"])
    with pytest.raises(InputError, match="the list is empty"):
        Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=LLM_CONFIG, mode="hybrid", policy=policy, examples=[])


def test_examples_a_side_failed_on_are_left_out_and_unmentioned_labels_named(caplog):
    texts = TEXTS[:3]
    gold = [gold_doc(t).model_copy(update={"id": f"ex{i}"}) for i, t in enumerate(texts)]
    enc = [encoder_doc(t) for t in texts]
    llm = [gold_doc(t) for t in texts]
    llm[1] = llm[1].model_copy(update={"entities": [], "relations": [], "error": "llm_failed: transport: HTTP 500"})
    schema = Schema.from_labels(["person", "politician", "city", "country"], ["born in"])
    c = measure_on_examples(schema, gold, enc, llm)
    assert c.fixed and c.chunks == 2 and c.llm_estimate("politician") > c.estimate("politician")
    assert "['ex1'] left out" in caplog.text and "no labelled example mentions ['person', 'country']" in caplog.text
    failed = [d.model_copy(update={"error": "llm_failed: down"}) for d in llm]
    assert measure_on_examples(schema, gold, enc, failed) is None


def test_an_llm_that_fails_on_every_example_leaves_the_running_estimate(server, capsys):
    server.default = Reply.server_error(500)
    policy = RoutingPolicy(budget=1.0, escalation="competence", escalate_all=True)
    examples = [gold_doc(t).model_copy(update={"id": f"ex{i}"}) for i, t in enumerate(TEXTS[:2])]
    ex = Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=client_config(server), policy=policy, mode="hybrid",
                   examples=examples)  # fmt: skip
    docs = list(ex.extract_many(TEXTS[2:4]))
    assert not ex.competence.fixed and ex.examples is None  # not measured again on the next run
    assert all(d.error and d.error.startswith("llm_failed") for d in docs)
    assert "no labelled example could be measured" in capsys.readouterr().err


def test_without_a_given_budget_the_measurement_picks_it(server, capsys):
    examples = [gold_doc(t).model_copy(update={"id": f"ex{i}"}) for i, t in enumerate(TEXTS[:4])]

    def budget_after(answer, policy=None):
        server.default = Reply.ok(answer)
        ex = Extractor(SCHEMA, encoder=ScriptedEncoder(), llm=client_config(server), policy=policy, mode="hybrid",
                       examples=examples)  # fmt: skip
        assert ex.policy.budget is None or policy is not None  # not decided before the examples are read
        docs = list(ex.extract_many(RUN_TEXTS[:10], batch_size=5))
        return ex.policy.budget, sum(bool(d.meta["llm"]["calls"]) for d in docs)

    # the LLM does better on person / politician: every chunk may go to it
    assert budget_after(politician_answer) == (MEASURED_WEAK_BUDGET, 10)
    assert "budget 1 (chosen by the measurement)" in capsys.readouterr().err
    # an LLM worse on every label: the usual default share
    assert budget_after(wrong_answer)[0] == DEFAULT_BUDGET
    # a budget the user gives is kept whatever the measurement says
    given = RoutingPolicy(budget=0.4, escalation="competence")
    assert budget_after(politician_answer, given) == (0.4, 4)
    assert "budget 0.4" in capsys.readouterr().err
