"""Targets and weights of the training losses: which (span, label) cells and which (pair, label)
cells count, as what, and how much. The `Trainer` builds its batches and calls these."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hybrid_ie.training.sampling import Example


def entity_targets(
    examples: Sequence[Example], ent_indices: Sequence[dict[str, int]], valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gold [B, N, K, L] of the entity loss and where it counts. `valid` starts as every real
    (span, label) cell; for a partially annotated example only its marked spans, for their own
    label, count (its other spans are unknown, not negatives); an example's `unknown` spans
    count only for the label they are marked with, if any."""
    kmax = valid.size(2)
    gold = torch.zeros(valid.shape, device=valid.device)
    valid = valid.clone()
    for b, (ex, ent_index) in enumerate(zip(examples, ent_indices, strict=True)):
        if ex.partial:
            valid[b] = False
        for s, e in ex.unknown:
            if e - s < kmax:
                valid[b, s, e - s] = False
        for s, e, label in ex.entities:
            if e - s < kmax and label in ent_index:
                gold[b, s, e - s, ent_index[label]] = 1.0
                if ex.partial or ex.unknown:
                    valid[b, s, e - s, ent_index[label]] = True
    return gold, valid


def entity_loss_weights(
    examples: Sequence[Example], ent_indices: Sequence[dict[str, int]], gold: torch.Tensor, valid: torch.Tensor,
    *, foreign_weight: float = 1.0,
) -> torch.Tensor:
    """The entity loss weight of every (span, label) cell: 0 where it does not count, the
    example's `negative_weight` on a negative cell, the item's weight on a gold one.

    `foreign_weight` scales the cells of foreign prompts (global negatives: columns that are not
    one of the example's own types in `ent_indices`) on spans the example does not annotate. A
    set that never annotates organisms says nothing about whether "mice" in its text is one;
    at full weight the model learns that an organism label next to an anatomy label set is never
    true. On the spans the example does annotate (their type is known and is another one) the
    negative stays at full weight."""
    weight = valid.float()
    kmax = valid.size(2)
    for b, (ex, ent_index) in enumerate(zip(examples, ent_indices, strict=True)):
        if ex.negative_weight != 1.0:
            weight[b] = torch.where(gold[b] > 0, weight[b], weight[b] * ex.negative_weight)
        if foreign_weight != 1.0:
            own = set(ent_index.values())
            foreign = [c for c in range(weight.size(-1)) if c not in own]
            if foreign:
                annotated = torch.zeros(weight.shape[1:3], dtype=torch.bool, device=weight.device)
                for s, e, _ in ex.entities:
                    if e - s < kmax:
                        annotated[s, e - s] = True
                scale = torch.where(annotated, 1.0, foreign_weight).unsqueeze(-1)  # [N, K, 1]
                weight[b, :, :, foreign] = weight[b, :, :, foreign] * scale
        for (s, e, label), w in zip(ex.entities, ex.entity_weights, strict=False):
            if e - s < kmax and label in ent_index:
                weight[b, s, e - s, ent_index[label]] *= w
    return weight


def partial_pairs(labelled: dict[tuple, set[int]], symmetric: set[int]) -> tuple[list[tuple], dict[tuple, set[int]]]:
    """Pairs of a partially annotated text: each marked pair (scored against every shown label)
    and its reversal, which counts only as a negative for the pair's non-symmetric labels.
    Returns the pairs and, for the reversed ones, the label columns that count."""
    pairs: list[tuple] = list(labelled)
    cols: dict[tuple, set[int]] = {}
    for (h, t), labs in labelled.items():
        reverse_cols = labs - symmetric
        if (t, h) not in labelled and reverse_cols:
            pairs.append((t, h))
            cols[(t, h)] = reverse_cols
    return pairs, cols
