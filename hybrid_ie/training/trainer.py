"""Training the joint encoder on a mixture of data sets (see `mixture.py` and `sampling.py`).

Each step draws a batch of examples: the data set by temperature-based sampling, the example
within it without replacement. Each example is shown with its own label prompts (gold types,
some dropped; other types of its set; near-miss and random negatives from the global pool of all
sets' prompts; sometimes synonyms), shuffled. Partially annotated sets (FewRel: only the two
relation arguments are marked) contribute only what is known: the entity loss on the marked
spans, the relation loss on the marked pairs (and their reversal, for non-symmetric labels).

Relation candidates are the gold entities plus, for completely annotated sets, the top-scoring
predicted non-gold spans (hard negatives).

Every `eval_every` steps the model is scored on the dev sets of `dev_sets` (strict F1 with
`hybrid_ie.metrics.score`); the checkpoint with the best mean of the listed metrics is kept in
`<output_dir>/best`. Every `save_every` steps the full training state (weights, optimizer,
schedule, samplers' random state) goes to `<output_dir>/last`, and a run started again with the
same output folder resumes from it.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hybrid_ie.document import Document
from hybrid_ie.training.labellers.actions import DEFAULT_WORDNET_DIR
from hybrid_ie.training.calibration import reset_scaling
from hybrid_ie.encoder.inference import JointEncoder
from hybrid_ie.encoder.inputs import collate
from hybrid_ie.training.mixture import load_mixture, select_sets, to_examples
from hybrid_ie.training.hierarchy import HIERARCHY_FILE, LabelHierarchy, load_hierarchy, wordnet_parents
from hybrid_ie.training.sampling import (
    PHRASINGS_FILE,
    REVERSED,
    Example,
    LabelSampler,
    LabelSettings,
    SetSampler,
    SetTypes,
    load_phrasings,
    mention_lexicon,
    positive_lexicon,
)
from hybrid_ie.errors import InputError

log = logging.getLogger("hybrid_ie.training.trainer")


def initial_encoder(cfg: TrainConfig) -> JointEncoder:
    """A fresh encoder on the backbone, or a trained checkpoint (`init_from`) to fine-tune further.

    A checkpoint keeps its architecture (max width, shape embedding: `cfg` is updated to match)
    and loses its calibration, which no longer fits once the weights move: run
    `hybrid-ie calibrate` on the result."""
    if cfg.init_from is None:
        return JointEncoder.from_backbone(cfg.backbone, max_width=cfg.max_width, use_shape=cfg.use_shape)
    encoder = JointEncoder.from_pretrained(cfg.init_from)
    c = encoder.config
    cfg.max_width, cfg.use_shape = c.max_width, c.use_shape
    reset_scaling(c)
    c.threshold = c.relation_threshold = 0.5
    c.calibration = {}
    return encoder


@dataclass
class TrainConfig:
    """Training settings; `hybrid-ie train --config file.json` reads the same keys."""

    backbone: str | None = None  # None: the packaged all-MiniLM-L6-v2
    init_from: str | None = None  # a trained checkpoint to continue from (its architecture wins)
    datasets: list[str] | str = field(default_factory=lambda: ["conll04", "scierc", "ade"])  # or "all"
    exclude_datasets: list[str] = field(default_factory=list)  # e.g. the zero-shot held-out sets
    data_dir: str | None = None  # default: $HYBRID_IE_DATA or ../shared/data
    set_temperature: float = 1.0  # p(set) ~ size ** (1/T) * weight; 1: by size, large: uniform
    set_weights: dict[str, float] = field(default_factory=dict)
    set_shares: dict[str, float] = field(default_factory=dict)  # fixed p(set) for these (SetSampler)
    dev_sets: list[dict[str, Any]] = field(
        default_factory=lambda: [{"set": "conll04", "metrics": ["entity", "relation"]}]
    )  # each: set, metrics (entity / relation), optional limit, split (default dev) and select
    # (default true; false: only logged); selection = mean of the selected metrics
    output_dir: str = "runs/encoder"
    max_steps: int = 1000
    batch_size: int = 8
    lr_backbone: float = 8e-5
    lr_heads: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 13
    threads: int = 2
    limit: int | None = None  # use only the first N texts of each train split (smoke tests)
    dev_limit: int | None = None  # default cap on dev texts per dev set
    eval_every: int = 400
    save_every: int = 200
    resume: bool = True  # continue from <output_dir>/last when it exists
    freeze_embeddings: bool = True  # backbone token/position embeddings (saves a 30k x d update)
    max_width: int = 12
    use_shape: bool = True
    max_words: int = 120  # longer texts are cut into windows of at most this many words
    relation_roles: list[str] = field(default_factory=list)  # sets whose relations name entity roles
    # (relation_roles.json) -> an extra NER set "<name>+roles"; needs complete mention annotation
    measure_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled
    # "measures" set (measure_patterns.json: quantities, times, dates); names or "all" (complete sets)
    action_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled "actions"
    # set (verbs, from the WordNet database in wordnet_dir; actions.py); names or "all"
    wordnet_dir: str = DEFAULT_WORDNET_DIR
    action_links: bool | str = False  # the actions set also marks measures and links verb -> measure
    # (True: action_links.json, "has duration", "has temperature", ...; or the path of such a file)
    noun_sets: list[str] | str = field(default_factory=list)  # texts for the rule-labelled "nouns" set
    # (common nouns typed by WordNet hypernyms and supersenses; nouns.py); names or "all"
    noun_links: bool | str = False  # the nouns set also links verb -> noun by thematic role
    # (True: noun_links.json, "has patient", "has instrument", ...; or the path of such a file)
    noun_strict: bool = False  # nouns whose first WordNet sense is uncertain stay unknown, and no
    # noun type is a label that a data set of the mixture annotates
    measure_notations: bool = False  # the measures and actions+links sets write each unit in a form
    # of its notation group (measure_patterns.json "notations": "degrees C", "° C", ...)
    label_drop: float = 0.15
    synonym_prob: float = 0.15
    max_entity_labels: int = 25
    max_relation_labels: int = 10
    near_miss_share: float = 0.5
    synonym_guard: float = 0.85
    lexical_guard: int = 0  # > 0: global negatives another set annotates on this text (>= N times) are left out
    projection_prob: float = 0.0  # > 0: per complete example, show up to max_projected global labels
    # as positives on the strings their own sets annotate with them (positive_lexicon; sampling.py)
    projection_min_count: int = 5
    projection_min_purity: float = 0.5
    max_projected: int = 3
    foreign_negative_weight: float = 1.0  # loss weight of a global (other set's) entity negative on a
    # span the example does not annotate; 1: as own negatives, 0: only annotated spans count (see
    # entity_loss_weights)
    label_hierarchy: bool | str = False  # entity labels follow "the most specific offered label wins"
    # (True: label_hierarchy.json, or the path of such a file; hierarchy.py, sampling.py)
    hierarchy_wordnet: bool = True  # with a hierarchy: prompts it does not list get WordNet parents
    ancestor_prob: float = 0.0  # with a hierarchy: show an ancestor beside the gold (or instead of it)
    relation_phrasings: bool | str = False  # relation prompts sometimes in users' words, passive forms
    # swapped (True: relation_phrasings.json, or the path of such a file)
    phrasing_prob: float = 0.0  # with relation_phrasings: the chance a relation prompt is phrased
    hard_negative_spans: int = 8
    max_pairs: int = 400
    log_every: int = 20

    def __post_init__(self) -> None:
        if not 0.0 <= self.projection_prob <= 1.0:
            raise InputError(f"projection_prob must be in [0, 1], got {self.projection_prob}")
        for name in ("ancestor_prob", "phrasing_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.foreign_negative_weight <= 1.0:
            raise InputError(f"foreign_negative_weight must be in [0, 1], got {self.foreign_negative_weight}")

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read training config ({exc})") from exc
        data = {k: v for k, v in data.items() if not k.startswith("_")}  # "_doc" etc.: comments
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"{path}: unknown training settings {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    def label_settings(self) -> LabelSettings:
        return LabelSettings(
            label_drop=self.label_drop, synonym_prob=self.synonym_prob,
            max_entity_labels=self.max_entity_labels, max_relation_labels=self.max_relation_labels,
            near_miss_share=self.near_miss_share, synonym_guard=self.synonym_guard,
            lexical_guard=self.lexical_guard, projection_prob=self.projection_prob,
            max_projected=self.max_projected, ancestor_prob=self.ancestor_prob, phrasing_prob=self.phrasing_prob,
        )


def to_example(doc: Document, dataset: str, partial: bool = False) -> Example:
    """One document as a single Example (no windowing)."""
    exs = to_examples(doc, dataset, partial=partial)
    return exs[0] if exs else Example(dataset, [], [], [], partial)


def lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


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


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        *,
        encoder: JointEncoder | None = None,
        extra_sets: dict[str, tuple[list[Example], SetTypes]] | None = None,
    ):
        """`extra_sets`: examples that are not sets of the data dir (e.g. distillation's silver
        set), by name, with their label side; they join the mixture (`cfg.set_shares` can fix
        their share of the draws)."""
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rng = random.Random(cfg.seed)
        self.output = Path(cfg.output_dir)
        self.resume_state = self._resume_state()
        if self.resume_state is not None:  # the weights of the last save, whatever we were given
            encoder = JointEncoder.from_pretrained(self.output / "last", device=encoder.device if encoder else "auto")
            cfg.max_width, cfg.use_shape = encoder.config.max_width, encoder.config.use_shape
        self.encoder = encoder or initial_encoder(cfg)
        self.model = self.encoder.model
        self.device = self.encoder.device
        sets = select_sets(cfg.datasets, cfg.exclude_datasets, cfg.data_dir)
        self.examples, self.types = load_mixture(
            sets, limit=cfg.limit, max_words=cfg.max_words, relation_roles=cfg.relation_roles,
            measure_sets=cfg.measure_sets, action_sets=cfg.action_sets, wordnet_dir=cfg.wordnet_dir,
            action_links=cfg.action_links, noun_sets=cfg.noun_sets, noun_links=cfg.noun_links,
            noun_strict=cfg.noun_strict, measure_notations=cfg.measure_notations,
        )
        for name, (examples, types) in (extra_sets or {}).items():
            self.examples[name], self.types[name] = examples, types
        self.sets = SetSampler(
            {k: len(v) for k, v in self.examples.items()}, self.rng,
            temperature=cfg.set_temperature, weights=cfg.set_weights, shares=cfg.set_shares,
        )
        lexicon = mention_lexicon(self.examples, self.types, cfg.lexical_guard) if cfg.lexical_guard else None
        positives = (
            positive_lexicon(self.examples, self.types, cfg.projection_min_count, cfg.projection_min_purity)
            if cfg.projection_prob else None
        )
        if positives:
            log.info("projection lexicon: %d strings for %d prompts", sum(map(len, positives.values())),
                     sum(1 for v in positives.values() if v))
        self.labels = LabelSampler(
            self.types, cfg.label_settings(), self.rng, embed=self.embed_prompts, lexicon=lexicon, positives=positives,
            hierarchy=self._hierarchy(), phrasings=(
                load_phrasings(PHRASINGS_FILE if cfg.relation_phrasings is True else Path(cfg.relation_phrasings))
                if cfg.relation_phrasings else None
            ),
        )
        self.encoder.config.known_labels = self.labels.known_labels()
        self.encoder.config.known_relation_labels = self.labels.known_relation_labels()
        self.encoder.config.training = {k: v for k, v in asdict(cfg).items() if k != "output_dir"}

    def _hierarchy(self) -> LabelHierarchy | None:
        """The label hierarchy of `cfg.label_hierarchy`, completed with WordNet parents for the
        mixture's entity prompts it does not list (`cfg.hierarchy_wordnet`), or None."""
        cfg = self.cfg
        if not cfg.label_hierarchy:
            return None
        hierarchy = load_hierarchy(HIERARCHY_FILE if cfg.label_hierarchy is True else cfg.label_hierarchy)
        if cfg.hierarchy_wordnet and hierarchy.wordnet_roots:
            prompts = {p for t in self.types.values() for p in t.entities.values()}
            listed = set(hierarchy.parents)
            hierarchy = hierarchy.with_parents(wordnet_parents(prompts, hierarchy.wordnet_roots, cfg.wordnet_dir))
            log.info("label hierarchy: %d prompts with parents, %d of them from WordNet",
                     len(hierarchy.parents), len(set(hierarchy.parents) - listed))
        return hierarchy

    def _resume_state(self) -> dict[str, Any] | None:
        state_file = self.output / "last" / "trainer_state.pt"
        if not (self.cfg.resume and state_file.exists()):
            return None
        return torch.load(state_file, map_location="cpu", weights_only=False)

    def embed_prompts(self, prompts: list[str]) -> list[list[float]]:
        """Prompt embeddings for near-miss negatives (`JointEncoder.prompt_embeddings`)."""
        return self.encoder.prompt_embeddings(prompts).tolist()

    # -- one step -----------------------------------------------------------------------------
    def next_batch(self) -> list[Example]:
        return [self.examples[name][i] for name, i in (self.sets.next() for _ in range(self.cfg.batch_size))]

    def loss(self, examples: Sequence[Example]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        kmax = self.model.config.max_width
        encoded, targets, shown = [], [], []
        for ex in examples:
            ent_prompts, ent_index, rel_prompts, rel_index, projected = self.labels.sample_with_projections(ex)
            if projected:  # appended: relation heads and tails still index the original entities
                ex = replace(ex, entities=[*ex.entities, *projected])
            shown.append(ex)
            encoded.append(self.encoder.inputs.encode(ex.words, ent_prompts, rel_prompts))
            targets.append((ent_index, rel_index))
        examples = shown
        batch = collate(encoded, self.device)
        enc = self.model.encode(batch)
        spans, span_mask = self.model.span_vectors(enc["words"], enc["word_mask"])
        logits = self.model.entity_logits(spans, enc["entity_labels"]).float()  # [B, N, K, L]
        gold, valid = entity_targets(
            examples, [t[0] for t in targets], span_mask.unsqueeze(-1) & enc["entity_label_mask"].view(len(examples), 1, 1, -1)
        )
        weight = entity_loss_weights(
            examples, [t[0] for t in targets], gold, valid, foreign_weight=cfg.foreign_negative_weight
        )
        ent_loss = (F.binary_cross_entropy_with_logits(logits, gold, reduction="none") * weight).sum() / len(examples)

        # Relation candidates: gold entities + (complete annotation only) top-scoring non-gold spans.
        with torch.no_grad():
            span_best = logits.masked_fill(~valid, -1e4).amax(-1).masked_fill(~span_mask, -1e4)
        pair_lists, pair_gold, pair_cols, pair_weights = [], [], [], []
        for b, ex in enumerate(examples):
            cands = list(dict.fromkeys((s, e) for s, e, _ in ex.entities if e - s < kmax))
            gold_set = set(cands)
            if not ex.partial:
                top = span_best[b].flatten().topk(min(cfg.hard_negative_spans + len(gold_set), span_best[b].numel()))
                for flat_idx, val in zip(top.indices.tolist(), top.values.tolist(), strict=True):
                    s, w = divmod(flat_idx, kmax)
                    if val > -1e3 and (s, s + w) not in gold_set and len(cands) < len(gold_set) + cfg.hard_negative_spans:
                        cands.append((s, s + w))
            labelled: dict[tuple, set[int]] = {}
            weights: dict[tuple, float] = {}
            rel_index = targets[b][1]
            for r, (h, t, label) in enumerate(ex.relations):
                hs, ts = ex.entities[h][:2], ex.entities[t][:2]
                if hs not in gold_set or ts not in gold_set:
                    continue
                for key, pair in ((label, (hs, ts)), (REVERSED + label, (ts, hs))):  # reversed phrasing
                    if key in rel_index:
                        labelled.setdefault(pair, set()).add(rel_index[key])
                        if r < len(ex.relation_weights):
                            weights[(*pair, rel_index[key])] = ex.relation_weights[r]
            if ex.partial:
                pairs, cols = self._partial_pairs(ex, labelled, rel_index)
            else:
                pairs, cols = [(h, t) for h in cands for t in cands if h != t], {}
                if len(pairs) > cfg.max_pairs:
                    pos = [p for p in pairs if p in labelled]
                    neg = [p for p in pairs if p not in labelled]
                    pairs = pos + self.rng.sample(neg, max(0, cfg.max_pairs - len(pos)))
            pair_lists.append(pairs)
            pair_gold.append(labelled)
            pair_cols.append(cols)
            pair_weights.append(weights)
        n_pairs = max(len(p) for p in pair_lists)
        rel_loss = torch.zeros((), device=self.device)
        if n_pairs and batch["relation_label_mask"].any():
            b_size = len(examples)
            heads = torch.zeros(b_size, n_pairs, 2, dtype=torch.long)
            tails = torch.zeros_like(heads)
            n_rel = enc["relation_labels"].size(1)
            rvalid = torch.zeros(b_size, n_pairs, n_rel, dtype=torch.bool)
            rgold = torch.zeros(b_size, n_pairs, n_rel)
            rweight = torch.ones(b_size, n_pairs, n_rel)
            for b, pairs in enumerate(pair_lists):
                for p, (h, t) in enumerate(pairs):
                    heads[b, p] = torch.tensor(h)
                    tails[b, p] = torch.tensor(t)
                    cols = pair_cols[b].get((h, t))
                    if cols is None:
                        rvalid[b, p] = True
                    else:
                        rvalid[b, p, list(cols)] = True
                    rweight[b, p] = examples[b].negative_weight
                    for lab in pair_gold[b].get((h, t), ()):
                        rgold[b, p, lab] = 1.0
                        rweight[b, p, lab] = pair_weights[b].get((h, t, lab), 1.0)
            rlogits = self.model.relation_logits(
                enc["words"], enc["word_mask"], spans, heads.to(self.device), tails.to(self.device),
                enc["relation_labels"],
            ).float()
            rvalid = rvalid.to(self.device) & enc["relation_label_mask"].unsqueeze(1)
            rweight = rweight.to(self.device) * rvalid
            rel_loss = (
                F.binary_cross_entropy_with_logits(rlogits, rgold.to(self.device), reduction="none") * rweight
            ).sum() / b_size
        return ent_loss + rel_loss, {"ent": float(ent_loss.detach()), "rel": float(rel_loss.detach())}

    def _partial_pairs(
        self, ex: Example, labelled: dict[tuple, set[int]], rel_index: dict[str, int]
    ) -> tuple[list[tuple], dict[tuple, set[int]]]:
        return partial_pairs(labelled, {rel_index[n] for n in self.types[ex.dataset].symmetric if n in rel_index})

    # -- evaluation ----------------------------------------------------------------------------
    def dev_data(self) -> list[tuple[dict[str, Any], Any, list[Document]]]:
        from hybrid_ie.datasets import get_set

        out = []
        for spec in self.cfg.dev_sets:
            ds = get_set(spec["set"], self.cfg.data_dir)
            limits = [n for n in (spec.get("limit"), self.cfg.dev_limit) if n is not None]
            limit = min(limits) if limits else None  # dev_limit caps every set (quick runs)
            out.append((spec, ds.schema(), ds.load(spec.get("split", "dev"))[:limit]))
        return out

    def evaluate(self, dev: list[tuple[dict[str, Any], Any, list[Document]]]) -> dict[str, float]:
        from hybrid_ie.metrics import score

        scores: dict[str, float] = {}
        parts = []
        for spec, schema, docs in dev:
            pred = self.encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], batch_size=32)
            report = score(docs, pred, symmetric=schema.symmetric_relations).to_dict()
            for metric in spec.get("metrics", ["entity"]):
                key = {"entity": "entities", "relation": "relations"}[metric]
                value = report[key]["strict"]["f1"]
                scores[f"{spec['set']}_{metric}_f1"] = value
                if spec.get("select", True):
                    parts.append(value)
        scores["selection"] = sum(parts) / max(1, len(parts))
        return scores

    # -- loop ----------------------------------------------------------------------------------
    def train(self, on_step: Callable[[int, int, dict[str, float]], None] | None = None) -> dict[str, Any]:
        """Run to `max_steps` (from `last` when resuming); `on_step(step, total, losses)` after
        each optimiser step (a progress bar)."""
        cfg = self.cfg
        total = cfg.max_steps
        dev = self.dev_data()
        if cfg.freeze_embeddings:
            for p in self.model.backbone.embeddings.parameters():
                p.requires_grad_(False)
        params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        heads = [p for n, p in params if not n.startswith("backbone.")]
        backbone = [p for n, p in params if n.startswith("backbone.")]
        optim = torch.optim.AdamW(
            [{"params": backbone, "lr": cfg.lr_backbone}, {"params": heads, "lr": cfg.lr_heads}],
            weight_decay=cfg.weight_decay,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(total, int(total * cfg.warmup_ratio)))
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "train_config.json").write_text(json.dumps(asdict(cfg), indent=2) + "\n", encoding="utf-8")
        best: dict[str, Any] = {"selection": -1.0}
        step = 0
        if self.resume_state is not None:
            state = self.resume_state
            optim.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            step, best = state["step"], state["best"]
            self.rng.setstate(state["rng"])
            self.sets.load_state(state["sets"])
            torch.set_rng_state(state["torch_rng"])
            log.info("resumed from %s at step %d", self.output / "last", step)
        history_file = (self.output / "history.jsonl").open("a", encoding="utf-8")
        log.info("%s; %d steps, eval every %d, save every %d", ", ".join(
            f"{n} {len(self.examples[n])} ex p={self.sets.probabilities[n]:.3f}" for n in self.sets.names),
            total, cfg.eval_every, cfg.save_every)
        t0, start_step, running = time.time(), step, {"ent": 0.0, "rel": 0.0, "n": 0}
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
            else torch.autocast("cpu", enabled=False)
        )
        while step < total:
            self.model.train()
            with autocast:
                loss, parts = self.loss(self.next_batch())
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
            optim.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, total, parts)
            running["ent"] += parts["ent"]
            running["rel"] += parts["rel"]
            running["n"] += 1
            if step % cfg.log_every == 0 or step == total:
                elapsed = time.time() - t0
                rate = (step - start_step) / elapsed
                log.info(
                    "step %d/%d  loss ent %.3f rel %.3f  %.2f steps/s  elapsed %s  ETA %s",
                    step, total, running["ent"] / running["n"], running["rel"] / running["n"],
                    rate, _hms(elapsed), _hms((total - step) / rate),
                )
                running = {"ent": 0.0, "rel": 0.0, "n": 0}
            if step % cfg.eval_every == 0 or step == total:
                best = self._checkpoint(dev, step, best, history_file)
            if step % cfg.save_every == 0 or step == total:
                self._save_last(optim, sched, step, best)
        history_file.close()
        log.info("best: %s", json.dumps(best))
        return best

    def _save_last(self, optim, sched, step: int, best: dict[str, Any]) -> None:
        """Everything needed to resume, written to a temp folder then renamed (a kill mid-save
        leaves the previous `last` intact)."""
        import shutil

        tmp, last = self.output / "last.tmp", self.output / "last"
        if tmp.exists():
            shutil.rmtree(tmp)
        self.encoder.save_pretrained(tmp)
        torch.save(
            {"optimizer": optim.state_dict(), "scheduler": sched.state_dict(), "step": step, "best": best,
             "rng": self.rng.getstate(), "sets": self.sets.state(), "torch_rng": torch.get_rng_state()},
            tmp / "trainer_state.pt",
        )
        old = self.output / "last.old"
        if last.exists():
            last.rename(old)
        tmp.rename(last)
        if old.exists():
            shutil.rmtree(old)

    def _checkpoint(self, dev, step, best, history_file) -> dict[str, Any]:
        t = time.time()
        scores = self.evaluate(dev)
        row = {"step": step, **scores, "eval_s": round(time.time() - t, 1)}
        history_file.write(json.dumps(row) + "\n")
        history_file.flush()
        log.info("dev: %s", "  ".join(f"{k} {v:.4f}" for k, v in scores.items()))
        if scores["selection"] > best["selection"]:
            self.encoder.config.training["best"] = row
            self.encoder.save_pretrained(self.output / "best")
            log.info("saved new best checkpoint to %s", self.output / "best")
            return row
        return best


def _hms(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Train an encoder with `cfg`; returns the best dev scores (the model is in output_dir/best)."""
    return Trainer(cfg).train()
