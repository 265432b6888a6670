"""The spaCy component (hybrid_ie.integrations.spacy) on spacy.blank("en") with the tiny random
encoder: spans and offsets equal the Extractor's Documents, extension values, relations, overlap
and misalignment handling, displacy, nlp.pipe, the entry point, and the missing-extra error.
Skipped when spaCy is not installed (`pip install hybrid-ie[spacy]`), except the error test."""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from support.tiny_encoder import tiny_encoder

from hybrid_ie.document import Document, Relation, make_entity

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "John Smith works for Acme Corp in Boston. He met Mary Jones in Paris last May.",
    "The mayor of Chicago visited IBM headquarters in the U.S. on Monday.",
    "",
    "Nothing happened. Then Peter Brown left Google for Microsoft in Seattle.",
]
OPTIONS = {"threshold": 0.55, "relation_threshold": 0.5}


@pytest.fixture(scope="module")
def hs():
    pytest.importorskip("spacy", reason="spaCy is not installed (pip install hybrid-ie[spacy])")
    return importlib.import_module("hybrid_ie.integrations.spacy")


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


@pytest.fixture(scope="module")
def reference(encoder):
    from hybrid_ie.pipeline import Extractor

    return list(Extractor("conll04", encoder=encoder, mode="encoder", **OPTIONS).extract_many(TEXTS))


@pytest.fixture
def nlp(hs, encoder):
    import spacy

    from hybrid_ie.pipeline import Extractor

    nlp = spacy.blank("en")
    component = nlp.add_pipe("hybrid_ie", config={"schema": "conll04", "mode": "encoder", **OPTIONS})
    component.extractor = Extractor("conll04", encoder=encoder, mode="encoder", **OPTIONS)
    return nlp


def test_missing_spacy_is_one_line_naming_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "spacy" or m.startswith("spacy.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "spacy", None)
    monkeypatch.delitem(sys.modules, "hybrid_ie.integrations.spacy", raising=False)
    with pytest.raises(ImportError) as info:
        importlib.import_module("hybrid_ie.integrations.spacy")
    assert str(info.value) == "the spaCy component needs the optional extra: pip install hybrid-ie[spacy]"


def check_doc(doc, ref: Document, spans_key: str = "hybrid_ie") -> None:
    """The Doc carries exactly `ref`'s entities and relations (offsets, labels, scores)."""
    group = doc.spans[spans_key]
    assert doc._.hybrid_ie == ref
    assert group.attrs["unaligned"] == 0
    misaligned = [e for e in ref.entities if doc.char_span(e.start, e.end) is None]
    assert group.attrs["expanded"] == len(misaligned)
    by_id = {s._.hybrid_ie_entity.id: s for s in group}
    assert sorted(by_id) == sorted(e.id for e in ref.entities)
    for ent in ref.entities:
        span = by_id[ent.id]
        assert (span.label_, span._.score, span._.source) == (ent.label, ent.score, "encoder")
        assert span._.hybrid_ie_entity == ent
        # the smallest run of whole tokens covering the entity; equal where token boundaries agree
        assert span.start_char <= ent.start and span.end_char >= ent.end
        assert doc[span.start].idx < ent.end and doc[span.end - 1].idx + len(doc[span.end - 1]) > ent.start
        if doc.char_span(ent.start, ent.end) is not None:
            assert (span.start_char, span.end_char) == (ent.start, ent.end)
    ents = ref.entity_map()
    got = [(r.head.start_char, r.head.end_char, r.head.label_, r.label, r.tail.start_char, r.tail.end_char,
            r.tail.label_, r.score, r.source) for r in doc._.relations]  # fmt: skip
    want = []
    for rel in ref.relations:
        head, tail = by_id[rel.head], by_id[rel.tail]
        want.append((head.start_char, head.end_char, ents[rel.head].label, rel.label, tail.start_char,
                     tail.end_char, ents[rel.tail].label, rel.score, rel.source))  # fmt: skip
    assert got == want
    if not group.attrs["overlapping"]:
        assert list(doc.ents) == list(group)


def test_component_writes_the_extractors_documents(nlp, reference):
    assert nlp.pipe_names == ["hybrid_ie"]
    assert nlp.config["components"]["hybrid_ie"]["mode"] == "encoder"
    assert sum(len(d.entities) for d in reference) > 5 and sum(len(d.relations) for d in reference) > 0
    expanded = 0
    for text, ref in zip(TEXTS, reference, strict=True):
        doc = nlp(text)
        check_doc(doc, ref.model_copy(update={"id": "doc-0"}))
        expanded += doc.spans["hybrid_ie"].attrs["expanded"]
    assert expanded > 0  # our words "U.S" "." are one spaCy token "U.S.": those spans grew to it


def test_nlp_pipe_is_one_extract_many_stream(nlp, reference):
    component = nlp.get_pipe("hybrid_ie")
    calls = []
    original = component.extractor.extract_many

    def counting(items, batch_size=16):
        calls.append(batch_size)
        return original(items, batch_size=batch_size)

    component.extractor.extract_many = counting
    docs = list(nlp.pipe(TEXTS, batch_size=3))
    assert calls == [3]
    for i, (doc, ref) in enumerate(zip(docs, reference, strict=True)):
        check_doc(doc, ref.model_copy(update={"id": f"doc-{i}"}))


def test_model_path_and_threshold_from_the_config_and_save_load(hs, encoder, tmp_path, reference):
    import spacy

    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    nlp = spacy.blank("en")
    nlp.add_pipe("hybrid_ie", config={"schema": "conll04", "mode": "encoder", "model": str(checkpoint), **OPTIONS})
    for i, doc in enumerate(nlp.pipe(TEXTS[:2])):
        check_doc(doc, reference[i].model_copy(update={"id": f"doc-{i}"}))
    nlp.to_disk(tmp_path / "pipeline")  # the config is enough to rebuild the component
    check_doc(spacy.load(tmp_path / "pipeline")(TEXTS[0]), reference[0].model_copy(update={"id": "doc-0"}))


def overlapping_document(text: str) -> Document:
    def ent(i, piece, label, score, source="encoder", occurrence=0):
        start = text.index(piece) if occurrence == 0 else text.rindex(piece)
        return make_entity(text, start, start + len(piece), label, id=f"T{i}", score=score, source=source)

    gap = text.index("Jane Doe") + 4
    entities = [
        ent(1, "University of Texas at Austin", "Org", 0.93, "both"),
        ent(2, "Texas", "Loc", 0.5, "llm"),  # nested in T1
        ent(3, "Jane Doe", "Peop", 0.97),
        ent(4, "U.S", "Loc", 0.6),  # inside the spaCy token "U.S.": expands to it
        ent(5, "U.S.", "Loc", 0.9, "llm"),  # the same tokens, same label: one span, this one's values
        make_entity(text, gap, gap + 1, "Peop", id="T6", score=0.4, source="encoder"),  # a space: no token
    ]
    relations = [
        Relation(head="T3", tail="T1", label="Work_For", score=0.7, source="both"),
        Relation(head="T1", tail="T4", label="OrgBased_In", score=None, source="llm"),
        Relation(head="T3", tail="T6", label="Kill", score=0.3, source="encoder"),  # names an unaligned one
    ]
    return Document(id="x", text=text, entities=entities, relations=relations)


def test_overlapping_misaligned_and_duplicate_spans(hs):
    import spacy

    nlp = spacy.blank("en")
    text = "The University of Texas at Austin hired Jane Doe in the U.S. last year."
    doc = hs.annotate(nlp(text), overlapping_document(text))
    group = doc.spans["hybrid_ie"]
    assert [(s.text, s.label_) for s in group] == [
        ("University of Texas at Austin", "Org"), ("Texas", "Loc"), ("Jane Doe", "Peop"), ("U.S.", "Loc")
    ]  # fmt: skip
    assert group.attrs == {"overlapping": True, "expanded": 1, "unaligned": 1}
    assert [(s.text, s.label_) for s in doc.ents] == [
        ("University of Texas at Austin", "Org"), ("Jane Doe", "Peop"), ("U.S.", "Loc")
    ]  # fmt: skip
    assert [(s._.score, s._.source) for s in group] == [(0.93, "both"), (0.5, "llm"), (0.97, "encoder"), (0.9, "llm")]
    assert doc.ents[2]._.hybrid_ie_entity.id == "T5"
    rels = [(r.head.text, r.label, r.tail.text, r.tail.label_, r.score, r.source) for r in doc._.relations]
    assert rels == [("Jane Doe", "Work_For", "University of Texas at Austin", "Org", 0.7, "both"),
                    ("University of Texas at Austin", "OrgBased_In", "U.S.", "Loc", None, "llm")]  # fmt: skip
    assert doc._.relations[0].tail == doc.ents[0]
    # set_ents=False leaves doc.ents to other components
    other = nlp(text)
    other.ents = [other.char_span(0, 3, label="X")]
    hs.annotate(other, overlapping_document(text), spans_key="mine", set_ents=False)
    assert [s.label_ for s in other.ents] == ["X"] and len(other.spans["mine"]) == 4
    with pytest.raises(ValueError, match="not the text of this Doc"):
        hs.annotate(nlp("other text"), overlapping_document(text))


def test_extension_values_survive_pickle_and_docbin(hs):
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    text = "The University of Texas at Austin hired Jane Doe in the U.S. last year."
    doc = hs.annotate(nlp(text), overlapping_document(text))
    again = next(iter(DocBin(store_user_data=True, docs=[doc]).get_docs(nlp.vocab)))
    for copy in (pickle.loads(pickle.dumps(doc)), again):
        assert [(s.text, s._.score, s._.source) for s in copy.ents] == [
            (s.text, s._.score, s._.source) for s in doc.ents
        ]
        assert [(r.head.text, r.label, r.tail.text) for r in copy._.relations] == [
            (r.head.text, r.label, r.tail.text) for r in doc._.relations
        ]


def test_displacy_renders_the_labels(hs, nlp):
    from spacy import displacy

    text = "The University of Texas at Austin hired Jane Doe in the U.S. last year."
    doc = hs.annotate(nlp.make_doc(text), overlapping_document(text))
    page = displacy.render(doc, style="ent")
    for span in doc.ents:
        assert span.text in page and span.label_ in page
    spans_page = displacy.render(doc, style="span", options={"spans_key": "hybrid_ie"})
    assert "Texas" in spans_page and ">Loc<" in spans_page.replace("\n", "").replace(" ", "")
    produced = nlp(TEXTS[0])
    assert all(span.label_ in displacy.render(produced, style="ent") for span in produced.ents)


def test_factory_entry_point_and_extra_are_declared(hs, tmp_path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["spacy_factories"] == {"hybrid_ie": "hybrid_ie.integrations.spacy:make_component"}
    assert any(req.startswith("spacy") for req in project["optional-dependencies"]["spacy"])
    # spaCy finds the factory through the entry point alone (a fresh interpreter that never
    # imports hybrid_ie.integrations): metadata as an installed package would have it
    dist = tmp_path / "hybrid_ie_entry_point_test-0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: hybrid-ie-entry-point-test\nVersion: 0.0\n")
    (dist / "entry_points.txt").write_text("[spacy_factories]\nhybrid_ie = hybrid_ie.integrations.spacy:make_component\n")
    code = (
        "import sys, spacy\n"
        "assert 'hybrid_ie.integrations.spacy' not in sys.modules\n"
        "nlp = spacy.blank('en')\n"
        "pipe = nlp.add_pipe('hybrid_ie', config={'schema': 'conll04'})\n"
        "print(type(pipe).__name__, nlp.pipe_names)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "HybridIEComponent ['hybrid_ie']"


def test_a_saved_pipeline_carries_its_schema_file_and_loads_from_another_folder(hs, encoder, tmp_path, monkeypatch):
    """The schema is given as a path relative to the working folder; the saved pipeline holds the
    schema's content, so it loads from another folder (and after the file is gone)."""
    import json

    import spacy

    home, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    schema = {"name": "clinical", "entity_types": [{"name": "drug", "description": "a medication"},
                                                   {"name": "disease", "description": "an illness"}],
              "relation_types": [{"name": "treats", "description": "drug treats disease"}]}  # fmt: skip
    (home / "clinical.json").write_text(json.dumps(schema), encoding="utf-8")
    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    monkeypatch.chdir(home)
    nlp = spacy.blank("en")
    nlp.add_pipe("hybrid_ie", config={"schema": "clinical.json", "mode": "encoder", "model": str(checkpoint)})
    expected = nlp("Aspirin treats headache in Boston.")
    nlp.to_disk(tmp_path / "pipeline")
    (home / "clinical.json").unlink()
    monkeypatch.chdir(elsewhere)
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("hybrid_ie").extractor.schema.to_dict() == hs.build_extractor(schema).schema.to_dict()
    doc = loaded("Aspirin treats headache in Boston.")
    assert [(s.start_char, s.end_char, s.label_) for s in doc.spans["hybrid_ie"]] == [
        (s.start_char, s.end_char, s.label_) for s in expected.spans["hybrid_ie"]
    ]


def test_labels_or_the_schema_itself_in_the_config(hs, encoder, tmp_path):
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("hybrid_ie", config={"schema": ["person", "city"], "mode": "encoder"})
    assert nlp.get_pipe("hybrid_ie").extractor.schema.entity_labels == ["person", "city"]
    nlp.to_disk(tmp_path / "p")
    assert spacy.load(tmp_path / "p").get_pipe("hybrid_ie").extractor.schema.entity_labels == ["person", "city"]
    inline = {"name": "x", "entity_types": [{"name": "drug", "description": "a drug"}], "relation_types": []}
    nlp2 = spacy.blank("en")
    nlp2.add_pipe("hybrid_ie", config={"schema": inline, "mode": "encoder"})
    assert nlp2.get_pipe("hybrid_ie").extractor.schema.name == "x"


def test_a_missing_schema_is_raised_on_use_not_hidden(hs):
    import spacy

    from hybrid_ie.errors import SchemaError

    nlp = spacy.blank("en")
    nlp.add_pipe("hybrid_ie", config={"schema": "no-such-schema.json", "mode": "encoder"})
    with pytest.raises(SchemaError, match="no-such-schema.json"):
        nlp("A text.")


def test_the_default_mode_is_the_extractors_auto(hs, encoder, tmp_path, monkeypatch):
    """No mode in the config: the component runs as `hybrid_ie.extract` and `hybrid-ie extract` do
    by default: hybrid where an LLM is configured (a loopback server here), else the encoder."""
    import spacy
    from support.llm_server import LLMServer

    from hybrid_ie.pipeline import extractor_defaults

    for name in [n for n in os.environ if n.upper().startswith("HYBRID_IE_LLM_")]:
        monkeypatch.delenv(name)
    checkpoint = str(encoder.save_pretrained(tmp_path / "ckpt"))

    def mode_of_a_fresh_pipeline() -> str:
        nlp = spacy.blank("en")
        nlp.add_pipe("hybrid_ie", config={"model": checkpoint})
        assert nlp.config["components"]["hybrid_ie"]["mode"] == extractor_defaults()["mode"]
        doc = nlp("John Smith works for Acme Corp in Boston.")
        assert nlp.get_pipe("hybrid_ie").extractor.mode == doc._.hybrid_ie.meta["pipeline"]["mode"]
        return doc._.hybrid_ie.meta["pipeline"]["mode"]

    monkeypatch.setenv("HYBRID_IE_LLM_BACKEND", "local")
    monkeypatch.setenv("HYBRID_IE_LLM_MODEL", str(tmp_path / "absent.gguf"))
    assert mode_of_a_fresh_pipeline() == "encoder"
    with LLMServer() as server:
        monkeypatch.setenv("HYBRID_IE_LLM_BACKEND", "openai")
        monkeypatch.setenv("HYBRID_IE_LLM_MODEL", "test-model")
        monkeypatch.setenv("HYBRID_IE_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("HYBRID_IE_LLM_CACHE", "false")
        assert mode_of_a_fresh_pipeline() == "hybrid"
