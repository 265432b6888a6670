"""Training the joint encoder on the union of conll04, scierc and ade.

Each training sentence is shown with its dataset's label prompts (the schemas' verbose names,
sometimes swapped for a synonym from `label_synonyms.json`), in shuffled order, with some gold
labels dropped (their spans become negatives) and some negative labels from the other datasets
added, so the encoder learns to match labels by meaning rather than by position or string.

Words are `hybrid_ie.chunking.word_spans` of the sentence text (the same segmentation as at
inference; every gold span of the three datasets aligns with it). Relation candidates are the
gold entities plus the top-scoring predicted non-gold spans (hard negatives).

Every `eval_every` steps and at each epoch end the model is scored on the conll04 dev split with
`hybrid_ie.metrics.score`; the checkpoint with the best mean of strict entity and relation F1 is
kept in `<output_dir>/best`.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hybrid_ie.chunking import word_spans
from hybrid_ie.document import Document
from hybrid_ie.encoder.calibration import reset_scaling
from hybrid_ie.encoder.inference import JointEncoder
from hybrid_ie.encoder.inputs import collate
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema, load_schema

log = logging.getLogger("hybrid_ie.encoder.training")
SYNONYMS_FILE = Path(__file__).with_name("label_synonyms.json")


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
    datasets: list[str] = field(default_factory=lambda: ["conll04", "scierc", "ade"])
    oversample: dict[str, int] = field(default_factory=lambda: {"conll04": 2})
    dev_dataset: str = "conll04"
    output_dir: str = "runs/encoder"
    epochs: int = 3
    max_steps: int | None = None
    batch_size: int = 8
    lr_backbone: float = 8e-5
    lr_heads: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.05
    grad_clip: float = 1.0
    seed: int = 13
    threads: int = 2
    limit: int | None = None  # use only the first N sentences of each train split (smoke tests)
    dev_limit: int | None = None
    eval_every: int | None = None  # steps; None: twice per epoch
    freeze_embeddings: bool = True  # backbone token/position embeddings (saves a 30k x d update)
    max_width: int = 12
    use_shape: bool = True
    label_drop: float = 0.15
    synonym_prob: float = 0.15
    max_negative_labels: int = 3
    hard_negative_spans: int = 8
    max_pairs: int = 400
    log_every: int = 20

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError(f"{path}: cannot read training config ({exc})") from exc
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"{path}: unknown training settings {sorted(unknown)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)


@dataclass
class Example:
    """A training sentence in word units: entities (start, end inclusive, type name) and
    relations (head entity index, tail entity index, type name)."""

    dataset: str
    words: list[str]
    entities: list[tuple[int, int, str]]
    relations: list[tuple[int, int, str]]


def to_example(doc: Document, dataset: str) -> Example:
    spans = word_spans(doc.text)
    starts = {s: i for i, (s, _) in enumerate(spans)}
    ends = {e: i for i, (_, e) in enumerate(spans)}
    index: dict[str, int] = {}
    entities = []
    for ent in doc.entities:
        if ent.start in starts and ent.end in ends:
            index[ent.id] = len(entities)
            entities.append((starts[ent.start], ends[ent.end], ent.label))
    relations = [
        (index[r.head], index[r.tail], r.label) for r in doc.relations if r.head in index and r.tail in index
    ]
    return Example(dataset, [doc.text[s:e] for s, e in spans], entities, relations)


class LabelSampler:
    """Chooses the prompts a training sentence is shown with, and maps gold types to them."""

    def __init__(self, schemas: dict[str, Schema], cfg: TrainConfig, rng: random.Random):
        self.schemas = schemas
        self.cfg = cfg
        self.rng = rng
        raw = json.loads(SYNONYMS_FILE.read_text(encoding="utf-8"))
        self.synonyms = {k: v for k, v in raw.items() if not k.startswith("_")}

    def known_labels(self) -> list[str]:
        out: set[str] = set()
        for schema in self.schemas.values():
            for t in (*schema.entity_types, *schema.relation_types):
                out.add(t.prompt)
                out.update(self.synonyms.get(t.prompt, []))
        return sorted(out)

    def _prompt(self, prompt: str) -> str:
        alts = self.synonyms.get(prompt)
        if alts and self.rng.random() < self.cfg.synonym_prob:
            return self.rng.choice(alts)
        return prompt

    def _side(self, dataset: str, kind: str) -> tuple[list[str], dict[str, int]]:
        own = list(getattr(self.schemas[dataset], kind))
        kept = [t for t in own if self.rng.random() >= self.cfg.label_drop] or [self.rng.choice(own)]
        prompts = [(self._prompt(t.prompt), t.name) for t in kept]
        own_prompts = {t.prompt for t in own}
        others = sorted(
            {t.prompt for name, s in self.schemas.items() if name != dataset for t in getattr(s, kind)}
            - own_prompts
        )
        n_neg = self.rng.randint(0, min(self.cfg.max_negative_labels, len(others)))
        prompts += [(p, None) for p in self.rng.sample(others, n_neg)]
        self.rng.shuffle(prompts)
        return [p for p, _ in prompts], {name: i for i, (_, name) in enumerate(prompts) if name is not None}

    def sample(self, dataset: str) -> tuple[list[str], dict[str, int], list[str], dict[str, int]]:
        ent_prompts, ent_index = self._side(dataset, "entity_types")
        rel_prompts, rel_index = self._side(dataset, "relation_types")
        return ent_prompts, ent_index, rel_prompts, rel_index


def lr_lambda(total: int, warmup: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return f


class Trainer:
    def __init__(self, cfg: TrainConfig, *, encoder: JointEncoder | None = None):
        self.cfg = cfg
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.rng = random.Random(cfg.seed)
        self.schemas = {name: load_schema(name) for name in cfg.datasets}
        self.labels = LabelSampler(self.schemas, cfg, self.rng)
        self.encoder = encoder or initial_encoder(cfg)
        self.encoder.config.known_labels = self.labels.known_labels()
        self.encoder.config.training = {k: v for k, v in asdict(cfg).items() if k != "output_dir"}
        self.model = self.encoder.model
        self.device = self.encoder.device
        self.output = Path(cfg.output_dir)

    # -- data ---------------------------------------------------------------------------------
    def load_examples(self) -> list[Example]:
        from hybrid_ie.datasets import load_dataset

        examples = []
        for name in self.cfg.datasets:
            docs = load_dataset(name, "train")[: self.cfg.limit]
            exs = [to_example(d, name) for d in docs if d.text.strip()]
            examples += exs * int(self.cfg.oversample.get(name, 1))
        return examples

    def dev_documents(self) -> list[Document]:
        from hybrid_ie.datasets import load_dataset

        return load_dataset(self.cfg.dev_dataset, "dev")[: self.cfg.dev_limit]

    # -- one step -----------------------------------------------------------------------------
    def loss(self, examples: Sequence[Example]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        kmax = self.model.config.max_width
        encoded, targets = [], []
        for ex in examples:
            ent_prompts, ent_index, rel_prompts, rel_index = self.labels.sample(ex.dataset)
            encoded.append(self.encoder.inputs.encode(ex.words, ent_prompts, rel_prompts))
            targets.append((ent_index, rel_index))
        batch = collate(encoded, self.device)
        enc = self.model.encode(batch)
        spans, span_mask = self.model.span_vectors(enc["words"], enc["word_mask"])
        logits = self.model.entity_logits(spans, enc["entity_labels"])  # [B, N, K, L]
        gold = torch.zeros_like(logits)
        for b, (ex, (ent_index, _)) in enumerate(zip(examples, targets, strict=True)):
            for s, e, label in ex.entities:
                if e - s < kmax and label in ent_index:
                    gold[b, s, e - s, ent_index[label]] = 1.0
        valid = span_mask.unsqueeze(-1) & enc["entity_label_mask"].view(len(examples), 1, 1, -1)
        ent_loss = (F.binary_cross_entropy_with_logits(logits, gold, reduction="none") * valid).sum() / len(examples)

        # Relation candidates: gold entities + the top-scoring non-gold spans.
        with torch.no_grad():
            span_best = logits.masked_fill(~valid, -1e4).amax(-1).masked_fill(~span_mask, -1e4)
        pair_lists, pair_gold = [], []
        for b, ex in enumerate(examples):
            cands = [(s, e) for s, e, _ in ex.entities if e - s < kmax]
            cands = list(dict.fromkeys(cands))
            gold_set = set(cands)
            top = span_best[b].flatten().topk(min(cfg.hard_negative_spans + len(gold_set), span_best[b].numel()))
            for flat_idx, val in zip(top.indices.tolist(), top.values.tolist(), strict=True):
                s, w = divmod(flat_idx, kmax)
                if val > -1e3 and (s, s + w) not in gold_set and len(cands) < len(gold_set) + cfg.hard_negative_spans:
                    cands.append((s, s + w))
            labelled = {}
            rel_index = targets[b][1]
            for h, t, label in ex.relations:
                hs, ts = ex.entities[h][:2], ex.entities[t][:2]
                if label in rel_index and hs in gold_set and ts in gold_set:
                    labelled.setdefault((hs, ts), set()).add(rel_index[label])
            pairs = [(h, t) for h in cands for t in cands if h != t]
            if len(pairs) > cfg.max_pairs:
                pos = [p for p in pairs if p in labelled]
                neg = [p for p in pairs if p not in labelled]
                pairs = pos + self.rng.sample(neg, max(0, cfg.max_pairs - len(pos)))
            pair_lists.append(pairs)
            pair_gold.append(labelled)
        n_pairs = max(len(p) for p in pair_lists)
        rel_loss = torch.zeros((), device=self.device)
        if n_pairs and batch["relation_label_mask"].any():
            b_size = len(examples)
            heads = torch.zeros(b_size, n_pairs, 2, dtype=torch.long)
            tails = torch.zeros_like(heads)
            pair_mask = torch.zeros(b_size, n_pairs, dtype=torch.bool)
            n_rel = enc["relation_labels"].size(1)
            rgold = torch.zeros(b_size, n_pairs, n_rel)
            for b, pairs in enumerate(pair_lists):
                for p, (h, t) in enumerate(pairs):
                    heads[b, p] = torch.tensor(h)
                    tails[b, p] = torch.tensor(t)
                    pair_mask[b, p] = True
                    for lab in pair_gold[b].get((h, t), ()):
                        rgold[b, p, lab] = 1.0
            rlogits = self.model.relation_logits(
                enc["words"], enc["word_mask"], spans, heads.to(self.device), tails.to(self.device),
                enc["relation_labels"],
            )
            rvalid = pair_mask.to(self.device).unsqueeze(-1) & enc["relation_label_mask"].unsqueeze(1)
            rel_loss = (
                F.binary_cross_entropy_with_logits(rlogits, rgold.to(self.device), reduction="none") * rvalid
            ).sum() / b_size
        return ent_loss + rel_loss, {"ent": float(ent_loss.detach()), "rel": float(rel_loss.detach())}

    # -- evaluation ----------------------------------------------------------------------------
    def evaluate(self, docs: Sequence[Document]) -> dict[str, float]:
        from hybrid_ie.metrics import score

        schema = self.schemas.get(self.cfg.dev_dataset) or load_schema(self.cfg.dev_dataset)
        pred = self.encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], batch_size=32)
        report = score(docs, pred, symmetric=schema.symmetric_relations).to_dict()
        ent = report["entities"]["strict"]["f1"]
        rel = report["relations"]["strict"]["f1"]
        return {"entity_f1": ent, "relation_f1": rel, "mean_f1": (ent + rel) / 2}

    # -- loop ----------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        cfg = self.cfg
        examples = self.load_examples()
        dev = self.dev_documents()
        steps_per_epoch = math.ceil(len(examples) / cfg.batch_size)
        total = steps_per_epoch * cfg.epochs
        if cfg.max_steps is not None:
            total = min(total, cfg.max_steps)
        eval_every = cfg.eval_every or max(1, steps_per_epoch // 2)
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
        history_file = (self.output / "history.jsonl").open("a", encoding="utf-8")
        log.info("%d training sentences, %d steps/epoch, %d steps, eval every %d", len(examples),
                 steps_per_epoch, total, eval_every)
        best: dict[str, Any] = {"mean_f1": -1.0}
        step, t0, running = 0, time.time(), {"ent": 0.0, "rel": 0.0, "n": 0}
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda"
            else torch.autocast("cpu", enabled=False)
        )
        for epoch in range(cfg.epochs):
            order = list(range(len(examples)))
            self.rng.shuffle(order)
            for i in range(0, len(order), cfg.batch_size):
                if step >= total:
                    break
                self.model.train()
                with autocast:
                    loss, parts = self.loss([examples[j] for j in order[i : i + cfg.batch_size]])
                optim.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.grad_clip)
                optim.step()
                sched.step()
                step += 1
                running["ent"] += parts["ent"]
                running["rel"] += parts["rel"]
                running["n"] += 1
                if step % cfg.log_every == 0 or step == total:
                    elapsed = time.time() - t0
                    rate = step / elapsed
                    log.info(
                        "epoch %d step %d/%d  loss ent %.3f rel %.3f  %.2f steps/s  elapsed %s  ETA %s",
                        epoch + 1, step, total, running["ent"] / running["n"], running["rel"] / running["n"],
                        rate, _hms(elapsed), _hms((total - step) / rate),
                    )
                    running = {"ent": 0.0, "rel": 0.0, "n": 0}
                end_of_epoch = i + cfg.batch_size >= len(order)
                if step % eval_every == 0 or end_of_epoch or step == total:
                    best = self._checkpoint(dev, epoch, step, best, history_file)
            if step >= total:
                break
        history_file.close()
        log.info("best: %s", json.dumps(best))
        return best

    def _checkpoint(self, dev, epoch, step, best, history_file) -> dict[str, Any]:
        t = time.time()
        scores = self.evaluate(dev)
        row = {"epoch": epoch + 1, "step": step, **scores, "eval_s": round(time.time() - t, 1)}
        history_file.write(json.dumps(row) + "\n")
        history_file.flush()
        log.info("dev %s: entity F1 %.4f relation F1 %.4f (mean %.4f)", self.cfg.dev_dataset,
                 scores["entity_f1"], scores["relation_f1"], scores["mean_f1"])
        if scores["mean_f1"] > best["mean_f1"]:
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
