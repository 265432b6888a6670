"""hybrid_ie.document: the offset invariant, JSONL round trip, and errors that name file:line."""

from __future__ import annotations

import io
import json

import pytest
from pydantic import ValidationError

from hybrid_ie.document import (
    Document,
    Entity,
    Relation,
    document_from_dict,
    iter_json_lines,
    make_entity,
    read_jsonl,
    write_document,
    write_jsonl,
)
from hybrid_ie.errors import HybridIEError, InputError

TEXT = "Steve Jobs founded Apple."

# exactly the JSONL shape of the issue (and of document.py's docstring), one document
ISSUE_LINE = {
    "id": "d1",
    "text": TEXT,
    "entities": [
        {
            "id": "T1",
            "start": 0,
            "end": 10,
            "text": "Steve Jobs",
            "label": "person",
            "score": 0.97,
            "source": "encoder",
        },
        {
            "id": "T2",
            "start": 19,
            "end": 24,
            "text": "Apple",
            "label": "organization",
            "score": None,
            "source": "llm",
        },
    ],
    "relations": [{"head": "T1", "tail": "T2", "label": "founded", "score": 0.8, "source": "llm"}],
    "meta": {"route": [{"escalated": True}]},
}


def entity(start: int, end: int, text: str, id: str = "T1") -> dict:
    return {"id": id, "start": start, "end": end, "text": text, "label": "person"}


# -- the invariant --------------------------------------------------------------------------------


def test_text_must_match_the_span():
    with pytest.raises(
        ValidationError, match=r"entity 'T1' says text 'Steve Jobz' but text\[0:10\] is 'Steve Jobs'"
    ):
        Document(id="d", text=TEXT, entities=[entity(0, 10, "Steve Jobz")])


def test_span_beyond_text_is_named():
    with pytest.raises(ValidationError, match=r"entity 'T1' ends at 30, beyond the text \(length 25\)"):
        Document(id="d", text=TEXT, entities=[entity(20, 30, "x" * 10)])


@pytest.mark.parametrize(
    ("start", "end", "text", "message"),
    [
        (5, 5, "", r"end \(5\) must be greater than start \(5\)"),
        (6, 2, "abcd", r"end \(2\) must be greater than start \(6\)"),
        (0, 5, "Steve Jobs", r"has length 10 but the span \[0, 5\) has length 5"),
    ],
)
def test_bad_spans_are_explained(start, end, text, message):
    with pytest.raises(ValidationError, match=message):
        Entity(**entity(start, end, text))


def test_negative_offsets_and_scores_out_of_range_are_rejected():
    with pytest.raises(ValidationError, match="start"):
        Entity(**entity(-1, 3, "abcd"))
    with pytest.raises(ValidationError, match="score"):
        Entity(**entity(0, 5, "Steve"), score=1.5)


def test_duplicate_entity_ids_and_dangling_relations():
    with pytest.raises(ValidationError, match="duplicate entity id 'T1'"):
        Document(id="d", text=TEXT, entities=[entity(0, 5, "Steve"), entity(6, 10, "Jobs")])
    with pytest.raises(ValidationError, match="relation 'founded' has tail 'T9', which is not an entity id"):
        Document(
            id="d",
            text=TEXT,
            entities=[entity(0, 5, "Steve")],
            relations=[Relation(head="T1", tail="T9", label="founded")],
        )


def test_unknown_fields_and_sources_are_rejected():
    with pytest.raises(ValidationError, match="extra"):
        Document(id="d", text=TEXT, entites=[])
    with pytest.raises(ValidationError, match="source"):
        Entity(**entity(0, 5, "Steve"), source="oracle")


def test_make_entity_cuts_the_text_and_ids_become_strings():
    ent = make_entity(TEXT, 19, 24, "organization", id="T2", score=0.5, source="both")
    assert (ent.text, ent.span, ent.source) == ("Apple", (19, 24), "both")
    assert Document(id=7, text=TEXT).id == "7"


# -- JSONL ------------------------------------------------------------------------------------------


def test_round_trip_keeps_exactly_the_issue_shape(tmp_path):
    doc = Document.model_validate(ISSUE_LINE)
    path = tmp_path / "docs.jsonl"
    assert write_jsonl([doc, doc.model_copy(update={"id": "d2"})], path) == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == ISSUE_LINE  # no "error" key unless there is an error
    back = list(read_jsonl(path))
    assert back[0] == doc and back[1].id == "d2"
    assert back[0].entity("T2").text == "Apple" and set(back[0].entity_map()) == {"T1", "T2"}


def test_error_documents_carry_the_error_key():
    failed = Document(id="d", text=TEXT, error="llm_failed: timeout")
    assert failed.to_dict()["error"] == "llm_failed: timeout"
    assert Document.model_validate_json(failed.to_json()) == failed


def test_non_ascii_text_is_written_as_utf8(tmp_path):
    text = "Zoë Müller visited Zürich."
    doc = Document(id="u", text=text, entities=[make_entity(text, 19, 25, "location", id="T1")])
    path = tmp_path / "u.jsonl"
    write_jsonl([doc], path)
    assert "Zürich" in path.read_text(encoding="utf-8")
    assert list(read_jsonl(path)) == [doc]


def test_write_document_appends_and_flushes():
    handle = io.StringIO()
    write_document(Document(id="a", text="x"), handle)
    write_document(Document(id="b", text="y"), handle)
    assert [json.loads(line)["id"] for line in handle.getvalue().splitlines()] == ["a", "b"]


def test_empty_and_blank_files_yield_nothing(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n   \n\n", encoding="utf-8")
    assert list(read_jsonl(empty)) == [] and list(read_jsonl(blank)) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # line 3 stops after 20 characters: the missing value is reported just past them
        (
            b'{"id": "a", "text": "x"}\n\n{"id": "b", "text": \n',
            r":3: malformed JSON \(Expecting value at column 22\)",
        ),
        (b'{"id": "a" "text": "x"}\n', r":1: malformed JSON \(Expecting ',' delimiter at column 12\)"),
        (b'{"id": "a", "text": "x"}\n[1, 2]\n', r":2: expected a JSON object, got list"),
        (
            b'{"id": "a", "text": "caf\xe9"}\n',
            r":1: invalid UTF-8 at byte 24 of the line",
        ),  # 0-based offset of \xe9
        (b'{"id": "a", "text": "x"}\n{"id": "b"}\n', r":2: invalid document \(text: Field required\)"),
        (
            b'{"id": "a", "text": "abc", "entities": [{"id": "T1", "start": 0, "end": 2, "text": "zz", "label": "L"}]}\n',
            r":1: invalid document \(document 'a': entity 'T1' says text 'zz' but text\[0:2\] is 'ab'\)",
        ),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as info:
        list(read_jsonl(path))
    assert str(info.value).startswith(f"{path}:")
    assert isinstance(info.value, HybridIEError)


def test_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="nope.jsonl: cannot open"):
        list(iter_json_lines(tmp_path / "nope.jsonl"))


def test_document_from_dict_names_the_place_and_field():
    with pytest.raises(InputError, match=r"^here:9: invalid document \(entities.0.end: Input should be"):
        document_from_dict({"id": "a", "text": "x", "entities": [entity(0, "ten", "x")]}, where="here:9")
