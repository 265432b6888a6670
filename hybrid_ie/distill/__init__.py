"""Distillation: the LLM labels a sample of your documents with your schema, the encoder learns
from those labels (with replay of its own training mixture), and then runs alone.

    from hybrid_ie.distill import distill
    result = distill("politics.json", "models/mine", texts=["docs/"], limit=500, llm_config="llm.toml")

Modules: `labelling` (chunks, sample, LLM calls), `silver` (filtering, weights, provenance,
harvest from hybrid runs), `finetune` (replay training, recalibration), `card` (model card),
`core` (`Distiller`, `DistillConfig`). Sits above the tiers, like `pipeline`.
"""

from hybrid_ie.distill.core import DistillConfig, Distiller, DistillResult, distill
from hybrid_ie.distill.silver import SilverSettings, SilverStats, harvest, read_silver, write_silver

__all__ = [
    "DistillConfig",
    "DistillResult",
    "Distiller",
    "SilverSettings",
    "SilverStats",
    "distill",
    "harvest",
    "read_silver",
    "write_silver",
]
