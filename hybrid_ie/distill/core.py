"""`Distiller`: the LLM labels a sample of the user's documents, the encoder learns from it.

    from hybrid_ie.distill import DistillConfig, Distiller
    result = Distiller(DistillConfig(schema="politics.json", texts=["docs/"], limit=500,
                                     output_dir="models/mine")).run()

Steps (`run`): read the documents (`batch.collect_inputs`: JSONL, text and document files) ->
chunk them as the pipeline does -> sample `limit` chunks -> ask the LLM about each (`labelling`;
cached, so a killed run asks nothing twice) -> filter and weight the answers into a silver set
(`silver`; written to `silver_out` for inspection) -> add harvested silver files (`silver`) ->
hold out a slice -> fine-tune the base encoder with replay (`finetune`; resumable) -> recalibrate
on the held-out slice -> save the checkpoint with a model card (`card`).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.distill.finetune import (
    entities_only,
    finetune,
    keep_relation_calibration,
    recalibrate,
    replay_config,
    resolve_base,
    split_holdout,
)
from hybrid_ie.distill.labelling import document_chunks, label_chunks, sample_chunks
from hybrid_ie.distill.silver import SilverSettings, SilverStats, read_silver, write_silver
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema, load_schema
from hybrid_ie.tiers import LLMTier


@dataclass
class DistillConfig:
    """Every setting of a distillation run (`hybrid-ie distill` has one option per field)."""

    schema: str | Schema
    output_dir: str
    texts: list[str] = field(default_factory=list)  # documents the LLM labels (files, folders, JSONL)
    silver: list[str] = field(default_factory=list)  # silver JSONL files to train on as they are
    limit: int | None = None  # chunks to label (None: all)
    seed: int = 13
    llm_config: str | None = None  # TOML/JSON file; None: LLMConfig.load() (env, defaults)
    verify: bool = False  # the LLM verifies the encoder's candidates instead of extracting
    base: str | None = None  # encoder checkpoint to start from; None: the default, models/hybrid-ie-minilm-zs
    min_grounding: float = 0.9
    weight_llm: float = 1.0
    weight_both: float = 2.0
    weight_encoder: float = 0.5
    negatives: str = "soft"
    negative_weight: float = 0.3
    relations: bool = True  # False: train on the silver entities only (the relation head learns from replay)
    replay: float = 0.5  # share of each step's examples drawn from the base's training mixture
    replay_sets: list[str] | None = None  # override the base's mixture
    replay_limit: int | None = None  # read only the first N texts of each replayed set
    steps: int = 300
    batch_size: int = 8
    lr_backbone: float = 3e-5
    lr_heads: float = 3e-4
    holdout: float = 0.2
    threads: int = 1
    data_dir: str | None = None
    silver_out: str | None = None
    nested: bool = False
    keep_state: bool = False  # keep OUTPUT/train (optimizer state) after a finished run
    progress: bool = True

    def silver_settings(self) -> SilverSettings:
        return SilverSettings(self.min_grounding, self.weight_llm, self.weight_both, self.weight_encoder)


@dataclass
class DistillResult:
    output_dir: Path
    silver_documents: int
    stats: dict[str, Any]
    usage: dict[str, Any]
    calibration: dict[str, Any]
    seconds: dict[str, float]
    card: dict[str, Any] = field(repr=False, default_factory=dict)


class Distiller:
    """Run a distillation (`DistillConfig`); `llm` / `encoder` override the configured ones
    (an `LLMClient` or `LLMConfig`; a `JointEncoder`, used for agreement and verify only)."""

    def __init__(self, config: DistillConfig, *, llm: Any = None, encoder: Any = None):
        self.config = config
        self.schema = load_schema(config.schema)
        self.base = resolve_base(config.base)
        self._llm = llm
        self._encoder = encoder

    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from hybrid_ie.encoder import JointEncoder

            self._encoder = JointEncoder.from_pretrained(self.base)
        return self._encoder

    @property
    def llm(self) -> Any:
        if not isinstance(self._llm, LLMTier):
            from hybrid_ie.llm import LLMClient, LLMConfig

            config = self._llm if self._llm is not None else LLMConfig.load(self.config.llm_config)
            self._llm = LLMClient(config)
        return self._llm

    # -- steps ---------------------------------------------------------------------------------
    def label(self) -> tuple[list, SilverStats, Any]:
        """Silver Documents from the LLM's answers on the sampled chunks of `config.texts`."""
        from hybrid_ie.job_inputs import collect_inputs
        from hybrid_ie.llm import Usage

        cfg = self.config
        if not cfg.texts:
            return [], SilverStats(), Usage(calls=0)
        texts, _ = collect_inputs(cfg.texts)
        chunks = sample_chunks(document_chunks(texts), cfg.limit, cfg.seed)
        return label_chunks(chunks, self.schema, self.llm, cfg.silver_settings(), encoder=self.encoder,
                            verify=cfg.verify, nested=cfg.nested, progress=cfg.progress)  # fmt: skip

    def run(self) -> DistillResult:
        cfg = self.config
        if not cfg.texts and not cfg.silver:
            raise InputError("nothing to learn from: give --texts (the LLM labels them) and/or --silver files")
        out = Path(cfg.output_dir)
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        labelled, stats, usage = self.label()
        if cfg.silver_out:
            write_silver(labelled, cfg.silver_out)
        harvested = read_silver(cfg.silver, self.schema) if cfg.silver else []
        for doc in harvested:
            stats.add_document(doc)
        silver = labelled + harvested
        seconds["label"] = time.perf_counter() - t0
        train_docs, held = split_holdout(silver, cfg.holdout, cfg.seed)
        train_schema = self.schema
        if not cfg.relations:
            train_schema, train_docs = entities_only(self.schema, train_docs)
            held = entities_only(self.schema, held)[1]
        t1 = time.perf_counter()
        train_cfg = replay_config(
            self.base, out / "train", replay=cfg.replay, replay_sets=cfg.replay_sets, replay_limit=cfg.replay_limit,
            steps=cfg.steps, batch_size=cfg.batch_size, lr_backbone=cfg.lr_backbone, lr_heads=cfg.lr_heads,
            seed=cfg.seed, threads=cfg.threads, data_dir=cfg.data_dir,
        )  # fmt: skip
        encoder, trainer = finetune(train_cfg, train_schema, train_docs, negatives=cfg.negatives,
                                    negative_weight=cfg.negative_weight, progress=cfg.progress)  # fmt: skip
        seconds["train"] = time.perf_counter() - t1
        base_config = self.encoder.config
        encoder.config.known_labels = sorted(set(base_config.known_labels) | set(encoder.config.known_labels))
        t2 = time.perf_counter()
        calibration = recalibrate(encoder, train_schema, held, base_config)
        if not cfg.relations:
            keep_relation_calibration(encoder, base_config)  # `calibration` is the config's record: updated too
        seconds["calibrate"] = time.perf_counter() - t2
        from hybrid_ie.distill.card import model_card

        card = model_card(self, stats=stats, usage=usage, calibration=calibration, train_docs=len(train_docs),
                          held_docs=len(held), draws=dict(trainer.sets.probabilities), seconds=seconds)  # fmt: skip
        encoder.config.training["distill"] = card
        encoder.save_pretrained(out)
        from hybrid_ie.distill.card import write_card

        write_card(out, card)
        if not cfg.keep_state:
            shutil.rmtree(out / "train", ignore_errors=True)
        return DistillResult(out, len(silver), stats.to_dict(), usage.model_dump(mode="json"), calibration, seconds,
                             card)  # fmt: skip

    def settings(self) -> dict[str, Any]:
        data = asdict(self.config)
        data["schema"] = self.schema.name
        data["base"] = str(self.base)
        return data


def distill(schema: str | Schema, output_dir: str, **options: Any) -> DistillResult:
    """One call: `distill("schema.json", "models/mine", texts=["docs/"], limit=500)`."""
    return Distiller(DistillConfig(schema=schema, output_dir=output_dir, **options)).run()


__all__ = ["DistillConfig", "DistillResult", "Distiller", "distill"]
