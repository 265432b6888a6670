"""Weight storage of a checkpoint (fp32 / fp16 / int8 rows): what is written, and that loading
rebuilds fp32 weights the encoder predicts with."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from support.tiny_encoder import tiny_encoder

from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.storage import MIN_INT8_VALUES, SCALE_SUFFIX, pack, unpack
from hybrid_ie.schema import load_schema

TEXTS = ["Steve Jobs founded Apple in Cupertino , California .", "John Smith lives in London ."]


def test_int8_rows_store_large_matrices_with_one_scale_per_row():
    state = {"big": torch.randn(300, 256), "small": torch.randn(4, 8), "bias": torch.randn(300),
             "ids": torch.arange(5)}  # fmt: skip
    stored = pack(state, "int8")
    assert stored["big"].dtype == torch.int8 and stored["big" + SCALE_SUFFIX].shape == (300, 1)
    assert stored["small"].dtype == torch.float16 and stored["bias"].dtype == torch.float16
    assert stored["ids"].dtype == torch.int64 and "small" + SCALE_SUFFIX not in stored
    back = unpack(stored)
    assert set(back) == set(state) and all(v.dtype == torch.float32 for k, v in back.items() if k != "ids")
    row_max = state["big"].abs().amax(dim=1, keepdim=True)
    assert ((back["big"] - state["big"]).abs() <= row_max / 254 + 1e-6).all()  # half a step of the row's scale
    assert 300 * 256 >= MIN_INT8_VALUES
    assert torch.equal(unpack(pack(state, "fp32"))["big"], state["big"])
    with pytest.raises(ValueError, match="unknown weight storage 'int4'"):
        pack(state, "int4")


@pytest.mark.parametrize("storage", ["fp16", "int8"])
def test_saved_storage_loads_back_and_predicts_like_the_original(tmp_path, storage):
    enc = tiny_encoder(seed=0)
    path = enc.save_pretrained(tmp_path / storage, storage=storage)
    written = load_file(str(path / "model.safetensors"))
    big = "backbone.embeddings.word_embeddings.weight"
    assert written[big].dtype == (torch.int8 if storage == "int8" else torch.float16)
    loaded = JointEncoder.from_pretrained(path, device="cpu")
    for name, value in loaded.model.state_dict().items():
        assert value.dtype == enc.model.state_dict()[name].dtype  # fp32 again on CPU
    schema = load_schema("conll04")
    ours = loaded.predict(TEXTS, schema, threshold=0.45)
    theirs = enc.predict(TEXTS, schema, threshold=0.45)
    for a, b in zip(ours, theirs, strict=True):
        assert [(e.start, e.end, e.label) for e in a.entities] == [(e.start, e.end, e.label) for e in b.entities]
        assert all(abs(x.score - y.score) < 0.02 for x, y in zip(a.entities, b.entities, strict=True))
