"""Weight storage of a checkpoint (fp32 / fp16 / int8 groups, and the earlier int8 rows that is
still read): what is written, that it survives a round trip through the file, and that loading
each rebuilds fp32 weights the encoder predicts with."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from support.tiny_encoder import tiny_encoder

from hybrid_ie.checkpoints.storage import (
    GROUP_SIZE,
    MIN_INT8_VALUES,
    ROW_SCALE_SUFFIX,
    SCALE_SUFFIX,
    STORAGE_METADATA_KEY,
    dequantize_groups,
    pack,
    unpack,
)
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.schema import load_schema

TEXTS = ["Steve Jobs founded Apple in Cupertino , California .", "John Smith lives in London ."]
WORDS = "backbone.embeddings.word_embeddings.weight"


def _state() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    big = torch.randn(300, 256, generator=gen)
    big[0, 5] = 40.0  # an outlier: only its own group's scale may grow
    return {"big": big, "odd": torch.randn(1000, 96, generator=gen), "uneven": torch.randn(5000, 20, generator=gen),
            "small": torch.randn(4, 8, generator=gen), "bias": torch.randn(300, generator=gen),
            "ids": torch.arange(5)}  # fmt: skip


def test_int8_stores_large_matrices_with_one_fp16_scale_per_group():
    state = _state()
    stored = pack(state, "int8")
    assert stored["big"].dtype == torch.int8 and stored["big"].shape == (300, 256)
    scale = stored["big" + SCALE_SUFFIX]
    assert scale.dtype == torch.float16 and scale.shape == (300, 256 // GROUP_SIZE)
    assert stored["odd" + SCALE_SUFFIX].shape == (1000, 96 // GROUP_SIZE)
    # rows the group size does not divide, small matrices and vectors stay fp16; ints as they are
    for name in ("uneven", "small", "bias"):
        assert stored[name].dtype == torch.float16 and name + SCALE_SUFFIX not in stored
    assert stored["ids"].dtype == torch.int64 and torch.equal(stored["ids"], state["ids"])
    assert 300 * 256 >= MIN_INT8_VALUES
    back = unpack(stored)
    assert set(back) == set(state) and all(v.dtype == torch.float32 for k, v in back.items() if k != "ids")
    groups = state["big"].reshape(300, -1, GROUP_SIZE)
    step = groups.abs().amax(dim=2, keepdim=True) / 127
    error = (back["big"].reshape(300, -1, GROUP_SIZE) - groups).abs()
    assert (error <= step * 0.502 + 1e-7).all()  # half a step of its group's scale (+ fp16 rounding)
    assert error[0, 1:].max() < 0.02  # the outlier widened only its own group
    with pytest.raises(ValueError, match="unknown weight storage 'int4'"):
        pack(state, "int4")


def test_round_trip_through_the_file_is_exact_and_restoring_int8_is_stable(tmp_path):
    state = _state()
    for storage in ("fp32", "fp16", "int8"):
        stored = pack(state, storage)
        save_file(stored, str(tmp_path / f"{storage}.safetensors"))
        read = load_file(str(tmp_path / f"{storage}.safetensors"))
        assert all(torch.equal(read[k], v) for k, v in stored.items()) and read.keys() == stored.keys()
    assert torch.equal(unpack(pack(state, "fp32"))["big"], state["big"])
    once = pack(state, "int8")
    twice = pack(unpack(once), "int8")  # re-saving an int8 checkpoint does not drift
    assert all(torch.equal(once[k], twice[k]) for k in once)


def test_the_earlier_row_layout_and_malformed_scales():
    values = torch.randint(-127, 128, (6, 96), dtype=torch.int8)
    scale = torch.rand(6, 1) + 0.1
    back = unpack({"w": values, "w" + ROW_SCALE_SUFFIX: scale})
    assert set(back) == {"w"} and torch.equal(back["w"], values.float() * scale)
    with pytest.raises(ValueError, match=r"int8 scale of shape \(6, 5\) does not fit values of shape \(6, 96\)"):
        dequantize_groups(values, torch.ones(6, 5))


def _write_rows(encoder: JointEncoder, path):
    """A checkpoint in the earlier int8 layout: one fp32 scale per row of each large matrix."""
    stored = {}
    for name, value in encoder.model.state_dict().items():
        if value.dim() == 2 and value.numel() >= MIN_INT8_VALUES:
            scale = value.abs().amax(dim=1, keepdim=True) / 127
            stored[name], stored[name + ROW_SCALE_SUFFIX] = torch.round(value / scale).to(torch.int8), scale
        else:
            stored[name] = value.half() if value.is_floating_point() else value
    save_file(stored, str(path / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize("storage", ["fp32", "fp16", "int8", "int8-rows"])
def test_each_storage_loads_back_and_predicts_like_the_original(tmp_path, storage):
    enc = tiny_encoder(seed=0)
    path = enc.save_pretrained(tmp_path / storage, storage=storage.removesuffix("-rows"))
    if storage == "int8-rows":
        _write_rows(enc, path)
    written = load_file(str(path / "model.safetensors"))
    expected = {"fp32": torch.float32, "fp16": torch.float16}.get(storage, torch.int8)
    assert written[WORDS].dtype == expected  # the tiny word embeddings are 32 wide
    if storage == "int8":
        assert written[WORDS + SCALE_SUFFIX].shape == (written[WORDS].shape[0], 32 // GROUP_SIZE)
    loaded = JointEncoder.from_pretrained(path, device="cpu")
    for name, value in loaded.model.state_dict().items():
        assert value.dtype == enc.model.state_dict()[name].dtype  # fp32 again on CPU
        if storage == "fp32":
            assert torch.equal(value, enc.model.state_dict()[name])
    schema = load_schema("conll04")
    ours = loaded.predict(TEXTS, schema, threshold=0.45)
    theirs = enc.predict(TEXTS, schema, threshold=0.45)
    for a, b in zip(ours, theirs, strict=True):
        assert [(e.start, e.end, e.label) for e in a.entities] == [(e.start, e.end, e.label) for e in b.entities]
        assert all(abs(x.score - y.score) < 0.02 for x, y in zip(a.entities, b.entities, strict=True))


def test_the_storage_is_recorded_in_the_file_metadata(tmp_path):
    from safetensors import safe_open

    path = tiny_encoder(seed=0).save_pretrained(tmp_path / "int8", storage="int8")
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert f.metadata() == {"format": "pt", STORAGE_METADATA_KEY: "int8"}
