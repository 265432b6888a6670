"""Training settings in sections: `model` (what is trained), `data` (the mixture), `sampling`
(which labels each example is shown with: `sampling.LabelSettings`), `optim` (the optimiser and
the loss) and `run` (output, dev sets, schedule of evaluations and saves).

Each dataclass is the single source of its defaults. A settings file (`hybrid-ie train --config`;
JSON, or TOML for any other suffix, read by `settings_files.read_settings`)
writes the sections as objects, or, as older files and checkpoints do, every key flat at the top
level; both read the same (`TrainConfig.from_dict`). Keys starting with "_" are comments.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from hybrid_ie.errors import InputError
from hybrid_ie.settings_files import read_settings
from hybrid_ie.training.labellers.actions import DEFAULT_WORDNET_DIR
from hybrid_ie.training.sampling import LabelSettings


@dataclass
class ModelSettings:
    backbone: str | None = None  # None: the packaged all-MiniLM-L6-v2
    init_from: str | None = None  # a trained checkpoint to continue from (its architecture wins)
    max_width: int = 12
    use_shape: bool = True
    freeze_embeddings: bool = True  # backbone token/position embeddings (saves a 30k x d update)


@dataclass
class DataSettings:
    datasets: list[str] | str = field(default_factory=lambda: ["conll04", "scierc", "ade"])  # or "all"
    exclude_datasets: list[str] = field(default_factory=list)  # e.g. the zero-shot held-out sets
    data_dir: str | None = None  # default: $HYBRID_IE_DATA or ../shared/data
    set_temperature: float = 1.0  # p(set) ~ size ** (1/T) * weight; 1: by size, large: uniform
    set_weights: dict[str, float] = field(default_factory=dict)
    set_shares: dict[str, float] = field(default_factory=dict)  # fixed p(set) for these (SetSampler)
    limit: int | None = None  # use only the first N texts of each train split (smoke tests)
    max_words: int = 120  # longer texts are cut into windows of at most this many words
    relation_roles: list[str] = field(default_factory=list)  # sets whose relations name entity roles
    # (relation_roles.json) -> an extra NER set "<name>+roles"; needs complete mention annotation
    measure_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled
    # "measures" set (measure_patterns.json: quantities, times, dates); names or "all" (complete sets)
    measure_notations: bool = False  # the measures and actions+links sets write each unit in a form
    # of its notation group (measure_patterns.json "notations": "degrees C", "° C", ...)
    action_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled "actions"
    # set (verbs, from the WordNet database in wordnet_dir; actions.py); names or "all"
    action_links: bool | str = False  # the actions set also marks measures and links verb -> measure
    # (True: action_links.json, "has duration", "has temperature", ...; or the path of such a file)
    noun_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled "nouns" set
    # (common nouns typed by WordNet hypernyms and supersenses; nouns.py); names or "all"
    noun_links: bool | str = False  # the nouns set also links verb -> noun by thematic role
    # (True: noun_links.json, "has patient", "has instrument", ...; or the path of such a file)
    noun_strict: bool = False  # nouns whose first WordNet sense is uncertain stay unknown, and no
    # noun type is a label that a data set of the mixture annotates
    wordnet_dir: str = DEFAULT_WORDNET_DIR

    def mixture_options(self) -> dict[str, Any]:
        """The keyword arguments of `mixture.load_mixture` these settings fix."""
        skip = {"datasets", "exclude_datasets", "data_dir", "set_temperature", "set_weights", "set_shares"}
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}


@dataclass
class OptimSettings:
    max_steps: int = 1000
    batch_size: int = 8
    lr_backbone: float = 8e-5
    lr_heads: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 13
    threads: int = 2
    foreign_negative_weight: float = 1.0  # loss weight of a global (other set's) entity negative on a
    # span the example does not annotate; 1: as own negatives, 0: only annotated spans count (see
    # losses.entity_loss_weights)
    hard_negative_spans: int = 8  # top-scoring non-gold spans added to the relation candidates
    max_pairs: int = 400  # relation pairs per example (all positives, sampled negatives)

    def __post_init__(self) -> None:
        if not 0.0 <= self.foreign_negative_weight <= 1.0:
            raise InputError(f"foreign_negative_weight must be in [0, 1], got {self.foreign_negative_weight}")


@dataclass
class RunSettings:
    output_dir: str = "runs/encoder"
    dev_sets: list[dict[str, Any]] = field(
        default_factory=lambda: [{"set": "conll04", "metrics": ["entity", "relation"]}]
    )  # each: set, metrics (entity / relation), optional limit, split (default dev) and select
    # (default true; false: only logged); selection = mean of the selected metrics
    dev_limit: int | None = None  # default cap on dev texts per dev set
    eval_every: int = 400
    save_every: int = 200
    log_every: int = 20
    resume: bool = True  # continue from <output_dir>/last when it exists


SECTIONS: dict[str, type] = {
    "model": ModelSettings, "data": DataSettings, "sampling": LabelSettings, "optim": OptimSettings, "run": RunSettings,
}  # fmt: skip
SECTION_OF: dict[str, str] = {f.name: name for name, cls in SECTIONS.items() for f in fields(cls)}


@dataclass
class TrainConfig:
    """Training settings by section; `hybrid-ie train --config file.json` reads the same."""

    model: ModelSettings = field(default_factory=ModelSettings)
    data: DataSettings = field(default_factory=DataSettings)
    sampling: LabelSettings = field(default_factory=LabelSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    run: RunSettings = field(default_factory=RunSettings)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "training settings") -> TrainConfig:
        """Sections as objects, or keys flat at the top level (each goes to its section), or both.
        An unknown key or section is a clear error naming it."""
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        unknown = []
        for key, value in data.items():
            if key.startswith("_"):
                continue
            if key in SECTIONS and isinstance(value, dict):
                for sub, v in value.items():
                    if sub.startswith("_"):
                        continue
                    if SECTION_OF.get(sub) != key:
                        unknown.append(f"{key}.{sub}")
                    sections[key][sub] = v
            elif key in SECTION_OF:
                sections[SECTION_OF[key]][key] = value
            else:
                unknown.append(key)
        if unknown:
            raise InputError(f"{source}: unknown training settings {sorted(unknown)}")
        try:
            return cls(**{name: SECTIONS[name](**values) for name, values in sections.items()})
        except TypeError as exc:
            raise InputError(f"{source}: {exc}") from exc

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """A settings file, with flat `overrides` (None: not given) on top."""
        cfg = cls.from_dict(read_settings(path, "training config"), source=str(path))
        return cfg.updated(**overrides)

    def updated(self, **flat: Any) -> TrainConfig:
        """A copy with flat keys set (None values skipped)."""
        merged = self.flat()
        merged.update({k: v for k, v in flat.items() if v is not None})
        return TrainConfig.from_dict(merged)

    def to_dict(self) -> dict[str, Any]:
        """Sections as objects (what a run writes to train_config.json and the checkpoint)."""
        return asdict(self)

    def flat(self) -> dict[str, Any]:
        return flatten_settings(self.to_dict())


def flatten_settings(record: dict[str, Any]) -> dict[str, Any]:
    """A stored training record (sections or flat keys, plus any other keys a run adds such as
    "best" or "averaged_from") with every section's keys at the top level."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key in SECTIONS and isinstance(value, dict):
            out.update(value)
        else:
            out[key] = value
    return out
