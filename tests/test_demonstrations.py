"""The user's labelled examples as the LLM's demonstrations: which pieces are shown, how the
extract prompt shows them, and that no example is read with itself in the prompt."""

from __future__ import annotations

import json

import pytest
from support.llm_server import LLMServer, Reply, client_config

from hybrid_ie.demonstrations import Demonstration, pick, pieces, reading_plan
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.llm.prompts import extract_messages, verify_messages
from hybrid_ie.llm.responses import LabelSet
from hybrid_ie.pipeline import Extractor
from hybrid_ie.router import RoutingPolicy
from hybrid_ie.schema import Schema

SCHEMA = Schema.from_labels(["person", "city", "band"], ["born in"])


def labelled(doc_id: str, text: str, mentions: list[tuple[str, str]], born: bool = False) -> Document:
    ents = []
    for i, (mention, label) in enumerate(mentions, 1):
        start = text.index(mention)
        ents.append(make_entity(text, start, start + len(mention), label, id=f"T{i}"))
    rels = [Relation(head="T1", tail="T2", label="born in")] if born else []
    return Document(id=doc_id, text=text, entities=ents, relations=rels)


EXAMPLES = [
    labelled("long", "Ann Lee , who was born in Paris , lives in Rome now .",
             [("Ann Lee", "person"), ("Paris", "city"), ("Rome", "city")], born=True),
    labelled("short", "Bo was born in Oslo .", [("Bo", "person"), ("Oslo", "city")], born=True),
    labelled("band", "Muse played .", [("Muse", "band")]),
    labelled("empty", "It rained .", []),
]


def test_pieces_are_chunks_with_the_gold_inside_them():
    doc = labelled("two", "Ann was born in Paris . Bo met Ann .", [("Ann", "person"), ("Paris", "city"), ("Bo", "person")],
                   born=True)  # fmt: skip
    first, second = pieces(doc, 7)
    assert first == Demonstration("Ann was born in Paris .", (("Ann", "person"), ("Paris", "city")),
                                  (("Ann", "born in", "Paris"),))  # fmt: skip
    assert second.text == "Bo met Ann ." and second.entities == (("Bo", "person"),) and second.relations == ()
    assert first.source == second.source == 7
    assert [p.text for p in pieces(EXAMPLES[0], 0, max_words=4)][:2] == ["Ann Lee , who", "was born in Paris"]


def test_the_pick_shows_every_label_with_the_least_text_then_the_shortest():
    chosen = pick(EXAMPLES, 2)
    # "short" shows person, city and born in in the least text; then "band" adds the band
    assert [d.source for d in chosen] == [1, 2]
    assert [d.source for d in pick(EXAMPLES, 4)] == [1, 2, 3, 0]  # then the shortest left
    assert [d.source for d in pick(EXAMPLES, 2, leave_out=1)] == [0, 2]
    assert pick(EXAMPLES, 0) == () and len(pick(EXAMPLES, 10)) == 4


def test_the_measurement_reads_an_example_shown_with_demonstrations_from_the_others():
    shown = pick(EXAMPLES, 2)
    plan = reading_plan(EXAMPLES, shown, 2)
    assert plan[shown] == [0, 3] and sorted(i for group in plan.values() for i in group) == [0, 1, 2, 3]
    for demos, indices in plan.items():
        assert all(d.source not in indices for d in demos) and len(demos) == 2
    assert reading_plan(EXAMPLES, (), 0) == {(): [0, 1, 2, 3]}


def test_the_extract_prompt_shows_the_demonstrations_with_the_schema_types_before_the_chunk():
    schema = SCHEMA.with_demonstrations(pick(EXAMPLES, 3))
    assert schema.fingerprint == SCHEMA.fingerprint and schema.to_dict() == SCHEMA.to_dict()
    labels = LabelSet.of(schema, "name")
    messages = extract_messages("Cy was born in Lima .", schema, labels)
    assert messages[-1]["content"].endswith("Cy was born in Lima .")
    turns = messages[1:-1]
    assert [m["role"] for m in turns] == ["user", "assistant"] * 3
    assert turns[0]["content"].endswith("Bo was born in Oslo .")
    assert json.loads(turns[1]["content"]) == {
        "entities": [{"text": "Bo", "type": "person"}, {"text": "Oslo", "type": "city"}],
        "relations": [{"head": "Bo", "type": "born in", "tail": "Oslo"}]}  # fmt: skip
    # a schema cut to some types keeps its demonstrations, each showing only those types
    cut = schema.subset(["person"], [], why="test")
    answers = [json.loads(m["content"]) for m in extract_messages("x", cut, LabelSet.of(cut, "name"))[1:-1]
               if m["role"] == "assistant"]  # fmt: skip
    assert answers == [{"entities": [{"text": "Bo", "type": "person"}]}, {"entities": []}, {"entities": []}]
    # the verify prompt is not changed by them
    assert verify_messages("x", schema, labels, [], []) == verify_messages("x", SCHEMA, labels, [], [])


def person_answer(request):
    """Extract: the chunk's first word as a person; verify (no candidates): nothing to add."""
    if "add_entities" in request.response_schema["properties"]:
        return {"entities": [], "relations": [], "add_entities": [], "add_relations": []}
    return {"entities": [{"text": request.chunk_text.split()[0], "type": "person"}], "relations": []}


class SilentEncoder:
    """An EncoderTier that finds nothing (no model)."""

    known_labels = frozenset({"person", "city", "band", "born in"})

    def predict(self, texts, schema, *, ids=None, **_):
        ids = ids or [f"d{i}" for i in range(len(texts))]
        return [Document(id=i, text=t, meta={"encoder": {"threshold": 0.5, "relation_threshold": 0.5}})
                for t, i in zip(texts, ids, strict=True)]  # fmt: skip

    def quantize(self, mode):
        return self


@pytest.fixture
def server():
    with LLMServer(Reply.ok(person_answer)) as s:
        yield s


def shown_texts(request) -> list[str]:
    """The chunk texts of a request's user turns before its own chunk (its demonstrations and any
    of the schema's few-shot examples)."""
    return [m["content"] for m in request.messages if m["role"] == "user"][:-1]


def test_the_llm_mode_shows_the_examples_and_records_how_many(server):
    ex = Extractor(SCHEMA, llm=client_config(server), mode="llm", examples=EXAMPLES, demonstrations=2)
    doc = ex.extract("Cy was born in Lima .")
    assert len(server.requests) == 1 and doc.meta["pipeline"]["demonstrations"] == 2
    assert [t.rsplit("\n", 1)[-1].removeprefix("Text: ") for t in shown_texts(server.requests[0])] == [
        "Bo was born in Oslo .", "Muse played ."]  # fmt: skip
    plain = Extractor(SCHEMA, llm=client_config(server), mode="llm", examples=EXAMPLES, demonstrations=0)
    assert "demonstrations" not in plain.extract("Cy was born in Lima .").meta["pipeline"]
    assert shown_texts(server.requests[-1]) == []
    with pytest.raises(InputError, match="demonstrations must be 0 or more"):
        Extractor(SCHEMA, llm=client_config(server), mode="llm", examples=EXAMPLES, demonstrations=-1)


def test_no_example_is_measured_with_itself_in_the_prompt(server):
    policy = RoutingPolicy(budget=1.0, escalation="competence", escalate_all=True)
    ex = Extractor(SCHEMA, encoder=SilentEncoder(), llm=client_config(server), mode="hybrid", policy=policy,
                   examples=EXAMPLES, demonstrations=2)  # fmt: skip
    ex.extract("Cy was born in Lima .")
    reads = {r.chunk_text: shown_texts(r) for r in server.requests}
    for example in EXAMPLES:
        for sentence in (p.text for p in pieces(example, 0)):
            assert not any(sentence in shown for shown in reads[sentence]), sentence
    # an example not shown is read with the run's demonstrations; the corpus chunk (nothing found,
    # so verified) with none: only the extract prompt shows them
    assert [t.removeprefix("Text: ") for t in reads["It rained ."]] == [d.text for d in ex.llm_schema.demonstrations]
    assert len(reads["It rained ."]) == 2 and reads["Cy was born in Lima ."] == []
    assert ex.competence is not None and ex.competence.fixed
