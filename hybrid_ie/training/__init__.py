"""Training the joint encoder: everything that makes or tunes a checkpoint, none of what serves one.

    from hybrid_ie.training import TrainConfig, Trainer
    Trainer(TrainConfig(datasets=["conll04"], max_steps=200, output_dir="runs/mine")).train()

Modules: `trainer` (`TrainConfig`, `Trainer`: the loop, checkpoints, resume), `mixture` (data sets
-> examples, derived sets), `sampling` (which set, which labels each example is shown with),
`calibration` (temperatures, thresholds, label centering, relation backoff, chosen on dev),
`averaging` (model soups), `labellers/` (rule-based labellers: measures, actions, nouns, and
their data files).

Depends on `hybrid_ie.encoder` (the inference side) and the core; nothing at inference imports it.
"""

from hybrid_ie.training.trainer import TrainConfig, Trainer

__all__ = ["TrainConfig", "Trainer"]
