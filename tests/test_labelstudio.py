"""Label Studio round trip: Documents -> tasks with predictions -> (review) -> Documents.

An unedited export comes back as the same documents; a reviewed one comes back with exactly the
reviewer's changes; anything malformed is an error that names the task."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest

from hybrid_ie.datasets import to_spert, write_set
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.integrations.labelstudio import (
    export_tasks,
    import_tasks,
    label_config,
    model_version,
    recorded_schema,
    region_ids,
)
from hybrid_ie.schema import Schema

SCHEMA = Schema.from_dict(
    {
        "name": "people",
        "entity_types": [
            {"name": "person", "description": "a human", "verbose": "person name"},
            {"name": "org", "description": "an organization"},
            {"name": "loc", "description": "a place"},
        ],
        "relation_types": [
            {"name": "works_for", "description": "employment", "head_types": ["person"], "tail_types": ["org"]},
            {"name": "married_to", "description": "spouses", "symmetric": True},
            {"name": "based_in", "description": "seat"},
        ],
    }
)


def doc(doc_id: str, text: str, spans: list[tuple[str, str, float | None, str]], rels=(), meta=None) -> Document:
    """spans: (surface, label, score, source), found left to right; ids T1.. by position."""
    ents, pos = [], 0
    for surface, label, score, source in spans:
        start = text.index(surface, pos)
        ents.append((start, start + len(surface), label, score, source))
        pos = start + 1
    ents.sort(key=lambda e: (e[0], -e[1], e[2]))
    entities = [make_entity(text, s, e, lab, id=f"T{i + 1}", score=sc, source=src)
                for i, (s, e, lab, sc, src) in enumerate(ents)]  # fmt: skip
    relations = [Relation(head=h, tail=t, label=lab, score=sc, source="encoder") for h, t, lab, sc in rels]
    return Document(id=doc_id, text=text, entities=entities, relations=relations, meta=meta or {})


def corpus() -> list[Document]:
    return [
        doc("d1", "Ann Smith works for Acme Corp in Boston.",
            [("Ann Smith", "person", 0.91, "encoder"), ("Acme Corp", "org", 0.8, "both"), ("Boston", "loc", 0.66, "llm")],
            [("T1", "T2", "works_for", 0.7), ("T2", "T3", "based_in", 0.55)],
            meta={"pipeline": {"mode": "hybrid", "schema": "people"}, "encoder": {"backend": "joint"},
                  "llm": {"calls": 1}, "source": {"file": "a.pdf", "format": "pdf", "pages": [[0, 40]]}}),
        doc("d2", "Bob 🎉 Lee married Eve Park 👰 in Paris.",  # characters outside the BMP: UTF-16 offsets
            [("Bob 🎉 Lee", "person", 0.6, "encoder"), ("Eve Park", "person", 0.75, "encoder"), ("Paris", "loc", 0.9, "encoder")],
            [("T1", "T2", "married_to", 0.61)]),
        doc("d3", "Nothing to see here.", []),
        nested(),
    ]  # fmt: skip


def nested() -> Document:
    """Nested spans, and one span with two labels."""
    text = "New York Times staff in New York."
    spans = [(0, 14, "org"), (0, 8, "loc"), (24, 32, "loc"), (24, 32, "org")]
    entities = [make_entity(text, s, e, lab, id=f"T{i + 1}") for i, (s, e, lab) in enumerate(spans)]
    return Document(id="d4", text=text, entities=entities)


def through_json(tasks):
    """What Label Studio stores: plain JSON."""
    return json.loads(json.dumps(tasks, ensure_ascii=False))


def shape(d: Document):
    ents = [(e.id, e.start, e.end, e.text, e.label) for e in d.entities]
    rels = [(r.head, r.tail, r.label) for r in d.relations]
    return d.id, d.text, ents, rels


def test_export_writes_label_studio_tasks_with_predictions():
    tasks, warnings = export_tasks(corpus(), SCHEMA, settings={"model": "runs/ft/best", "llm_model": "local:qwen"})
    assert warnings == [] and len(tasks) == 4
    first = tasks[0]
    assert first["data"] == {"text": "Ann Smith works for Acme Corp in Boston.", "doc_id": "d1",
                             "source": {"file": "a.pdf", "format": "pdf", "pages": [[0, 40]]}}  # fmt: skip
    (prediction,) = first["predictions"]
    assert prediction["model_version"] == "hybrid-ie hybrid | encoder joint:best | llm local:qwen"
    assert prediction["score"] == 0.55  # the least sure item
    ent = prediction["result"][0]
    regions = region_ids(corpus()[0])
    assert ent == {"id": regions["T1"], "from_name": "label", "to_name": "text", "type": "labels", "score": 0.91,
                   "value": {"start": 0, "end": 9, "text": "Ann Smith", "labels": ["person"]}}  # fmt: skip
    rel = prediction["result"][3]
    assert rel == {"from_id": regions["T1"], "to_id": regions["T2"], "type": "relation", "direction": "right",
                   "labels": ["works_for"], "score": 0.7}  # fmt: skip
    emoji = tasks[1]["predictions"][0]["result"]
    assert [r["value"]["start"] for r in emoji[:3]] == [0, 19, 34]  # UTF-16: each emoji counts twice
    assert emoji[3]["direction"] == "bi"  # married_to is symmetric
    assert "score" not in tasks[2]["predictions"][0] and tasks[2]["predictions"][0]["result"] == []


def test_an_unedited_round_trip_reproduces_the_documents():
    docs = corpus()
    tasks, _ = export_tasks(docs, SCHEMA)
    back, warnings = import_tasks(through_json(tasks), SCHEMA)
    assert [shape(d) for d in back] == [shape(d) for d in docs]
    assert [[e.score for e in d.entities] for d in back] == [[e.score for e in d.entities] for d in docs]
    assert [[r.score for r in d.relations] for d in back] == [[r.score for r in d.relations] for d in docs]
    assert back[0].meta["labelstudio"] == {"from": "prediction", "model_version": model_version(docs[0])}
    assert back[0].meta["source"]["pages"] == [[0, 40]]
    assert warnings == ["4 of 4 tasks have no annotation; their predictions were taken as they are"]
    without_schema, _ = import_tasks(through_json(export_tasks(docs)[0]))  # no schema: "right" both ways
    assert [shape(d) for d in without_schema] == [shape(d) for d in docs]


def review(task: dict, edit) -> dict:
    """What a reviewer's submitted annotation looks like in Label Studio's export: the prediction's
    result (ids kept), edited, with Label Studio's own fields around it."""
    result = copy.deepcopy(task["predictions"][0]["result"])
    for item in result:
        item.pop("score", None)
        item["origin"] = "prediction"
    edit(result)
    task = copy.deepcopy(task)
    task["id"] = 7
    task["annotations"] = [
        {"id": 1, "result": [], "was_cancelled": True, "updated_at": "2026-11-22T10:00:00Z"},
        {"id": 3, "result": result, "was_cancelled": False, "ground_truth": False, "completed_by": 2,
         "updated_at": "2026-11-22T09:00:00Z", "lead_time": 12.5},
    ]  # fmt: skip
    return task


def test_a_reviewed_export_comes_back_with_exactly_the_reviewers_changes():
    docs = corpus()
    tasks = through_json(export_tasks(docs, SCHEMA)[0])

    regions = region_ids(docs[0])

    def edit(result):
        by_id = {r.get("id"): r for r in result}
        by_id[regions["T2"]]["value"].update(start=20, end=24, text="Acme")  # span moved: "Acme Corp" -> "Acme"
        by_id[regions["T3"]]["value"]["labels"] = ["org"]  # label changed: Boston loc -> org
        result[:] = [r for r in result if not (r["type"] == "relation" and r["labels"] == ["based_in"])]  # removed
        result.append({"id": "Xk3pQ9_aZ1", "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual",
                       "value": {"start": 33, "end": 39, "text": "Boston", "labels": ["loc"]}})  # fmt: skip

    tasks[0] = review(tasks[0], edit)
    back, warnings = import_tasks(tasks, SCHEMA)
    reviewed = back[0]
    assert [(e.id, e.text, e.label, e.score, e.source) for e in reviewed.entities] == [
        ("T1", "Ann Smith", "person", None, "gold"), ("T2", "Acme", "org", None, "gold"),
        ("T3", "Boston", "loc", None, "gold"), ("T4", "Boston", "org", None, "gold"),
    ]  # fmt: skip
    assert [(r.head, r.tail, r.label) for r in reviewed.relations] == [("T1", "T2", "works_for")]
    assert reviewed.meta["labelstudio"] == {"task": 7, "from": "annotation", "annotation": 3, "completed_by": 2,
                                            "updated_at": "2026-11-22T09:00:00Z"}  # fmt: skip
    assert [shape(d) for d in back[1:]] == [shape(d) for d in docs[1:]]  # the others: unchanged
    assert warnings == ["3 of 4 tasks have no annotation; their predictions were taken as they are"]
    only_reviewed, warnings = import_tasks(tasks, SCHEMA, skip_unreviewed=True)
    assert [d.id for d in only_reviewed] == ["d1"] and "3 tasks without an annotation" in warnings[0]


def test_ground_truth_annotations_win_and_directions_are_read():
    text = "Ann met Bob."
    task = {"id": 1, "data": {"text": text}, "annotations": [
        {"id": 1, "ground_truth": True, "updated_at": "2026-01-01", "result": [
            {"id": "a", "type": "labels", "value": {"start": 0, "end": 3, "labels": ["person"]}},
            {"id": "b", "type": "labels", "value": {"start": 8, "end": 11, "labels": ["person", "org"]}},
            {"from_id": "a", "to_id": "b", "type": "relation", "direction": "left", "labels": ["works_for"]},
            {"from_id": "a", "to_id": "b", "type": "relation", "direction": "bi", "labels": ["based_in", "married_to"]},
            {"from_id": "a", "to_id": "b", "type": "relation", "labels": []},
            {"id": "c", "type": "choices", "value": {"choices": ["ok"]}},
        ]},
        {"id": 2, "updated_at": "2026-12-31", "result": []},
    ]}  # fmt: skip
    (d,), warnings = import_tasks([task], SCHEMA)
    assert d.id == "1" and [(e.id, e.text, e.label) for e in d.entities] == [
        ("T1", "Ann", "person"), ("T2", "Bob", "org"), ("T3", "Bob", "person")]
    assert [(r.head, r.tail, r.label) for r in d.relations] == [
        ("T3", "T1", "works_for"), ("T1", "T3", "based_in"), ("T3", "T1", "based_in"), ("T1", "T3", "married_to")]
    assert any("without a label" in w for w in warnings) and any("of type choices" in w for w in warnings)


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"id": 4, "data": {"body": "x"}}, r"task 4: data has no 'text' string \(data keys: \['body'\]\)"),
        ("oops", r"task #1: expected a JSON object"),
        ({"id": 4, "data": {"text": "Ann"}, "annotations": {}}, r"task 4 \(document '4'\): 'annotations' must be a list"),
        ({"id": 4, "data": {"text": "Ann", "doc_id": "d9"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": 0, "end": 9, "labels": ["person"]}}]}]},
         r"task 4 \(document 'd9'\), region 'r1': span \[0, 9\) ends beyond the text \(length 3\)"),
        ({"id": 4, "data": {"text": "Ann"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": 0, "end": 3, "text": "Bob", "labels": ["person"]}}]}]},
         r"region 'r1': value.text 'Bob' does not match the text at \[0, 3\): 'Ann'"),
        ({"id": 4, "data": {"text": "Ann"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": "0", "end": 3, "labels": ["person"]}}]}]},
         r"region 'r1': 'start' and 'end' must be integers"),
        ({"id": 4, "data": {"text": "Ann"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": 0, "end": 3, "labels": ["animal"]}}]}]},
         r"region 'r1': entity label 'animal' is not in schema 'people'"),
        ({"id": 4, "data": {"text": "Ann"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": 0, "end": 3, "labels": ["person"]}},
            {"from_id": "r1", "to_id": "gone", "type": "relation", "labels": ["works_for"]}]}]},
         r"task 4 \(document '4'\): relation 'works_for' refers to region 'gone', which is not a labelled span"),
        ({"id": 4, "data": {"text": "Ann"}, "predictions": [{"result": [
            {"from_id": "a", "to_id": "b", "type": "relation", "direction": "up", "labels": ["works_for"]}]}]},
         r"result item 1: relation direction 'up' is not one of"),
        ({"id": 4, "data": {"text": "🎉 Ann"}, "predictions": [{"result": [
            {"id": "r1", "type": "labels", "value": {"start": 1, "end": 6, "labels": ["person"]}}]}]},
         r"region 'r1': span \[1, 6\) cuts a character in two"),
    ],
)
def test_malformed_tasks_are_errors_naming_the_task(task, message):
    with pytest.raises(InputError, match=message):
        import_tasks([task], SCHEMA)


def test_malformed_exports_and_duplicate_documents():
    with pytest.raises(InputError, match=r"a list of tasks\), got str"):
        import_tasks("nope")
    twice = [{"id": 1, "data": {"text": "a", "doc_id": "x"}}, {"id": 2, "data": {"text": "b", "doc_id": "x"}}]
    with pytest.raises(InputError, match=r"task #2: document id 'x' already came from task #1"):
        import_tasks(twice)


def test_the_labelling_config_matches_the_schema_and_the_documents():
    docs = corpus() + [doc("d5", "Zed rules.", [("Zed", "king", 0.5, "llm")])]
    root = ET.fromstring(label_config(SCHEMA, docs))
    assert [child.tag for child in root] == ["Relations", "Labels", "Text"]
    assert [r.get("value") for r in root.find("Relations")] == ["works_for", "married_to", "based_in"]
    labels = root.find("Labels")
    assert (labels.get("name"), labels.get("toName")) == ("label", "text")
    assert [lab.get("value") for lab in labels] == ["person", "org", "loc", "king"]
    assert labels[0].get("hint") == "person name" and labels[1].get("hint") == "an organization"
    assert root.find("Text").attrib == {"name": "text", "value": "$text"}
    bare = ET.fromstring(label_config(None, [doc("d", 'A "quoted" <tag> & co', [('"quoted"', 'a<b"c', 0.5, "llm")])]))
    assert bare.find("Relations") is None and bare.find("Labels")[0].get("value") == 'a<b"c'


def test_reviewed_documents_become_a_training_set(tmp_path):
    from hybrid_ie.datasets import get_set

    docs = corpus()
    sentence, dropped = to_spert(docs[0])
    assert sentence["tokens"][:4] == ["Ann", "Smith", "works", "for"] and dropped == 0
    assert sentence["entities"][0] == {"type": "person", "start": 0, "end": 2}
    assert sentence["relations"][0] == {"type": "works_for", "head": 0, "tail": 1}
    half = doc("h", "Acme Corporation", [("Acme Corp", "org", None, "gold")])
    assert to_spert(half)[1] == 1  # not on a word boundary: left out
    counts = write_set(docs, tmp_path / "reviewed", SCHEMA)
    assert counts == {"documents": 4, "entities": 10, "relations": 3, "entities_dropped": 0}
    ds = get_set("reviewed", tmp_path)
    assert ds.splits == ["train"] and ds.types_schema.entity_type("person").prompt == "person name"
    assert ds.types_schema.symmetric_relations == {"married_to"}
    loaded = ds.load("train")
    assert [(e.text, e.label) for e in loaded[0].entities] == [("Ann Smith", "person"), ("Acme Corp", "org"), ("Boston", "loc")]
    assert [len(d.entities) for d in loaded] == [3, 3, 0, 4] and loaded[1].text.startswith("Bob 🎉 Lee")


def test_region_ids_are_unique_across_tasks_and_stable_across_re_exports():
    docs = corpus()
    tasks, _ = export_tasks(docs, SCHEMA)
    ids = [r["id"] for t in tasks for r in t["predictions"][0]["result"] if r["type"] == "labels"]
    assert len(ids) == len(set(ids)) == sum(len(d.entities) for d in docs)
    again, _ = export_tasks(corpus(), SCHEMA)
    assert again == tasks
    # Re-extracted with one more entity in front: every old entity keeps its region id.
    first = docs[0]
    grown = doc("d1", first.text, [("Ann", "person", 0.3, "encoder"), ("Acme Corp", "org", 0.8, "both"),
                                   ("Boston", "loc", 0.66, "llm")])  # fmt: skip
    old = {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]): r["id"]
           for r in tasks[0]["predictions"][0]["result"] if r["type"] == "labels"}  # fmt: skip
    new = {(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0]): r["id"]
           for r in export_tasks([grown], SCHEMA)[0][0]["predictions"][0]["result"] if r["type"] == "labels"}  # fmt: skip
    assert all(new[key] == old[key] for key in new.keys() & old.keys()) and len(new.keys() & old.keys()) == 2
    (back,), _ = import_tasks(through_json(tasks[:1]), SCHEMA)
    assert shape(back)[2:] == shape(first)[2:]  # relations still point at the right entities


def test_the_recorded_schema_gives_every_label_to_the_config():
    labels = {"entities": ["person", "org", "loc"], "relations": ["works_for", "married_to"], "symmetric": ["married_to"]}
    only_person = doc("x", "Ann Smith spoke.", [("Ann Smith", "person", 0.9, "encoder")],
                      meta={"pipeline": {"mode": "encoder", "schema": "clinical-notes", "labels": labels}})  # fmt: skip
    schema = recorded_schema([only_person])
    assert schema.entity_labels == ["person", "org", "loc"] and schema.symmetric_relations == {"married_to"}
    root = ET.fromstring(label_config(schema, [only_person]))
    assert [x.get("value") for x in root.iter("Label")] == ["person", "org", "loc"]
    assert [x.get("value") for x in root.iter("Relation")] == ["works_for", "married_to"]
    shipped = doc("y", "Ann Smith spoke.", [], meta={"pipeline": {"schema": "conll04"}})
    assert recorded_schema([shipped]).name == "conll04"  # a name alone: the shipped schema
    assert recorded_schema([doc("z", "No meta.", [])]) is None
