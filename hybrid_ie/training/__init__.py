"""Training the joint encoder: everything that makes or tunes a checkpoint, none of what serves one.

    from hybrid_ie.training import TrainConfig, Trainer
    cfg = TrainConfig.from_dict({"data": {"datasets": ["conll04"]}, "optim": {"max_steps": 200},
                                 "run": {"output_dir": "runs/mine"}})
    Trainer(cfg).train()

Modules: `config` (`TrainConfig` and its sections), `trainer` (`Trainer`: the loop, checkpoints,
resume), `losses` (targets and weights of the losses), `mixture` (data sets -> examples, derived
sets), `sampling` (which set, which labels each example is shown with, following
`hybrid_ie.labels.hierarchy`), `lexicon` (which strings the sets annotate with which prompt: the
lexical guard's and distant supervision's lexicons), `calibration` (temperatures, thresholds,
label centering, relation backoff, chosen on dev),
`averaging` (model soups), `labellers/` (rule-based labellers: measures, actions, nouns, and
their data files).

Depends on `hybrid_ie.encoder` (the inference side) and the core; nothing at inference imports it.
"""

from hybrid_ie.training.config import TrainConfig
from hybrid_ie.training.trainer import Trainer

__all__ = ["TrainConfig", "Trainer"]
