"""The joint entity/relation network (GLiNER-Relex design); its configuration is the
checkpoint's `EncoderConfig` (`hybrid_ie.checkpoints.config`).

A BERT backbone reads `[ENT] label ... [REL] label ... [SEP] words`. Entity label embeddings are
the hidden states at the `[ENT]` markers, relation label embeddings those at `[REL]`. Words are
their first sub-token state plus a word-shape embedding (case signal for the uncased backbone).

* span (i, j), width j-i < max_width: MLP([word_i; word_j; width_emb]) -> span vector, with
  the first layer split per part (A word_i + B word_j + width_k) so it runs per word, not per
  span; entity logit = span . MLP(entity label) + bias.
* ordered pair of spans (h, t): MLP([span_h; span_t; mean of the words between them]) -> pair
  vector; relation logit = pair . MLP(relation label) + bias.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AutoConfig, AutoModel

from hybrid_ie.checkpoints.config import EncoderConfig
from hybrid_ie.encoder.inputs import SHAPES


def center_label_logits(logits: torch.Tensor, mask: torch.Tensor, strength: float) -> torch.Tensor:
    """Correct each label's bias in one text (contextual calibration, Zhao et al. 2021, applied
    to spans): `logits` [B, N, K, L] of the valid spans `mask` [B, N, K]; every label's logits
    are lowered by `strength` x (the label's mean logit over the text's valid spans - the mean
    of those means over the labels). A label that scores high on every span (an unseen, vague
    label such as "measure type" in a lab protocol) is a label this text does not single out
    spans for; a label that peaks on a few spans keeps them. The mean level is unchanged."""
    if not strength:
        return logits
    weights = mask.unsqueeze(-1).to(logits.dtype)
    count = weights.sum((1, 2)).clamp(min=1.0)  # [B, 1]
    means = (logits * weights).sum((1, 2)) / count  # [B, L]
    offset = means - means.mean(-1, keepdim=True)
    return logits - strength * offset[:, None, None, :]


def _mlp(d_in: int, d_hidden: int, d_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_hidden, d_out))


def backbone_from_config(backbone_config: dict[str, Any]) -> nn.Module:
    """An untrained backbone of the architecture the config names (`model_type`: bert for
    MiniLM, mpnet for all-mpnet-base-v2, ...); its weights come from the checkpoint."""
    cfg = dict(backbone_config)
    model_type = cfg.pop("model_type", "bert")
    return AutoModel.from_config(AutoConfig.for_model(model_type, **cfg))


class JointEncoderModel(nn.Module):
    """Backbone + span, pair and label heads. Pure tensors in, logits out."""

    def __init__(self, config: EncoderConfig, backbone: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.backbone = backbone if backbone is not None else backbone_from_config(config.backbone_config)
        d = self.backbone.config.hidden_size
        self.hidden_size = d
        p = config.dropout
        self.dropout = nn.Dropout(p)
        self.shape_embedding = nn.Embedding(len(SHAPES), d, padding_idx=0)
        nn.init.normal_(self.shape_embedding.weight, std=0.02)
        self.word_norm = nn.LayerNorm(d)
        # span MLP: first layer split into start / end / width parts, then GELU -> Linear
        self.span_start = nn.Linear(d, d)
        self.span_end = nn.Linear(d, d, bias=False)
        self.width_embedding = nn.Embedding(config.max_width, d)
        self.span_out = nn.Sequential(nn.GELU(), nn.Dropout(p), nn.Linear(d, d))
        self.entity_label_mlp = _mlp(d, 2 * d, d, p)
        self.pair_mlp = _mlp(3 * d, 2 * d, d, p)
        self.relation_label_mlp = _mlp(d, 2 * d, d, p)
        # Start with low scores: almost every (span, label) is negative.
        self.entity_bias = nn.Parameter(torch.tensor(-4.0))
        self.relation_bias = nn.Parameter(torch.tensor(-4.0))

    # -- encoding -----------------------------------------------------------------------------
    def encode(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Run the backbone; return word states and the label embeddings."""
        hidden = self.backbone(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
        d = hidden.size(-1)

        def gather(positions: torch.Tensor) -> torch.Tensor:
            return hidden.gather(1, positions.unsqueeze(-1).expand(-1, -1, d))

        words = gather(batch["word_positions"])
        if self.config.use_shape:
            words = words + self.shape_embedding(batch["word_shapes"])
        words = self.word_norm(words) * batch["word_mask"].unsqueeze(-1)
        return {
            "words": words,
            "word_mask": batch["word_mask"],
            "entity_labels": self.entity_label_mlp(gather(batch["entity_marker_positions"])),
            "entity_label_mask": batch["entity_label_mask"],
            "relation_labels": self.relation_label_mlp(gather(batch["relation_marker_positions"])),
            "relation_label_mask": batch["relation_label_mask"],
        }

    # -- entities ------------------------------------------------------------------------------
    def span_vectors(
        self, words: torch.Tensor, word_mask: torch.Tensor, *, valid_only: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """All spans up to max_width: vectors [B, N, K, d] and validity mask [B, N, K].

        `valid_only` (inference) runs the span MLP on the valid spans only and leaves zeros at
        padding and past-the-end positions: the same vectors where the mask is True, less work."""
        b, n, d = words.shape
        k = self.config.max_width
        device = words.device
        starts = torch.arange(n, device=device).unsqueeze(1)  # [N, 1]
        widths = torch.arange(k, device=device).unsqueeze(0)  # [1, K]
        ends = starts + widths  # [N, K]
        lengths = word_mask.sum(1)  # [B]
        mask = ends.unsqueeze(0) < lengths.view(b, 1, 1)  # [B, N, K]
        ends_clamped = ends.clamp(max=n - 1)
        words = self.dropout(words)
        start_part = self.span_start(words).unsqueeze(2)  # [B, N, 1, d]
        end_part = self.span_end(words)
        end_part = end_part.gather(1, ends_clamped.reshape(1, n * k, 1).expand(b, n * k, d)).view(b, n, k, d)
        pre = start_part + end_part + self.width_embedding(widths).unsqueeze(0)
        if not valid_only:
            return self.span_out(pre), mask
        valid = self.span_out(pre[mask])
        spans = valid.new_zeros(b, n, k, valid.size(-1))
        spans[mask] = valid
        return spans, mask

    def entity_logits(self, spans: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """[B, N, K, d] x [B, L, d] -> [B, N, K, L]."""
        return torch.einsum("bnkd,bld->bnkl", spans, labels) / self.hidden_size**0.5 + self.entity_bias

    # -- relations ----------------------------------------------------------------------------
    def relation_logits(
        self,
        words: torch.Tensor,
        word_mask: torch.Tensor,
        spans: torch.Tensor,
        heads: torch.Tensor,
        tails: torch.Tensor,
        labels: torch.Tensor,
        pair_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Score ordered span pairs.

        `heads`/`tails`: [B, P, 2] word (start, end) of each pair's spans (end inclusive, width
        < max_width). Returns [B, P, L]. With `pair_mask` [B, P] (inference) the pair MLP runs
        on the real pairs only; padded pairs get the bias alone.
        """
        b, n, k, d = spans.shape
        flat = spans.reshape(b, n * k, d)

        def pick(idx: torch.Tensor) -> torch.Tensor:
            index = idx[..., 0] * k + (idx[..., 1] - idx[..., 0])
            return flat.gather(1, index.unsqueeze(-1).expand(-1, -1, d))

        head_vec, tail_vec = pick(heads), pick(tails)
        # Mean of the words strictly between the two spans (zeros when adjacent/overlapping).
        left_end = torch.minimum(heads[..., 1], tails[..., 1])  # [B, P]
        right_start = torch.maximum(heads[..., 0], tails[..., 0])
        pos = torch.arange(n, device=words.device).view(1, 1, n)
        between = (pos > left_end.unsqueeze(-1)) & (pos < right_start.unsqueeze(-1)) & word_mask.unsqueeze(1)
        between = between.to(words.dtype)
        context = torch.bmm(between, words) / between.sum(-1, keepdim=True).clamp(min=1.0)
        features = self.dropout(torch.cat([head_vec, tail_vec, context], dim=-1))
        if pair_mask is None:
            pairs = self.pair_mlp(features)
        else:
            real = self.pair_mlp(features[pair_mask])
            pairs = real.new_zeros(b, features.size(1), real.size(-1))
            pairs[pair_mask] = real
        return torch.einsum("bpd,bld->bpl", pairs, labels) / self.hidden_size**0.5 + self.relation_bias
