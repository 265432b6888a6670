"""Inputs a hostile but fair user sends: each is a clear one-line error or handled, never a
traceback or a silent surprise."""

from __future__ import annotations

import json

import pytest

from hybrid_ie.document import Document, read_jsonl
from hybrid_ie.errors import InputError, SchemaError
from hybrid_ie.integrations.labelstudio import from_task
from hybrid_ie.job_inputs import collect_inputs
from hybrid_ie.render import render_html
from hybrid_ie.schema import load_schema

TEXT = "Mary Smith lives in Paris."


def write(path, data: str | bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_a_binary_or_folder_schema_path_is_a_clear_error(tmp_path):
    with pytest.raises(SchemaError, match=r"bin\.json: not a JSON schema file \(not UTF-8 text\)"):
        load_schema(write(tmp_path / "bin.json", b"\xff\xfe\x00\x81" * 20))
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(SchemaError, match=r"dir\.json: is a folder"):
        load_schema(tmp_path / "dir.json")
    with pytest.raises(SchemaError, match="nested too deeply"):
        load_schema(write(tmp_path / "deep.json", "[" * 100_000 + "]" * 100_000))


def test_a_schema_name_never_reaches_outside_the_shipped_schemas(tmp_path, monkeypatch):
    write(tmp_path / "x.json", json.dumps(load_schema("conll04").to_dict()))
    monkeypatch.chdir(tmp_path / "..")
    name = f"{tmp_path.name}/../{tmp_path.name}/x"  # a path spelled as a name, without .json
    with pytest.raises(SchemaError, match="no such schema file"):
        load_schema(name)
    with pytest.raises(SchemaError, match="no such schema file"):
        load_schema("../../x")


def test_jsonl_edge_cases(tmp_path):
    deep = write(tmp_path / "deep.jsonl", '{"text": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    with pytest.raises(InputError, match=r"deep\.jsonl:1: JSON nested too deeply"):
        collect_inputs([deep])
    with pytest.raises(InputError, match=r"deep\.jsonl:1: JSON nested too deeply"):  # Documents read back
        list(read_jsonl(deep))
    with pytest.raises(InputError, match=r'bool\.jsonl:1: "id" must be a string or an integer'):
        collect_inputs([write(tmp_path / "bool.jsonl", '{"id": true, "text": "x"}\n')])
    texts, _ = collect_inputs([write(tmp_path / "bom.jsonl", '\ufeff{"id": "a", "text": "x"}\n')])
    assert [(t.id, t.text) for t in texts] == [("a", "x")]


def test_control_characters_are_spaces_with_a_warning(tmp_path):
    texts, warnings = collect_inputs([write(tmp_path / "n.jsonl", json.dumps({"id": "n", "text": "Mary\x00Smith\x07."}))])
    assert texts[0].text == "Mary Smith ." and "2 control character(s)" in warnings[0]
    texts, warnings = collect_inputs([write(tmp_path / "t.txt", "Ann\x00Lee")])
    assert texts[0].text == "Ann Lee" and warnings


def test_the_same_file_name_in_two_folders_gets_two_ids(tmp_path):
    a = write(tmp_path / "a" / "report.txt", "A.")
    b = write(tmp_path / "b" / "report.txt", "B.")
    write(tmp_path / "b" / "other.txt", "C.")
    texts, _ = collect_inputs([tmp_path / "a", tmp_path / "b"])
    assert [t.id for t in texts] == ["a/report", "other", "b/report"] or [t.id for t in texts] == [
        "a/report", "b/report", "other"]
    assert {t.where for t in texts if t.id.endswith("report")} == {str(a), str(b)}
    with pytest.raises(InputError, match="duplicate document id"):
        collect_inputs([a, a])
    c = write(tmp_path / "a" / "report.html", "<p>C.</p>")
    assert [t.id for t in collect_inputs([a, c])[0]] == ["report.txt", "report.html"]


def test_render_skips_malformed_route_entries():
    doc = Document(id="d", text=TEXT, meta={"route": [
        {"escalated": True, "start": "x", "end": 3}, {"escalated": True, "start": 0, "end": 999},
        "junk", {"escalated": True, "start": 0, "end": 4, "reasons": "not a list"},
    ]})  # fmt: skip
    page = render_html([doc])
    assert page.count('class="chunk-esc" title="sent to the LLM') == 1
    assert render_html([Document(id="e", text=TEXT, meta={"route": {"not": "a list"}})])


def test_label_studio_relation_ids_and_scores_are_checked():
    regions = [{"id": "a", "type": "labels", "value": {"start": 0, "end": 10, "labels": ["Peop"]}},
               {"id": "b", "type": "labels", "value": {"start": 20, "end": 25, "labels": ["Loc"]}}]  # fmt: skip
    task = {"data": {"text": TEXT, "doc_id": "d"},
            "annotations": [{"result": [*regions, {"type": "relation", "from_id": ["a"], "to_id": "b",
                                                    "labels": ["Live_In"]}]}]}  # fmt: skip
    with pytest.raises(InputError, match="relation 'from_id' must be a region id string, got list"):
        from_task(task, 0, warnings=[])
    nan = {"data": {"text": TEXT, "doc_id": "d"},
           "predictions": [{"result": [{**regions[0], "score": float("nan")}]}]}  # fmt: skip
    doc = from_task(nan, 0, warnings=[])
    assert doc.entities[0].score is None
