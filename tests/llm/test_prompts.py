"""Prompts rendered from prompts/: a stable prefix per schema, the chunk last, schema rules."""

from __future__ import annotations

import json

import pytest

from hybrid_ie.errors import HybridIEError
from hybrid_ie.llm.prompts import EntityRow, RelationRow, extract_messages, load_template, verify_messages
from hybrid_ie.llm.responses import LabelSet
from hybrid_ie.schema import Schema


def test_extract_prefix_is_stable_and_the_chunk_comes_last(conll04):
    labels = LabelSet.of(conll04)
    a = extract_messages("Alice works for Acme .", conll04, labels)
    b = extract_messages("Bob lives in Rome .", conll04, labels)
    assert a[:-1] == b[:-1] and a[-1] != b[-1]
    assert a[-1] == {"role": "user", "content": "Text: Alice works for Acme ."}
    system = a[0]["content"]
    assert "- works for (person -> organization): " in system and "- person: Names of people" in system
    assert "common nouns" in system  # the conll04 rule from prompts/examples/conll04.json
    assert [m["role"] for m in a[1:-1]] == ["user", "assistant"] * (len(a[1:-1]) // 2)
    assert len(extract_messages("x", conll04, labels, few_shot=False)) == 2


def test_examples_speak_the_label_style(conll04):
    verbose = extract_messages("x", conll04, LabelSet.of(conll04, "verbose"))
    names = extract_messages("x", conll04, LabelSet.of(conll04, "name"))
    assert json.loads(verbose[2]["content"])["entities"][0]["type"] == "person"
    assert json.loads(names[2]["content"])["entities"][0]["type"] == "Peop"
    assert "- Work_For (Peop -> Org): " in names[0]["content"]
    verdicts = json.loads(verify_messages("x", conll04, LabelSet.of(conll04), [], [])[2]["content"])
    assert verdicts["entities"] == ["ok", "organization", "drop", "drop"]
    assert verdicts["add_relations"][0]["type"] == "lives in"


def test_verify_lists_numbered_candidates(conll04):
    messages = verify_messages(
        "Alice works for Acme .", conll04, LabelSet.of(conll04, "name"),
        [EntityRow("Alice", "Peop", 0.9), EntityRow("Acme", "Loc", 0.456)],
        [RelationRow("Alice", "Work_For", "Acme", None)],
    )
    assert messages[-1]["content"] == (
        'Text: Alice works for Acme .\n\nEntity candidates:\n1. "Alice" Peop 0.90\n2. "Acme" Loc 0.46\n\n'
        'Relation candidates:\n1. "Alice" Work_For "Acme"'
    )
    empty = verify_messages("Nothing here .", conll04, LabelSet.of(conll04), [], [])[-1]["content"]
    assert "Entity candidates:\n(none)" in empty


def test_schema_without_examples_is_zero_shot():
    adhoc = Schema.from_labels(["gene", "disease"], [], name="adhoc-test")
    messages = extract_messages("BRCA1 and cancer .", adhoc, LabelSet.of(adhoc))
    assert len(messages) == 2 and "Relation types (allowed head type -> tail type):\n(none)" in messages[0]["content"]


def test_a_document_with_template_syntax_is_kept_verbatim(conll04):
    text = "Costs $text and ${schema_name} rose ."
    assert extract_messages(text, conll04, LabelSet.of(conll04))[-1]["content"] == f"Text: {text}"


def test_malformed_template_is_named(tmp_path):
    (tmp_path / "extract.md").write_text("no markers here")
    with pytest.raises(HybridIEError, match="extract.md: expected a '--- system ---' line"):
        load_template("extract", tmp_path)
