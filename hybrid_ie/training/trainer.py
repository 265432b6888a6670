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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from hybrid_ie.document import Document
from hybrid_ie.encoder.inference import JointEncoder
from hybrid_ie.encoder.inputs import collate
from hybrid_ie.labels.hierarchy import HIERARCHY_FILE, LabelHierarchy, load_hierarchy, wordnet_parents
from hybrid_ie.training.calibration import reset_scaling
from hybrid_ie.training.config import TrainConfig
from hybrid_ie.training.lexicon import mention_lexicon, positive_lexicon
from hybrid_ie.training.losses import entity_loss_weights, entity_targets, partial_pairs
from hybrid_ie.training.mixture import load_mixture, select_sets, to_examples
from hybrid_ie.training.sampling import (
    PHRASINGS_FILE,
    REVERSED,
    Example,
    LabelSampler,
    SetSampler,
    SetTypes,
    load_phrasings,
)

log = logging.getLogger("hybrid_ie.training.trainer")


def initial_encoder(cfg: TrainConfig) -> JointEncoder:
    """A fresh encoder on the backbone, or a trained checkpoint (`init_from`) to fine-tune further.

    A checkpoint keeps its architecture (max width, shape embedding: `cfg` is updated to match)
    and loses its calibration, which no longer fits once the weights move: run
    `hybrid-ie calibrate` on the result."""
    if cfg.model.init_from is None:
        return JointEncoder.from_backbone(cfg.model.backbone, max_width=cfg.model.max_width, use_shape=cfg.model.use_shape)
    encoder = JointEncoder.from_pretrained(cfg.model.init_from)
    c = encoder.config
    cfg.model.max_width, cfg.model.use_shape = c.max_width, c.use_shape
    reset_scaling(c)
    c.threshold = c.relation_threshold = 0.5
    c.calibration = {}
    return encoder


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


class Trainer:
    def __init__(
        self,
        cfg: TrainConfig,
        *,
        encoder: JointEncoder | None = None,
        extra_sets: dict[str, tuple[list[Example], SetTypes]] | None = None,
    ):
        """`extra_sets`: examples that are not sets of the data dir (e.g. distillation's silver
        set), by name, with their label side; they join the mixture (`cfg.data.set_shares` can fix
        their share of the draws)."""
        self.cfg = cfg
        torch.manual_seed(cfg.optim.seed)
        random.seed(cfg.optim.seed)
        if cfg.optim.threads:
            torch.set_num_threads(cfg.optim.threads)
        self.rng = random.Random(cfg.optim.seed)
        self.output = Path(cfg.run.output_dir)
        self.resume_state = self._resume_state()
        if self.resume_state is not None:  # the weights of the last save, whatever we were given
            encoder = JointEncoder.from_pretrained(self.output / "last", device=encoder.device if encoder else "auto")
            cfg.model.max_width, cfg.model.use_shape = encoder.config.max_width, encoder.config.use_shape
        self.encoder = encoder or initial_encoder(cfg)
        self.model = self.encoder.model
        self.device = self.encoder.device
        sets = select_sets(cfg.data.datasets, cfg.data.exclude_datasets, cfg.data.data_dir)
        self.examples, self.types = load_mixture(sets, **cfg.data.mixture_options())
        for name, (examples, types) in (extra_sets or {}).items():
            self.examples[name], self.types[name] = examples, types
        self.sets = SetSampler(
            {k: len(v) for k, v in self.examples.items()}, self.rng,
            temperature=cfg.data.set_temperature, weights=cfg.data.set_weights, shares=cfg.data.set_shares,
        )
        lexicon = mention_lexicon(self.examples, self.types, cfg.sampling.lexical_guard) if cfg.sampling.lexical_guard else None
        positives = (
            positive_lexicon(self.examples, self.types, cfg.sampling.projection_min_count, cfg.sampling.projection_min_purity)
            if cfg.sampling.projection_prob else None
        )
        if positives:
            log.info("projection lexicon: %d strings for %d prompts", sum(map(len, positives.values())),
                     sum(1 for v in positives.values() if v))
        self.labels = LabelSampler(
            self.types, cfg.sampling, self.rng, embed=self.embed_prompts, lexicon=lexicon, positives=positives,
            hierarchy=self._hierarchy(), phrasings=(
                load_phrasings(PHRASINGS_FILE if cfg.sampling.relation_phrasings is True else Path(cfg.sampling.relation_phrasings))
                if cfg.sampling.relation_phrasings else None
            ),
        )
        self.encoder.config.known_labels = self.labels.known_labels()
        self.encoder.config.known_relation_labels = self.labels.known_relation_labels()
        self.encoder.config.training = cfg.to_dict()
        self.encoder.config.training["run"].pop("output_dir", None)

    def _hierarchy(self) -> LabelHierarchy | None:
        """The label hierarchy of `cfg.sampling.label_hierarchy`, completed with WordNet parents for the
        mixture's entity prompts it does not list (`cfg.sampling.hierarchy_wordnet`), or None."""
        cfg = self.cfg
        if not cfg.sampling.label_hierarchy:
            return None
        hierarchy = load_hierarchy(HIERARCHY_FILE if cfg.sampling.label_hierarchy is True else cfg.sampling.label_hierarchy)
        if cfg.sampling.hierarchy_wordnet and hierarchy.wordnet_roots:
            prompts = {p for t in self.types.values() for p in t.entities.values()}
            listed = set(hierarchy.parents)
            hierarchy = hierarchy.with_parents(wordnet_parents(prompts, hierarchy.wordnet_roots, cfg.data.wordnet_dir))
            log.info("label hierarchy: %d prompts with parents, %d of them from WordNet",
                     len(hierarchy.parents), len(set(hierarchy.parents) - listed))
        return hierarchy

    def _resume_state(self) -> dict[str, Any] | None:
        state_file = self.output / "last" / "trainer_state.pt"
        if not (self.cfg.run.resume and state_file.exists()):
            return None
        return torch.load(state_file, map_location="cpu", weights_only=True)

    def embed_prompts(self, prompts: list[str]) -> list[list[float]]:
        """Prompt embeddings for near-miss negatives (`JointEncoder.prompt_embeddings`)."""
        return self.encoder.prompt_embeddings(prompts).tolist()

    # -- one step -----------------------------------------------------------------------------
    def next_batch(self) -> list[Example]:
        return [self.examples[name][i] for name, i in (self.sets.next() for _ in range(self.cfg.optim.batch_size))]

    def loss(self, examples: Sequence[Example]) -> tuple[torch.Tensor, dict[str, float]]:
        cfg = self.cfg
        kmax = self.model.config.max_width
        encoded, targets, shown = [], [], []
        for ex in examples:
            ent_prompts, ent_index, rel_prompts, rel_index, projected = self.labels.sample_with_projections(ex)
            if projected:  # appended: relation heads and tails still index the original entities
                ex = replace(ex, entities=[*ex.entities, *projected])
            if cfg.sampling.lowercase_prob and self.rng.random() < cfg.sampling.lowercase_prob:
                ex = replace(ex, words=[w.lower() for w in ex.words])  # as users type queries
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
            examples, [t[0] for t in targets], gold, valid, foreign_weight=cfg.optim.foreign_negative_weight
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
                top = span_best[b].flatten().topk(min(cfg.optim.hard_negative_spans + len(gold_set), span_best[b].numel()))
                for flat_idx, val in zip(top.indices.tolist(), top.values.tolist(), strict=True):
                    s, w = divmod(flat_idx, kmax)
                    if val > -1e3 and (s, s + w) not in gold_set and len(cands) < len(gold_set) + cfg.optim.hard_negative_spans:
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
                if len(pairs) > cfg.optim.max_pairs:
                    pos = [p for p in pairs if p in labelled]
                    neg = [p for p in pairs if p not in labelled]
                    pairs = pos + self.rng.sample(neg, max(0, cfg.optim.max_pairs - len(pos)))
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
        for spec in self.cfg.run.dev_sets:
            ds = get_set(spec["set"], self.cfg.data.data_dir)
            limits = [n for n in (spec.get("limit"), self.cfg.run.dev_limit) if n is not None]
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
        total = cfg.optim.max_steps
        dev = self.dev_data()
        if cfg.model.freeze_embeddings:
            for p in self.model.backbone.embeddings.parameters():
                p.requires_grad_(False)
        params = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        heads = [p for n, p in params if not n.startswith("backbone.")]
        backbone = [p for n, p in params if n.startswith("backbone.")]
        optim = torch.optim.AdamW(
            [{"params": backbone, "lr": cfg.optim.lr_backbone}, {"params": heads, "lr": cfg.optim.lr_heads}],
            weight_decay=cfg.optim.weight_decay,
        )
        sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(total, int(total * cfg.optim.warmup_ratio)))
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
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
            total, cfg.run.eval_every, cfg.run.save_every)
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
            torch.nn.utils.clip_grad_norm_([p for _, p in params], cfg.optim.grad_clip)
            optim.step()
            sched.step()
            step += 1
            if on_step is not None:
                on_step(step, total, parts)
            running["ent"] += parts["ent"]
            running["rel"] += parts["rel"]
            running["n"] += 1
            if step % cfg.run.log_every == 0 or step == total:
                elapsed = time.time() - t0
                rate = (step - start_step) / elapsed
                log.info(
                    "step %d/%d  loss ent %.3f rel %.3f  %.2f steps/s  elapsed %s  ETA %s",
                    step, total, running["ent"] / running["n"], running["rel"] / running["n"],
                    rate, _hms(elapsed), _hms((total - step) / rate),
                )
                running = {"ent": 0.0, "rel": 0.0, "n": 0}
            if step % cfg.run.eval_every == 0 or step == total:
                best = self._checkpoint(dev, step, best, history_file)
            if step % cfg.run.save_every == 0 or step == total:
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
