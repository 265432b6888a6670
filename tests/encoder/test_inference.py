import pytest
import torch
from support.tiny_encoder import tiny_encoder

from hybrid_ie.encoder import EncoderLoadError, JointEncoder
from hybrid_ie.schema import Schema, load_schema

CONLL = load_schema("conll04")
TEXTS = [
    "Steve Jobs founded Apple in Cupertino , California .",
    "John Smith , a reporter for The Times , lives in London .",
    "",
    "Short.",
]


def as_tuples(doc):
    ents = doc.entity_map()
    return (
        [(e.start, e.end, e.text, e.label, round(e.score, 5)) for e in doc.entities],
        [(ents[r.head].span, ents[r.tail].span, r.label, round(r.score, 5)) for r in doc.relations],
    )


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


def test_predict_returns_valid_documents(encoder):
    docs = encoder.predict(TEXTS, CONLL, ids=["a", "b", "c", "d"], threshold=0.45, relation_threshold=0.45)
    assert [d.id for d in docs] == ["a", "b", "c", "d"]
    assert docs[2].entities == [] and docs[2].relations == []
    assert any(d.entities for d in docs)
    for doc, text in zip(docs, TEXTS, strict=True):
        assert doc.text == text
        for e in doc.entities:
            assert text[e.start : e.end] == e.text
            assert e.source == "encoder" and 0.0 <= e.score <= 1.0
            assert e.label in CONLL.entity_labels
        ent = doc.entity_map()
        for r in doc.relations:
            assert r.source == "encoder" and 0.0 <= r.score <= 1.0
            assert CONLL.allows(r.label, ent[r.head].label, ent[r.tail].label)
        meta = doc.meta["encoder"]
        assert meta["threshold"] == 0.45 and meta["relation_threshold"] == 0.45
        assert meta["backend"] == "joint"
        for c in meta["candidates"]:
            assert text[c["start"] : c["end"]] == c["text"]
            assert c["score"] >= 0.1


def test_candidates_sit_between_floor_and_threshold(encoder):
    (doc,) = encoder.predict(TEXTS[:1], CONLL, threshold=0.52, candidate_floor=0.4)
    outputs = {(e.start, e.end) for e in doc.entities}
    for c in doc.meta["encoder"]["candidates"]:
        assert 0.4 <= c["score"] < 0.52 or (c["start"], c["end"]) not in outputs or c["score"] >= 0.52
    assert doc.meta["encoder"]["windows"] == 1


def test_flat_output_has_no_overlaps_and_nested_no_crossings(encoder):
    for nested in (False, True):
        (doc,) = encoder.predict(TEXTS[1:2], CONLL, threshold=0.3, nested=nested)
        spans = [e.span for e in doc.entities]
        for i, a in enumerate(spans):
            for b in spans[i + 1 :]:
                overlap = a[0] < b[1] and b[0] < a[1]
                contained = (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])
                assert not overlap or (nested and contained and a != b)


def test_predict_is_deterministic(encoder):
    first = [as_tuples(d) for d in encoder.predict(TEXTS, CONLL, threshold=0.45)]
    second = [as_tuples(d) for d in encoder.predict(TEXTS, CONLL, threshold=0.45, batch_size=1)]
    assert first == second
    other = tiny_encoder(seed=0)
    assert [as_tuples(d) for d in other.predict(TEXTS, CONLL, threshold=0.45)] == first


def test_save_and_load_round_trip(tmp_path, encoder):
    encoder.save_pretrained(tmp_path / "ckpt")
    loaded = JointEncoder.from_pretrained(tmp_path / "ckpt", device="cpu")
    assert loaded.known_labels == encoder.known_labels == {"person", "location"}
    before = [as_tuples(d) for d in encoder.predict(TEXTS, CONLL, threshold=0.45)]
    after = [as_tuples(d) for d in loaded.predict(TEXTS, CONLL, threshold=0.45)]
    assert before == after
    for name, tensor in encoder.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name]), name


def test_a_checkpoint_on_another_backbone_architecture_loads_as_that_architecture(tmp_path):
    # all-mpnet-base-v2 checkpoints were rebuilt as BERT on load (and refused: weight names differ)
    mpnet = tiny_encoder(seed=3, architecture="mpnet")
    assert type(mpnet.model.backbone).__name__ == "MPNetModel"
    mpnet.save_pretrained(tmp_path / "mpnet")
    loaded = JointEncoder.from_pretrained(tmp_path / "mpnet", device="cpu")
    assert type(loaded.model.backbone).__name__ == "MPNetModel"
    before = [as_tuples(d) for d in mpnet.predict(TEXTS, CONLL, threshold=0.45)]
    assert before == [as_tuples(d) for d in loaded.predict(TEXTS, CONLL, threshold=0.45)]
    assert any(before)


def test_half_precision_checkpoint_loads_close(tmp_path, encoder):
    encoder.save_pretrained(tmp_path / "half", half=True)
    loaded = JointEncoder.from_pretrained(tmp_path / "half", device="cpu")
    a = encoder.predict(TEXTS[:2], CONLL, threshold=0.0, candidate_floor=0.0)
    b = loaded.predict(TEXTS[:2], CONLL, threshold=0.0, candidate_floor=0.0)
    sa = sorted(c["score"] for d in a for c in d.meta["encoder"]["candidates"])
    sb = sorted(c["score"] for d in b for c in d.meta["encoder"]["candidates"])
    assert len(sa) == len(sb) and max(abs(x - y) for x, y in zip(sa, sb, strict=True)) < 0.02


def test_long_text_gives_the_same_entities_as_its_windows():
    enc = tiny_encoder(seed=1)
    pieces = ["Alice Cooper met Bob in Paris and Rome .", "Carol Ann works at Acme Corp in Berlin ."]
    words = len(pieces[0].split())
    assert words == len(pieces[1].split())
    enc.max_window_words, enc.window_stride = words, words  # windows = the pieces exactly
    long_text = " ".join(pieces)
    (long_doc,) = enc.predict([long_text], CONLL, threshold=0.4)
    assert long_doc.meta["encoder"]["windows"] == 2
    piece_docs = enc.predict(pieces, CONLL, threshold=0.4)
    expected, offset = [], 0
    for piece, doc in zip(pieces, piece_docs, strict=True):
        expected += [(e.start + offset, e.end + offset, e.label, round(e.score, 5)) for e in doc.entities]
        offset += len(piece) + 1
    got = [(e.start, e.end, e.label, round(e.score, 5)) for e in long_doc.entities]
    assert got == expected
    for e in long_doc.entities:
        assert long_text[e.start : e.end] == e.text


def test_overlapping_windows_keep_global_offsets_and_drop_nothing():
    enc = tiny_encoder(seed=2, max_length=40)  # forces windows smaller than asked
    text = " ".join(f"Word{i} is here ." for i in range(60))
    (doc,) = enc.predict([text], CONLL, threshold=0.3)
    assert doc.meta["encoder"]["windows"] > 1
    assert doc.entities
    assert max(e.end for e in doc.entities) > len(text) // 2  # the end of the text was read
    for e in doc.entities:
        assert text[e.start : e.end] == e.text


def test_schema_without_relations_and_prompts_that_do_not_fit():
    enc = tiny_encoder(seed=0, max_length=20)
    docs = enc.predict(["Ann lives in Oslo ."], Schema.from_labels(["person"]), threshold=0.3)
    assert docs[0].relations == []
    huge = Schema.from_labels([f"label number {i}" for i in range(10)])  # past the input: label groups
    out = enc.predict(["Ann lives in Oslo ."], huge)
    assert len(out) == 1 and all(e.label in huge.entity_labels for e in out[0].entities)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderLoadError, match="missing config.json"):
        JointEncoder.from_pretrained(tmp_path)
    with pytest.raises(EncoderLoadError, match="not a local folder"):
        JointEncoder.from_pretrained("no-such-org/no-such-model")
