"""Checkpoint averaging ("model soup", Wortsman et al. 2022): the element-wise mean of the
weights of several fine-tuned checkpoints of the same network.

Averaging runs that share their starting point (e.g. continuations of one checkpoint with other
seeds or recipes) tends to score better out of domain than any one of them. The result is an
uncalibrated checkpoint: run `hybrid-ie calibrate` on it (temperatures and thresholds are not
averaged; they are reset). Only checkpoints of the same architecture (backbone config, span
width, shape embedding, weight names and shapes) can be averaged.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from hybrid_ie.encoder.inference import EncoderLoadError
from hybrid_ie.training.calibration import reset_scaling

# config keys that must agree for the weights to mean the same thing
SAME_NETWORK = ("backbone_config", "max_width", "use_shape", "max_length")


def average_checkpoints(paths: Sequence[str | os.PathLike], output: str | os.PathLike, *, half: bool = False) -> Path:
    """Write the mean of the checkpoints' weights to `output` (config and tokenizer of the first,
    label prompts of all of them as known labels, the sources under `training["averaged_from"]`)."""
    from hybrid_ie.encoder import JointEncoder

    if len(paths) < 2:
        raise EncoderLoadError(f"averaging needs at least two checkpoints, got {len(paths)}")
    first = JointEncoder.from_pretrained(paths[0], device="cpu")
    total = {k: v.detach().double().clone() for k, v in first.model.state_dict().items()}
    known = set(first.config.known_labels)
    known_relations = set(first.config.known_relation_labels)
    sources = [{"path": str(paths[0]), "training": first.config.training}]
    for path in paths[1:]:
        other = JointEncoder.from_pretrained(path, device="cpu")
        for key in SAME_NETWORK:
            if getattr(other.config, key) != getattr(first.config, key):
                raise EncoderLoadError(f"{path}: cannot average with {paths[0]}: their {key} differ")
        state = other.model.state_dict()
        if state.keys() != total.keys() or any(state[k].shape != total[k].shape for k in total):
            raise EncoderLoadError(f"{path}: cannot average with {paths[0]}: the weights differ in names or shapes")
        for k, v in state.items():
            total[k] += v.double()
        known |= set(other.config.known_labels)
        known_relations |= set(other.config.known_relation_labels)
        sources.append({"path": str(path), "training": other.config.training})
    with torch.no_grad():
        for k, v in first.model.state_dict().items():
            v.copy_((total[k] / len(paths)).to(v.dtype))
    reset_scaling(first.config)
    first.config.threshold = first.config.relation_threshold = 0.5
    first.config.calibration = {}
    first.config.known_labels = sorted(known)
    first.config.known_relation_labels = sorted(known_relations)
    first.config.training = {"averaged_from": sources}
    return first.save_pretrained(output, half=half)


def primary_training(training: dict) -> dict:
    """The training record that describes a checkpoint's data: its own, or for an average the
    first source's (what `average_checkpoints` writes as `training["averaged_from"]`)."""
    sources = training.get("averaged_from") if isinstance(training, dict) else None
    if sources:
        return primary_training(sources[0].get("training") or {})
    return training if isinstance(training, dict) else {}


__all__ = ["average_checkpoints", "primary_training"]
