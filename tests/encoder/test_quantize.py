"""int8 inference (`--quantize int8`), length-bucketed batches and the inference-only head paths,
on the tiny random encoder (CPU, deterministic)."""

from __future__ import annotations

import random

import pytest
import torch
from support.tiny_encoder import tiny_encoder

from hybrid_ie.encoder import EncoderLoadError, JointEncoder
from hybrid_ie.encoder.inputs import InputBuilder
from hybrid_ie.encoder.quantize import Int8Linear, QuantizeError, check_device, quantize_linears
from hybrid_ie.encoder.windowed import SpanEncoder, length_batches
from hybrid_ie.schema import load_schema

CONLL = load_schema("conll04")
TEXTS = [
    "Ada Lovelace worked with Charles Babbage in London .",
    "",
    "Tiny.",
    "Mary Jones of Acme Corp met Bill Gates in Seattle on Monday after the board of Microsoft voted .",
]


def flat(doc):
    ents = doc.entity_map()
    return (
        [(e.start, e.end, e.label) for e in doc.entities],
        [(ents[r.head].span, ents[r.tail].span, r.label) for r in doc.relations],
        [(c["start"], c["end"], c["label"]) for c in doc.meta["encoder"]["candidates"]],
    )


def scores(doc):
    return [e.score for e in doc.entities] + [r.score for r in doc.relations]


@pytest.fixture(scope="module")
def fp32():
    return tiny_encoder(seed=0)


@pytest.fixture(scope="module")
def int8():
    return tiny_encoder(seed=0).quantize("int8")


def test_int8_linear_is_close_to_fp32_and_exact_in_integers():
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48)
    x = torch.randn(3, 7, 64)
    q = Int8Linear(linear)
    out = q(x)
    assert out.shape == (3, 7, 48)
    ref = linear(x)
    assert (out - ref).abs().max() < 0.02 * ref.abs().max()
    # The same thing spelled out: per-row and per-channel scales, integer product.
    rows = x.reshape(-1, 64)
    sx = rows.abs().amax(1, keepdim=True) / 127
    sw = linear.weight.abs().amax(1) / 127
    qx = torch.round(rows / sx)
    qw = torch.round(linear.weight / sw.unsqueeze(1))
    manual = (qx @ qw.T) * sx * sw + linear.bias
    assert torch.allclose(out.reshape(-1, 48), manual.detach(), atol=1e-5)


def test_quantize_replaces_linears_but_the_first_backbone_layer(fp32):
    model = tiny_encoder(seed=0).model
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in model.modules())
    replaced = quantize_linears(model)
    kept = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    assert replaced == n_linear - len(kept) and replaced > 0
    assert kept and all(n.startswith("backbone.encoder.layer.0.") for n in kept)
    assert isinstance(model.pair_mlp[0], Int8Linear)


def test_int8_predictions_keep_the_format_and_stay_near_fp32(fp32, int8):
    assert int8.quantization == "int8" and fp32.quantization == "none"
    ids = [f"t{i}" for i in range(len(TEXTS))]
    docs = int8.predict(TEXTS, CONLL, ids=ids, threshold=0.45, relation_threshold=0.45)
    assert [d.id for d in docs] == ids
    assert any(d.entities for d in docs) and any(d.relations for d in docs)
    for doc, text in zip(docs, TEXTS, strict=True):
        assert doc.text == text
        for e in doc.entities:
            assert text[e.start : e.end] == e.text and e.label in CONLL.entity_labels
            assert e.source == "encoder" and 0.0 <= e.score <= 1.0
        for c in doc.meta["encoder"]["candidates"]:
            assert text[c["start"] : c["end"]] == c["text"]
    again = int8.predict(TEXTS, CONLL, ids=ids, threshold=0.45, relation_threshold=0.45)
    assert [flat(d) for d in again] == [flat(d) for d in docs] and [scores(d) for d in again] == [scores(d) for d in docs]
    # Scores of the spans both keep differ by quantisation error only.
    ref = fp32.predict(TEXTS, CONLL, ids=ids, threshold=0.3, relation_threshold=2.0)
    got = int8.predict(TEXTS, CONLL, ids=ids, threshold=0.3, relation_threshold=2.0)
    pairs = [(a.score, b.score) for x, y in zip(ref, got, strict=True)
             for a in x.entities for b in y.entities if a.span == b.span and a.label == b.label]  # fmt: skip
    assert len(pairs) >= 5
    assert max(abs(a - b) for a, b in pairs) < 0.05


def test_quantize_refuses_bad_modes_cuda_other_backends_and_saving(fp32, int8, tmp_path):
    with pytest.raises(QuantizeError, match="unknown quantize mode 'int4'"):
        fp32.quantize("int4")
    with pytest.raises(QuantizeError, match="unknown quantize mode"):
        JointEncoder.from_pretrained(tmp_path / "nowhere", quantize="fp8")
    with pytest.raises(QuantizeError, match="CPU path.*cuda.*bf16"):
        check_device(torch.device("cuda"), "joint")
    on_gpu = tiny_encoder(seed=1)
    on_gpu.device = torch.device("cuda")  # refused before anything runs on it
    with pytest.raises(QuantizeError, match="CPU path"):
        on_gpu.quantize("int8")
    assert on_gpu.quantization == "none"
    other = SpanEncoder()  # what GlinerEncoder inherits
    other.backend = "gliner"
    with pytest.raises(QuantizeError, match="gliner encoder backend does not support --quantize int8"):
        other.quantize("int8")
    assert other.quantize("none") is other
    with pytest.raises(EncoderLoadError, match="quantised to int8 cannot be saved"):
        int8.save_pretrained(tmp_path / "q")


def test_from_pretrained_quantizes(tmp_path):
    path = tiny_encoder(seed=0).save_pretrained(tmp_path / "ckpt")
    loaded = JointEncoder.from_pretrained(path, device="cpu", quantize="int8")
    assert loaded.quantization == "int8"
    assert any(isinstance(m, Int8Linear) for m in loaded.model.modules())


def test_length_batches():
    lengths = [10, 10, 11, 12, 30, 31, 100]
    batches = length_batches(lengths, 3)
    assert [i for b in batches for i in b] == list(range(len(lengths)))
    assert all(len(b) <= 3 for b in batches)
    assert batches == [[0, 1], [2, 3], [4, 5], [6]]  # 3 x 11 would pad 33 > 1.05 x 31 tokens
    assert length_batches(lengths, 100, slack=10.0) == [list(range(7))]
    assert length_batches([], 4) == []


def test_bucketed_batches_keep_input_order_and_equal_one_by_one(fp32):
    rng = random.Random(0)
    texts = [" ".join(rng.choice(["Paris", "Acme", "John", "works", "for", "in", "the", "Smith", "."])
                      for _ in range(rng.randint(1, 40))) for _ in range(30)]  # fmt: skip
    ids = [f"r{i}" for i in range(len(texts))]
    batched = fp32.predict(texts, CONLL, ids=ids, batch_size=8, threshold=0.45, relation_threshold=0.45)
    single = fp32.predict(texts, CONLL, ids=ids, batch_size=1, threshold=0.45, relation_threshold=0.45)
    assert [d.id for d in batched] == ids and [d.text for d in batched] == texts
    assert [flat(d) for d in batched] == [flat(d) for d in single]
    for a, b in zip(batched, single, strict=True):
        assert scores(a) == pytest.approx(scores(b), abs=1e-5)


def test_inference_heads_equal_the_dense_ones(fp32):
    model = fp32.model
    words = torch.randn(2, 9, 32)
    word_mask = torch.tensor([[True] * 9, [True] * 4 + [False] * 5])
    with torch.inference_mode():
        dense, mask = model.span_vectors(words, word_mask)
        sparse, mask2 = model.span_vectors(words, word_mask, valid_only=True)
        assert torch.equal(mask, mask2)
        assert torch.allclose(dense[mask], sparse[mask], atol=1e-6)
        assert not sparse[~mask].any()
        heads = torch.tensor([[[0, 1], [3, 3], [5, 6]], [[0, 0], [2, 3], [0, 0]]])
        tails = torch.tensor([[[3, 3], [0, 1], [8, 8]], [[2, 3], [0, 0], [0, 0]]])
        labels = torch.randn(2, 3, 32)
        pair_mask = torch.tensor([[True, True, True], [True, True, False]])
        full = model.relation_logits(words, word_mask, dense, heads, tails, labels)
        packed = model.relation_logits(words, word_mask, sparse, heads, tails, labels, pair_mask=pair_mask)
        assert torch.allclose(full[pair_mask], packed[pair_mask], atol=1e-5)


def test_bf16_autocast_path_runs_on_cpu():
    """The dtype mix CUDA runs (bf16 autocast), exercised on CPU so no GPU is needed."""
    encoder = tiny_encoder(seed=0)
    encoder.precision = "bf16"
    docs = encoder.predict(TEXTS, CONLL, threshold=0.45, relation_threshold=0.45)
    assert len(docs) == len(TEXTS)
    for doc, text in zip(docs, TEXTS, strict=True):
        for e in doc.entities:
            assert text[e.start : e.end] == e.text and 0.0 <= e.score <= 1.0


def test_word_piece_cache_matches_the_tokenizer(fp32, monkeypatch):
    builder = InputBuilder(fp32.tokenizer)
    words = ["Cupertino", "the", "\u200b", "Cupertino", "xylophonist"]
    plain = [p or [fp32.tokenizer.unk_token_id] for p in fp32.tokenizer(words, add_special_tokens=False)["input_ids"]]
    assert builder.word_piece_ids(words) == plain
    assert builder.word_piece_ids(words[::-1]) == plain[::-1]
    monkeypatch.setattr("hybrid_ie.encoder.inputs.WORD_CACHE_SIZE", 3)
    assert builder.word_piece_ids(words) == plain  # the cache overflows, is cleared, refilled
    assert len(builder._word_cache) == 4
