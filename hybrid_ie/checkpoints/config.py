"""What a checkpoint's `config.json` holds: `EncoderConfig`, the network's shape (backbone,
span width, shape embedding, input length), the inference settings calibration fits (temperatures,
shifts, thresholds, label centering, per-label thresholds, relation backoff), the label prompts
training showed, and the training and calibration records.

`from_dict` ignores keys it does not know, so a checkpoint written by a newer version still loads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class EncoderConfig:
    """Everything needed to rebuild the network and run it, stored as `config.json`."""

    backbone: str = ""  # id or path the backbone weights came from (informational once trained)
    backbone_config: dict[str, Any] = field(default_factory=dict)
    max_width: int = 12
    dropout: float = 0.1
    use_shape: bool = True
    max_length: int = 512
    max_pair_entities: int = 16
    # calibrated score = sigmoid(logit / temperature + shift), fitted on dev (hybrid_ie.training.calibration)
    entity_temperature: float = 1.0
    entity_shift: float = 0.0
    relation_temperature: float = 1.0
    relation_shift: float = 0.0
    threshold: float = 0.5
    relation_threshold: float = 0.5
    # inference: lower each label's logit by this x (its mean logit over the text's spans - the mean
    # over labels), see `hybrid_ie.encoder.model.center_label_logits`; tuned on dev by
    # `calibrate --centering-grid` (0: off)
    label_centering: float = 0.0
    # entity cut-offs of single labels (prompt, lower case), tuned on their dev data; others use `threshold`
    label_thresholds: dict[str, float] = field(default_factory=dict)
    known_labels: list[str] = field(default_factory=list)
    # relation prompts training showed (a subset of known_labels); the targets of relation_backoff
    known_relation_labels: list[str] = field(default_factory=list)
    # inference: a relation prompt training never showed also takes this x the score of the nearest
    # known relation prompt (backbone embedding) on each pair, when higher; tuned on dev by
    # `calibrate --backoff-grid` (0: off). See `hybrid_ie.encoder.JointEncoder.relation_backoff_targets`.
    relation_backoff: float = 0.0
    training: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"encoder_type": "hybrid-ie-joint-encoder", **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


__all__ = ["EncoderConfig"]
