"""hybrid_ie.datasets: the three benchmark sets load with valid offsets; SpERT errors are clear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_data import NER_TYPES, tiny_data_dir, write_set

from hybrid_ie.datasets import (
    DATASETS,
    SPLITS,
    discover_sets,
    get_set,
    is_spert_file,
    load_dataset,
    load_documents,
    read_spert,
    set_reference,
    source_schema,
    spert_to_document,
    token_offsets,
)
from hybrid_ie.document import write_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.paths import data_dir

DATA = Path(__file__).parent / "data"
needs_data = pytest.mark.skipif(
    not all((data_dir() / name / "test.json").exists() for name in DATASETS),
    reason=f"benchmark data not found under {data_dir()}",
)

# sentences, entities and relations of each test split (the table in ../shared/data/README.md)
TEST_SIZES = {"conll04": (288, 1079, 422), "scierc": (551, 1685, 974), "ade": (640, 1620, 1015)}


@needs_data
@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("split", SPLITS)
def test_every_split_loads_with_valid_offsets_and_links(name, split):
    docs = load_dataset(name, split)
    assert docs, f"{name}:{split} is empty"
    raw = json.loads((data_dir() / name / f"{split}.json").read_text(encoding="utf-8"))
    assert len(docs) == len(raw)
    for i, (doc, sentence) in enumerate(zip(docs, raw, strict=True)):
        assert doc.id == f"{name}-{split}-{i}"
        assert doc.text == " ".join(doc.meta["tokens"])
        ids = {e.id for e in doc.entities}
        for ent, src in zip(doc.entities, sentence["entities"], strict=True):
            assert doc.text[ent.start : ent.end] == ent.text  # the invariant, checked again
            tokens = " ".join(sentence["tokens"][src["start"] : src["end"]])
            assert ent.text in (tokens, tokens[:-1])  # less a glued sentence period ("Texas.")
            assert ent.label == src["type"] and ent.source == "gold"
        for rel in doc.relations:
            assert rel.head in ids and rel.tail in ids
        assert [(r.head, r.tail, r.label) for r in doc.relations] == [
            (f"T{r['head'] + 1}", f"T{r['tail'] + 1}", r["type"]) for r in sentence["relations"]
        ]


@needs_data
@pytest.mark.parametrize("name", DATASETS)
def test_test_split_sizes_match_the_data_readme(name):
    docs = load_dataset(name, "test")
    sizes = (len(docs), sum(len(d.entities) for d in docs), sum(len(d.relations) for d in docs))
    assert sizes == TEST_SIZES[name]


@needs_data
def test_load_documents_accepts_name_split_spert_file_and_jsonl(tmp_path):
    by_name = load_documents("conll04:test")
    by_file = load_documents(data_dir() / "conll04" / "test.json")
    jsonl = tmp_path / "t.jsonl"
    write_jsonl(by_name, jsonl)
    assert by_name == by_file == load_documents(jsonl)


def test_a_set_reference_is_name_colon_split_unless_a_file_has_that_name(tmp_path):
    assert set_reference("conll04:test") == ("conll04", "test")
    assert set_reference("multiconer2-en:dev:coarse") == ("multiconer2-en", "dev:coarse")
    assert set_reference(tmp_path / "plain.json") is None
    odd = tmp_path / "a:b.jsonl"
    odd.write_text("", encoding="utf-8")
    assert set_reference(odd) is None and set_reference(str(odd)) is None


def test_tiny_spert_fixture():
    docs = read_spert(DATA / "tiny_spert.json")
    assert [d.id for d in docs] == ["data-tiny_spert-0", "data-tiny_spert-1"]
    first = docs[0]
    assert [(e.id, e.start, e.end, e.text, e.label) for e in first.entities] == [
        ("T1", 0, 10, "John Smith", "Peop"),
        ("T2", 21, 30, "Acme Corp", "Org"),
        ("T3", 34, 40, "Boston", "Loc"),
    ]
    assert first.meta == {"tokens": first.text.split(" "), "orig_id": 1}
    assert docs[1].entities == [] and docs[1].relations == []
    assert read_spert(DATA / "tiny_spert.json", id_prefix="x")[1].id == "x-1"
    assert is_spert_file(DATA / "tiny_spert.json") and not is_spert_file(DATA / "eval_gold.jsonl")


def test_token_offsets():
    assert token_offsets(["a", "bc", "", "d"]) == [(0, 1), (2, 4), (5, 5), (6, 7)]


@pytest.mark.parametrize(
    ("sentence", "message"),
    [
        (
            {"tokens": ["a", "b"], "entities": [{"type": "X", "start": 1, "end": 3}]},
            r"entity 0 has token span \[1, 3\)",
        ),
        (
            {"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 0}]},
            r"entity 0 has token span \[0, 0\)",
        ),
        (
            {
                "tokens": ["a"],
                "entities": [{"type": "X", "start": 0, "end": 1}],
                "relations": [{"type": "R", "head": 0, "tail": 1}],
            },
            r"relation 0 points at a missing entity \(0, 1\)",
        ),
        ({"entities": []}, r"sentence s-0: not in SpERT layout \(KeyError\('tokens'\)\)"),
        (
            {"tokens": ["a"], "entities": [{"start": 0, "end": 1}]},
            r"not in SpERT layout \(KeyError\('type'\)\)",
        ),
    ],
)
def test_bad_sentences_are_explained(sentence, message):
    with pytest.raises(InputError, match=message):
        spert_to_document(sentence, "s-0")


def test_bad_files_name_the_file(tmp_path):
    not_list = tmp_path / "obj.json"
    not_list.write_text('{"tokens": []}', encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{not_list}: expected a JSON list of sentences"):
        read_spert(not_list)
    broken = tmp_path / "broken.json"
    broken.write_text('[{"tokens": ["a"]},\n', encoding="utf-8")
    with pytest.raises(InputError, match=rf"^{broken}: not valid JSON"):
        read_spert(broken)
    bad_entity = tmp_path / "bad.json"
    bad_entity.write_text(
        '[{"tokens": ["a"]}, {"tokens": ["a"], "entities": [{"type": "X", "start": 0, "end": 5}]}]'
    )
    with pytest.raises(InputError, match=rf"^{bad_entity}: .*entity 0 has token span"):
        read_spert(bad_entity)
    with pytest.raises(InputError, match="cannot read"):
        read_spert(tmp_path / "missing.json")


def test_unknown_dataset_split_and_source(tmp_path):
    with pytest.raises(InputError, match=r"unknown split 'validation'"):
        load_dataset("conll04", "validation")
    with pytest.raises(InputError, match=r"dataset 'nope' split 'test' not found at"):
        load_dataset("nope", "test", root=tmp_path)
    with pytest.raises(InputError, match=r"no such file \(or use name:split"):
        load_documents(tmp_path / "missing.jsonl")


# -- the registry ------------------------------------------------------------------------------


def test_discover_sets_finds_every_set_with_its_annotation(tmp_path):
    sets = {s.name: s for s in discover_sets(tiny_data_dir(tmp_path))}
    assert list(sets) == ["fewrel-tiny", "ner-a", "ner-b", "news", "partial-x"]  # not "notes"
    assert {n: s.annotation for n, s in sets.items()} == {
        "fewrel-tiny": "partial",  # by the fewrel-* glob of datasets.json
        "ner-a": "complete",
        "ner-b": "complete",
        "news": "complete",
        "partial-x": "partial",  # by its own types.json
    }
    assert sets["partial-x"].partial and not sets["news"].partial
    assert sets["news"].splits == ["train", "dev", "test"] and sets["ner-b"].splits == ["train", "test"]
    assert sets["news"].count("train") == {"sentences": 6, "entities": 10, "relations": 4}
    docs = sets["news"].load("test")
    assert [d.id for d in docs] == ["news-test-0", "news-test-1", "news-test-2"]
    assert docs[0].entities[1].text == "Acme Corp"


def test_types_schema_uses_keys_as_names_and_verbose_names_as_prompts(tmp_path):
    news = get_set("news", tiny_data_dir(tmp_path))
    assert news.entity_types == {"Peop": "person", "Org": "organization", "Loc": "location"}
    assert news.relation_types == {"Work_For": "works for", "Live_In": "lives in"}
    schema = news.types_schema
    assert schema.name == "news"
    assert schema.entity_labels == ["Peop", "Org", "Loc"]
    assert [t.prompt for t in schema.entity_types] == ["person", "organization", "location"]
    assert [t.prompt for t in schema.relation_types] == ["works for", "lives in"]
    assert schema.symmetric_relations == set()
    assert news.schema(prefer_repo=True) == schema  # no schemas/news.json in the repo
    assert get_set("ner-a", tmp_path).types_schema.relation_types == ()


def test_bad_annotation_and_unknown_set_are_input_errors(tmp_path):
    tiny_data_dir(tmp_path)
    with pytest.raises(InputError, match=r"unknown data set 'nope'; available: fewrel-tiny, ner-a, .*partial-x"):
        get_set("nope", tmp_path)
    write_set(tmp_path, "odd", {**NER_TYPES, "annotation": "sparse"}, {"train": []})
    with pytest.raises(InputError, match=r"data set 'odd': annotation 'sparse' is not one of"):
        discover_sets(tmp_path)
    with pytest.raises(InputError, match=r"data folder .*missing not found \(pass --data DIR"):
        discover_sets(tmp_path / "missing")
    (tmp_path / "odd" / "types.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"types.json: not valid JSON"):
        discover_sets(tmp_path)


def test_a_source_without_a_shipped_schema_takes_the_one_its_types_json_describes(tmp_path):
    from hybrid_ie.benchmark.runner import resolve_schema

    root = tiny_data_dir(tmp_path)
    by_name = source_schema("news:test", root)
    by_file = source_schema(root / "news" / "test.json")
    assert by_name == by_file == get_set("news", root).types_schema
    assert source_schema("nothing-here:test", root) is None
    assert source_schema(tmp_path / "loose.json") is None
    assert resolve_schema(str(root / "news" / "test.json"), None) == by_file
    (tmp_path / "loose.json").write_text("[]", encoding="utf-8")
    with pytest.raises(InputError, match=r"cannot tell the schema of .*loose.json.*no types.json beside it.*--schema"):
        resolve_schema(str(tmp_path / "loose.json"), None)


@needs_data
def test_a_set_with_a_shipped_schema_keeps_it():
    from hybrid_ie.schema import load_schema

    assert source_schema("conll04:test") == load_schema("conll04")
