"""Fine-tune the base encoder on a silver set with replay of its own training mixture, then
recalibrate on a held-out slice of the silver set.

Replay: the base checkpoint records how it was trained (``config.json: training``, the
`TrainConfig` of its run; else ``train_config.json`` beside it): its sets, exclusions, set
temperature and weights, label sampling. Distillation trains on the same mixture with the silver
set added as one more set whose share of the draws is fixed at ``1 - replay``
(the `data.set_shares` training setting); the replayed sets share ``replay`` as they did in the base run.
``replay = 0`` trains on the silver set alone (the mixture is not even read).

Negatives (the partial-annotation question): an LLM's labels are incomplete (its recall is
well below 1), so a span it did not label may still be a mention. ``negatives``:

- ``soft`` (default): unlabelled spans and pairs of a silver text are negatives with the loss
  weight ``negative_weight`` (default 0.3): the encoder still learns where the labels stop, but a
  missed mention costs a third of a marked one;
- ``full``: unlabelled spans are plain negatives (weight 1), as in a completely annotated set;
- ``partial``: the training code's partial mode (`Example.partial`): only the marked items count,
  nothing is a negative; safe for recall, but nothing holds precision back.

The training run is `hybrid_ie.training.trainer.Trainer` (its OUT/last state makes a killed run
resume where it stopped); evaluation on dev sets is off (the silver hold-out is for calibration).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hybrid_ie.distill.silver import loss_weights
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema

NEGATIVES = ("soft", "full", "partial")
SILVER_SET = "silver"
# Keys of the base run's TrainConfig that describe its mixture and label sampling (replayed as is).
MIXTURE_KEYS = (
    "backbone", "datasets", "exclude_datasets", "set_temperature", "set_weights", "max_words", "relation_roles",
    "measure_sets", "measure_notations", "label_drop", "synonym_prob", "max_entity_labels", "max_relation_labels", "near_miss_share",
    "synonym_guard", "lexical_guard", "hard_negative_spans", "max_pairs", "freeze_embeddings", "label_hierarchy",
    "hierarchy_wordnet", "ancestor_prob", "relation_phrasings", "phrasing_prob",
)  # fmt: skip


def resolve_base(base: str | Path | None) -> Path:
    """The base checkpoint folder: a folder or a checkpoint name (default: the default checkpoint),
    found as `JointEncoder.from_pretrained` finds it."""
    from hybrid_ie.checkpoints import resolve

    path = resolve(base) or Path(str(base))
    if not (path / "config.json").exists():
        raise InputError(f"--base {path}: not an encoder checkpoint folder (no config.json)")
    return path


def base_training(base: Path) -> dict[str, Any]:
    """The base run's mixture settings: ``config.json: training``, else ``train_config.json``
    ({} when neither says which sets it was trained on)."""
    from hybrid_ie.training.averaging import primary_training
    from hybrid_ie.training.config import flatten_settings

    own = json.loads((base / "config.json").read_text(encoding="utf-8")).get("training") or {}
    for source in (primary_training(own),
                   _read_json(base / "train_config.json")):  # fmt: skip
        flat = flatten_settings(source) if isinstance(source, dict) else {}
        if "datasets" in flat:
            return {k: v for k, v in flat.items() if k in MIXTURE_KEYS}
    return {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def split_holdout(docs: Sequence[Document], fraction: float, seed: int) -> tuple[list[Document], list[Document]]:
    """(train, held out): `fraction` of the documents, drawn with `random.Random(seed)`; none
    held out when fewer than 5 documents."""
    if not 0.0 <= fraction < 1.0:
        raise InputError(f"holdout must be in [0, 1), got {fraction}")
    n = round(len(docs) * fraction) if len(docs) >= 5 else 0
    held = set(random.Random(seed).sample(range(len(docs)), n))
    return [d for i, d in enumerate(docs) if i not in held], [d for i, d in enumerate(docs) if i in held]


def silver_examples(docs: Sequence[Document], negatives: str, negative_weight: float, max_words: int) -> list:
    """Silver Documents -> training `Example`s with their loss weights."""
    from hybrid_ie.training.mixture import to_examples

    if negatives not in NEGATIVES:
        raise InputError(f"negatives must be one of {', '.join(NEGATIVES)}, got {negatives!r}")
    if not 0.0 <= negative_weight <= 1.0:
        raise InputError(f"negative_weight must be in [0, 1], got {negative_weight}")
    weight = {"soft": negative_weight, "full": 1.0, "partial": 1.0}[negatives]
    return [ex for d in docs if d.text.strip()
            for ex in to_examples(d, SILVER_SET, partial=negatives == "partial", max_words=max_words,
                                  weights=loss_weights(d), negative_weight=weight)]  # fmt: skip


def replay_config(
    base: Path,
    output_dir: Path,
    *,
    replay: float,
    replay_sets: Sequence[str] | None,
    replay_limit: int | None,
    steps: int,
    batch_size: int,
    lr_backbone: float,
    lr_heads: float,
    seed: int,
    threads: int,
    data_dir: str | None,
) -> Any:
    """The `TrainConfig` of a distillation run (see the module docstring)."""
    from hybrid_ie.training.config import TrainConfig

    if not 0.0 <= replay < 1.0:
        raise InputError(f"replay must be in [0, 1) (the share of steps' examples from the base mixture), got {replay}")
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    mixture = base_training(base)
    if replay > 0 and replay_sets is None and not mixture:
        raise InputError(f"{base}: its config does not say which sets it was trained on; name them with --replay-sets "
                         "or use --replay 0")  # fmt: skip
    if replay_sets is not None:
        mixture["datasets"] = list(replay_sets)
        mixture.setdefault("exclude_datasets", [])
        for key in ("relation_roles", "measure_sets"):  # derived sets only from replayed ones
            if isinstance(mixture.get(key), list):
                mixture[key] = [n for n in mixture[key] if n in replay_sets]
    if replay == 0:
        mixture.update(datasets=[], exclude_datasets=[], relation_roles=[], measure_sets=[])
    mixture.pop("backbone", None)
    return TrainConfig.from_dict(dict(
        **mixture, init_from=str(base), output_dir=str(output_dir), data_dir=data_dir, dev_sets=[],
        set_shares={SILVER_SET: 1.0 - replay}, limit=replay_limit, max_steps=steps, eval_every=steps,
        save_every=max(1, min(50, steps)), batch_size=batch_size, lr_backbone=lr_backbone, lr_heads=lr_heads,
        seed=seed, threads=threads, log_every=max(1, min(50, steps)),
    ), source=f"replay of {base}")  # fmt: skip


def finetune(
    cfg: Any,
    schema: Schema,
    silver: Sequence[Document],
    *,
    negatives: str = "soft",
    negative_weight: float = 0.3,
    progress: bool = True,
    on_step: Callable[[int, int, dict[str, float]], None] | None = None,
) -> tuple[Any, Any]:
    """Train (or resume) the run of `cfg` with the silver documents; returns (encoder, Trainer)."""
    from tqdm.auto import tqdm

    from hybrid_ie.training.mixture import set_types
    from hybrid_ie.training.trainer import Trainer

    examples = silver_examples(silver, negatives, negative_weight, cfg.data.max_words)
    if not examples:
        raise InputError("the silver set is empty: nothing to train on (see the silver statistics)")
    trainer = Trainer(cfg, extra_sets={SILVER_SET: (examples, set_types(schema))})
    done = trainer.resume_state["step"] if trainer.resume_state is not None else 0
    with tqdm(total=cfg.optim.max_steps, initial=done, desc="train", unit="step", disable=not progress) as bar:

        def step(i: int, total: int, parts: dict[str, float]) -> None:
            bar.set_postfix(ent=f"{parts['ent']:.3f}", rel=f"{parts['rel']:.3f}", refresh=False)
            bar.update()
            if on_step is not None:
                on_step(i, total, parts)

        trainer.train(on_step=step)
    return trainer.encoder, trainer


RELATION_CALIBRATION = ("relation_temperature", "relation_shift", "relation_threshold")


def entities_only(schema: Schema, docs: Sequence[Document]) -> tuple[Schema, list[Document]]:
    """The schema without its relation types and the silver documents without their relations
    (`DistillConfig.relations = False`: the relation head then learns from replay only)."""
    stripped = []
    for d in docs:
        meta = dict(d.meta)
        if "silver" in meta:
            meta["silver"] = {**meta["silver"], "relations": []}
        stripped.append(d.model_copy(update={"relations": [], "meta": meta}))
    return schema.subset(schema.entity_labels, (), why="entity types only"), stripped


def keep_relation_calibration(encoder: Any, base_config: Any) -> None:
    """Put the base checkpoint's relation temperature, shift and threshold back (an entities-only
    run has no silver relations to fit them on)."""
    for key in RELATION_CALIBRATION:
        setattr(encoder.config, key, getattr(base_config, key))
    calibration = encoder.config.calibration
    calibration["relations"] = "base checkpoint (entities-only distillation)"
    tuned = calibration.get("thresholds")
    if isinstance(tuned, dict):  # the tuning saw no relation: record the threshold in use, not its grid pick
        tuned["relation_threshold"] = base_config.relation_threshold
        tuned.pop("relation_f1", None)


def recalibrate(encoder: Any, schema: Schema, held: Sequence[Document], base_config: Any) -> dict[str, Any]:
    """Temperatures and thresholds fitted on the held-out silver documents (`calibration.calibrate`
    and `tune_thresholds`); with no held-out document, the base checkpoint's values are kept."""
    from hybrid_ie.training.calibration import calibrate, tune_thresholds

    if not held or not any(d.entities for d in held):
        c = encoder.config
        for key in ("entity_temperature", "entity_shift", "relation_temperature", "relation_shift", "threshold",
                    "relation_threshold"):  # fmt: skip
            setattr(c, key, getattr(base_config, key))
        c.calibration = {"source": "base checkpoint (no held-out silver documents to fit on)"}
        return dict(c.calibration)
    report = calibrate(encoder, [(schema, list(held))])
    tuned = tune_thresholds(encoder, [(schema, list(held))])
    encoder.config.calibration["thresholds"] = tuned
    report["thresholds"] = tuned["selected"]
    report["source"] = f"{len(held)} held-out silver documents"
    encoder.config.calibration["source"] = report["source"]
    return report


__all__ = [
    "NEGATIVES",
    "RELATION_CALIBRATION",
    "SILVER_SET",
    "base_training",
    "entities_only",
    "finetune",
    "keep_relation_calibration",
    "recalibrate",
    "replay_config",
    "resolve_base",
    "silver_examples",
    "split_holdout",
]
