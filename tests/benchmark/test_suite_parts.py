"""Protocol v2's suite parts (hybrid_ie/benchmark/suite_parts.py): label competition, relation
wording, the user suite; on tiny hermetic data with an encoder that answers the gold, plus checks
of the protocol's own files (eval/label_competition.json, eval/relation_wording.json,
eval/user_suite/)."""

from __future__ import annotations

import importlib.util
import itertools
import json

import pytest
from support.tiny_data import NEWS, NEWS_TYPES, write_set, zero_shot_data_dir

from hybrid_ie.benchmark.suite import Suite, load_suite, run_suite
from hybrid_ie.benchmark.suite_parts import (
    Hierarchy,
    backoff_table,
    coarse_schema,
    known_overlap,
    label_outcomes,
    load_phrasings,
    merged_gold,
    wording_schema,
)
from hybrid_ie.benchmark.suite_report import render_suite_markdown
from hybrid_ie.datasets import discover_sets, get_set, read_spert
from hybrid_ie.document import Document, make_entity
from hybrid_ie.errors import InputError

FINE_TYPES = {
    "entities": {
        "Politician": {"verbose": "politician"},
        "OtherPER": {"verbose": "other person"},
        "City": {"verbose": "city"},
    },
    "relations": {},
}
PEOPLE = [
    {"tokens": ["Angela", "Merkel", "met", "Bob", "in", "Bonn", "."],
     "entities": [{"type": "Politician", "start": 0, "end": 2}, {"type": "OtherPER", "start": 3, "end": 4},
                  {"type": "City", "start": 5, "end": 6}]},
    {"tokens": ["Bob", "lives", "in", "Bonn", "."],
     "entities": [{"type": "OtherPER", "start": 0, "end": 1}, {"type": "City", "start": 3, "end": 4}]},
]  # fmt: skip
MAPPING = {
    "coarse": {"PER": "person", "LOC": "location"},
    "catch_all": {"MISC": "miscellaneous"},
    "parent": {"Politician": "PER", "OtherPER": "PER", "City": "LOC"},
    "merge": ["OtherPER"],
}


def hierarchy() -> Hierarchy:
    return Hierarchy.from_dict(MAPPING, {k: k for k in FINE_TYPES["entities"]}, "test")


def doc(text: str, *spans: tuple[str, str]) -> Document:
    ents = []
    for i, (mention, label) in enumerate(spans):
        start = text.index(mention)
        ents.append(make_entity(text, start, start + len(mention), label, id=f"T{i}"))
    return Document(id="d", text=text, entities=ents)


class GoldEncoder:
    """Answers each document's gold, keeping only the entities and relations whose label the
    schema offers (a merged fine type is then missed, a phrasing-only change answers the same)."""

    def __init__(self, sets, *, known=None, backoff=None):
        self.gold = {d.id: d for ds in sets for split in ds.splits for d in ds.load(split)}
        self.calls = []
        if known is not None:
            self.known_labels = set(known)
        if backoff is not None:
            self.relation_backoff_targets = lambda prompts: {p: backoff[p] for p in prompts if p in backoff}

    def predict(self, texts, schema, *, ids, batch_size, nested, progress):
        self.calls.append((schema.name, [t.prompt for t in schema.entity_types],
                           [t.prompt for t in schema.relation_types], nested))  # fmt: skip
        out = []
        for i in ids:
            g = self.gold[i]
            ents = [e for e in g.entities if e.label in schema.entity_labels]
            kept = {e.id for e in ents}
            rels = [r for r in g.relations if r.label in schema.relation_labels and {r.head, r.tail} <= kept]
            out.append(g.model_copy(update={"entities": ents, "relations": rels}))
        return out


# -- label competition ---------------------------------------------------------------------------


def test_hierarchy_ancestors_coarse_schema_and_merged_gold(tmp_path):
    h = hierarchy()
    assert h.ancestors("Politician") == {"PER", "MISC"}
    assert h.ancestors("PER") == {"MISC"} and h.ancestors("MISC") == set()
    ds = get_set("people", write_set(tmp_path, "people", FINE_TYPES, {"test": PEOPLE}).parent)
    schema = coarse_schema(ds.types_schema, h)
    assert [(t.name, t.prompt) for t in schema.entity_types] == [
        ("Politician", "politician"), ("City", "city"), ("PER", "person"), ("LOC", "location"),
        ("MISC", "miscellaneous"),
    ]  # fmt: skip
    merged = merged_gold(ds.load("test"), h)
    assert [e.label for d in merged for e in d.entities] == ["Politician", "PER", "City", "PER", "City"]
    assert ds.load("test")[0].entities[1].label == "OtherPER"  # the original is untouched


def test_label_outcomes_count_coarser_other_and_missed():
    h = hierarchy()
    text = "Angela Merkel met Bob in Bonn and Paris ."
    gold = doc(text, ("Angela Merkel", "Politician"), ("Bob", "PER"), ("Bonn", "City"), ("Paris", "City"))
    pred = doc(text, ("Angela Merkel", "PER"), ("Bob", "MISC"), ("Bonn", "Politician"))
    out = label_outcomes([gold], [pred], h)
    assert (out["gold"], out["right"], out["coarser"], out["other"], out["missed"]) == (4, 0, 2, 1, 1)
    assert out["coarser_share"] == 0.5
    assert out["groups"] == {
        "PER": {"right": 0, "coarser": 2, "other": 0, "missed": 0},
        "LOC": {"right": 0, "coarser": 0, "other": 1, "missed": 1},
    }
    right = label_outcomes([gold], [gold], h)
    assert right["right"] == 4 and right["coarser_share"] == 0.0
    assert label_outcomes([], [], h)["coarser_share"] is None


def test_a_bad_mapping_is_refused():
    types = {k: k for k in FINE_TYPES["entities"]}
    with pytest.raises(InputError, match="exactly the set's types"):
        Hierarchy.from_dict({**MAPPING, "parent": {"Politician": "PER"}}, types, "m")
    with pytest.raises(InputError, match="every parent must be a 'coarse' key"):
        Hierarchy.from_dict({**MAPPING, "parent": {**MAPPING["parent"], "City": "GPE"}}, types, "m")
    with pytest.raises(InputError, match="clash"):
        Hierarchy.from_dict({**MAPPING, "coarse": {"City": "x", "PER": "person", "LOC": "l"}}, types, "m")
    with pytest.raises(InputError, match="needs 'coarse' and 'parent'"):
        Hierarchy.from_dict({"parent": {}}, types, "m")


# -- relation wording ----------------------------------------------------------------------------


def test_wording_schema_replaces_prompts_only(tmp_path):
    types = json.loads(json.dumps(NEWS_TYPES))
    types["relations"]["Live_In"]["symmetric"] = True
    ds = get_set("news", write_set(tmp_path, "news", types, {"test": NEWS}).parent)
    table = {"Work_For": ["has a job at", "staff member at"], "Live_In": ["resident of"]}
    second = wording_schema(ds.types_schema, table, 1)
    assert [(t.name, t.prompt, t.symmetric) for t in second.relation_types] == [
        ("Work_For", "staff member at", False), ("Live_In", "resident of", True),
    ]  # fmt: skip
    assert second.entity_types == ds.types_schema.entity_types
    assert known_overlap(["has a job at", "Lives In", "lives"], {"lives in", "works for"}) == ["Lives In"]
    assert known_overlap(["x"], None) == []
    path = tmp_path / "w.json"
    path.write_text(json.dumps({"news": {"Work_For": ["a"]}}))
    with pytest.raises(InputError, match="exactly"):
        load_phrasings(path, {"news": ds})
    path.write_text(json.dumps({"news": {"Work_For": ["a"], "Live_In": []}}))
    with pytest.raises(InputError, match="non-empty list"):
        load_phrasings(path, {"news": ds})


def test_backoff_table_names_each_target():
    class Enc:
        def relation_backoff_targets(self, prompts):
            return {p: ("murdered", 0.71) for p in prompts if p != "lives in"}

    assert backoff_table(Enc(), ["sued", "lives in", "sued"]) == [
        {"prompt": "sued", "target": "murdered", "similarity": 0.71},
        {"prompt": "lives in", "target": "lives in", "similarity": 1.0},
    ]
    assert backoff_table(object(), ["sued"]) is None


# -- the whole suite with parts ------------------------------------------------------------------


@pytest.fixture
def v2_data(tmp_path):
    data = zero_shot_data_dir(tmp_path / "data")
    write_set(data, "people", FINE_TYPES, {"dev": PEOPLE[:1], "test": PEOPLE})
    (tmp_path / "mapping.json").write_text(json.dumps({"people": MAPPING}))
    (tmp_path / "wording.json").write_text(
        json.dumps({"conll04": {"Work_For": ["has a job at", "staff member at"], "Live_In": ["resident of"]}})
    )
    user = tmp_path / "user"
    write_set(user, "sport", NEWS_TYPES, {"test": NEWS})
    write_set(user, "food", NEWS_TYPES, {"test": NEWS[:1]})
    return tmp_path


def v2_suite(root) -> Suite:
    return Suite.from_dict(
        "v2",
        {
            "sets": [{"name": "wnut17"}],
            "label_competition": {"mapping": str(root / "mapping.json"), "sets": ["people"]},
            "relation_wording": {
                "phrasings": str(root / "wording.json"),
                "sets": [{"name": "conll04", "nested": True, "repo_schema": True}],
            },
            "user_suite": {"data": str(root / "user")},
            "bar": [
                {"metric": "people.coarser_share", "max": 0.05},
                {"metric": "conll04.wording_ratio", "min": 0.8},
                {"metric": "user_suite.entities", "min": 0.7},
                {"metric": "people.coarse_minus_fine", "min": -0.02},
            ],
        },
    )


def test_run_suite_with_parts(v2_data, tmp_path):
    data = v2_data / "data"
    encoder = GoldEncoder(
        [*discover_sets(data), *discover_sets(v2_data / "user")],
        known={"works for", "Resident Of"},
        backoff={"has a job at": ("works for", 0.8), "staff member at": ("is member of", 0.7)},
    )
    report = run_suite(encoder, suite=v2_suite(v2_data), root=data, output_dir=tmp_path / "out")
    m = report["metrics"]
    # label competition: the merged "other person" mentions (2 of 5) are not offered -> missed
    assert m["people.fine.entities"] == 1.0 and m["people.coarse.entities"] == pytest.approx(2 * 0.6 / 1.6)
    assert m["people.coarser_share"] == 0.0 and m["people.coarse_minus_fine"] == pytest.approx(0.75 - 1)
    _, coarse = report["parts"]["label_competition"][0]["runs"]
    assert coarse["outcomes"]["missed"] == 2 and coarse["labels"]["entities"] == 5
    # relation wording: the gold answers whatever the wording -> ratio 1, but "resident of" is a
    # known label: flagged, and its bar line fails
    assert (
        m["conll04.canonical.relations"]
        == m["conll04.wording1.relations"]
        == m["conll04.wording2.relations"]
        == 1.0
    )
    assert m["conll04.wording_ratio"] == 1.0
    wording = report["parts"]["relation_wording"][0]
    assert wording["known_overlap"] == ["resident of"]
    assert [r["run"] for r in wording["runs"]] == ["canonical", "wording1", "wording2", "schema"]
    assert all(r["nested"] for r in wording["runs"])
    assert {b["prompt"]: b["target"] for b in wording["backoff"]}["staff member at"] == "is member of"
    asked = [c[2] for c in encoder.calls if c[0] == "conll04"]
    assert asked == [
        ["works for", "lives in"],
        ["has a job at", "resident of"],
        ["staff member at", "resident of"],
        ["works for", "killed", "organization based in", "lives in", "located in"],  # schemas/conll04.json
    ]
    assert m["conll04.schema.entities"] == m["conll04.schema.relations"] == 1.0
    assert [r["run"] for r in report["parts"]["relation_wording"][0]["runs"]][-1] == "schema"
    # user suite: every domain, pooled
    assert m["user_suite.entities"] == 1.0 and m["user_suite.relations"] == 1.0
    assert [r["name"] for r in report["parts"]["user_suite"]["runs"]] == [
        "user_suite.food",
        "user_suite.sport",
    ]
    bar = {b["metric"]: b for b in report["bar"]}
    assert [b["metric"] for b in report["bar"]][:2] == ["people.coarser_share", "conll04.wording_ratio"]
    assert (
        bar["conll04.wording_ratio"]["ok"] is False and "resident of" in bar["conll04.wording_ratio"]["note"]
    )
    assert bar["people.coarser_share"]["ok"] is True and bar["people.coarse_minus_fine"]["ok"] is False
    assert report["bar_applies"] is True and report["bar_passed"] is False
    preds = sorted(p.name for p in (tmp_path / "out" / "preds").iterdir())
    assert (
        "people.coarse.jsonl" in preds
        and "conll04.wording2.jsonl" in preds
        and "user_suite.food.own.jsonl" in preds
    )
    md = render_suite_markdown(report)
    for text in ("## Label competition", "## Relation wording", "## User suite", "people (coarse)",
                 "<= 5.0", "has a job at | works for | 0.80", "resident of"):  # fmt: skip
        assert text in md


def test_dev_split_runs_parts_that_have_dev(v2_data):
    data = v2_data / "data"
    encoder = GoldEncoder([*discover_sets(data), *discover_sets(v2_data / "user")])
    report = run_suite(encoder, suite=v2_suite(v2_data), split="dev", root=data)
    assert (
        "user_suite" not in report["parts"]
        and report["parts"]["label_competition"][0]["runs"][0]["sentences"] == 1
    )
    assert report["bar_applies"] is False
    assert report["parts"]["relation_wording"][0]["known_labels_checked"] is False


def test_part_definitions_are_checked(v2_data):
    with pytest.raises(InputError, match=r"bar metric\(s\) \['people.coarser'\] not measured"):
        Suite.from_dict("x", {"sets": [{"name": "gum"}], "label_competition": {"mapping": "m", "sets": ["people"]},
                              "bar": [{"metric": "people.coarser", "max": 0.1}]})  # fmt: skip
    suite = Suite.from_dict("x", {"sets": [{"name": "wnut17"}],
                                  "label_competition": {"mapping": str(v2_data / "nope.json"), "sets": ["people"]}})  # fmt: skip
    with pytest.raises(InputError, match="nope.json not found"):
        run_suite(GoldEncoder(discover_sets(v2_data / "data")), suite=suite, root=v2_data / "data")


# -- the protocol's own files ----------------------------------------------------------------------


def test_the_zero_shot_v2_suite_carries_issue_24s_bar(repo_root):
    suite = load_suite("zero-shot-v2")
    assert [s.name for s in suite.sets] == ["wnut17", "gum", "re3d", "bio-bionlp13cg", "wlp"]
    assert set(suite.parts) == {"label_competition", "relation_wording", "user_suite"}
    for key in ("mapping", "phrasings", "data"):
        part = next(p for p in suite.parts.values() if key in p)
        assert (repo_root / part[key]).exists()
    bar = dict(suite.bar)
    assert bar["multiconer2-en.coarse_minus_fine"] == -0.02 and dict(suite.bar_max) == {
        "multiconer2-en.coarser_share": 0.05
    }
    assert all(bar[f"{s}.wording_ratio"] == 0.8 for s in ("conll04", "ade", "scierc"))
    assert bar["user_suite.entities"] >= 0.70 and bar["user_suite.relations"] >= 0.40 and bar["macro"] == 0.35


def test_the_protocol_mapping_and_phrasings_files(repo_root):
    mapping = json.loads((repo_root / "eval" / "label_competition.json").read_text(encoding="utf-8"))
    h = mapping["multiconer2-en"]
    types = {k: k for k in h["parent"]}
    assert len(types) == 33
    Hierarchy.from_dict(h, types, "eval/label_competition.json")  # consistent in itself
    assert set(h["merge"]) == {"OtherPER", "OtherLOC", "OtherPROD", "ORG"}
    phrasings = json.loads((repo_root / "eval" / "relation_wording.json").read_text(encoding="utf-8"))
    every = [p for name in ("conll04", "ade", "scierc") for v in phrasings[name].values() for p in v]
    assert all(1 <= len(v) <= 2 for name in ("conll04", "ade", "scierc") for v in phrasings[name].values())
    # the protocol's phrasings are no training prompt of the shipped checkpoint
    config = json.loads(
        (repo_root / "models" / "hybrid-ie-minilm-zs" / "config.json").read_text(encoding="utf-8")
    )
    assert known_overlap(every, set(config["known_labels"])) == []
    assert len({p.lower() for p in every}) == len(every)


def load_build(repo_root):
    spec = importlib.util.spec_from_file_location(
        "user_suite_build", repo_root / "eval" / "user_suite" / "build.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_user_suite_files_parse_and_match_their_source(repo_root):
    build = load_build(repo_root)
    root = repo_root / "eval" / "user_suite"
    assert build.build(root, check=True) == []  # test.json / types.json are the build of sentences.txt
    domains = discover_sets(root)
    assert len(domains) >= 8
    for ds in domains:
        raw = json.loads((ds.path / "test.json").read_text(encoding="utf-8"))
        docs = read_spert(ds.path / "test.json")  # spans in range, relation arguments exist
        assert len(docs) >= 15, ds.name
        assert ds.relation_types and sum(len(d.relations) for d in docs) > 0, ds.name
        for sentence, d in zip(raw, docs, strict=True):
            assert 10 <= len(sentence["tokens"]) <= 40, (ds.name, d.text)
            assert {e.label for e in d.entities} <= set(ds.entity_types)
            assert {r.label for r in d.relations} <= set(ds.relation_types)
            spans = sorted(e.span for e in d.entities)
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), (ds.name, d.text)  # flat gold
            assert all(d.text[e.start : e.end] == e.text for e in d.entities)


def test_the_user_suite_source_format(tmp_path, repo_root):
    build = load_build(repo_root)
    sentences, types = build.parse_source(
        "entities: person, city\nrelations: lives in, met with*\n\n"
        "# a comment\n[Bob](person) , who lives in [Bonn](city) , met [Bob](person) 's friend .\n"
        "  - Bob@1 | lives in | Bonn\n  - Bob@1 | met with | Bob@2\n",
        "t",
    )
    assert sentences[0]["tokens"][:3] == ["Bob", ",", "who"]
    assert sentences[0]["entities"][1] == {"type": "city", "start": 5, "end": 6}
    assert sentences[0]["relations"] == [{"type": "lives in", "head": 0, "tail": 1},
                                         {"type": "met with", "head": 0, "tail": 2}]  # fmt: skip
    assert (
        types["relations"]["met with"]["symmetric"] is True and types["entities"]["city"]["verbose"] == "city"
    )
    for bad, why in (
        ("entities: a\nrelations: r\n[x](b) y", "not offered"),
        ("entities: a\nrelations: r\n[x](a) y,", "separate token"),
        ("entities: a\nrelations: r\n[x](a) [x](a)\n  - x | r | x@2", "2 entities with that text"),
        ("entities: a\nrelations: r\n[x](a) [y](a)\n  - x | q | y", "offered relation"),
        ("relations: r\n", "'entities:' header"),
    ):
        with pytest.raises(build.SourceError, match=why):
            build.parse_source(bad, "t")
