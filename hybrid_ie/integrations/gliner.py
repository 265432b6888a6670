"""Optional encoder backend: published GLiNER / GLiNER-relex checkpoints behind the `JointEncoder` interface.

Needs the optional extra (`pip install "hybrid-ie[gliner]"`, i.e. `gliner==0.2.29`); importing this
module works without it, loading a model raises `GlinerUnavailable` with the install hint.

    from hybrid_ie.integrations.gliner import GlinerEncoder
    encoder = GlinerEncoder.from_pretrained("path/to/checkpoint")   # or a hub id (needs network)
    docs = encoder.predict(texts, load_schema("conll04"))

What is the same as `JointEncoder.predict` (both are `hybrid_ie.encoder.windowed.SpanEncoder`s):

* words are `hybrid_ie.chunking.word_spans` of the text (not GLiNER's own splitter), so spans
  map back to exact character offsets and align with the project's other components;
* the schema's `.prompt` strings are the label prompts, outputs carry the type `.name`;
* long texts are split into overlapping word windows that fit the backbone (nothing is cut:
  GLiNER itself would truncate silently), merged by span with the highest score;
* GLiNER is used for the forward pass only (span logits, pair logits); decoding is the project's
  own (`hybrid_ie.encoder.decoding`): flat or nested spans, schema head/tail constraints,
  symmetric relations once, near-miss candidates in `meta["encoder"]`.

Relations need a GLiNER-relex checkpoint (`relations_layer` set). A relation is scored only for
pairs of spans whose best entity score passes the entity threshold and, with an adjacency layer,
whose adjacency score passes `adjacency_threshold` (default: the entity threshold, as in GLiNER).
Scores are GLiNER's sigmoid outputs (not re-calibrated).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from hybrid_ie.encoder.decoding import PairCandidate
from hybrid_ie.encoder.inference import pick_device
from hybrid_ie.encoder.windowed import SpanEncoder, Thresholds, Window, add_span_candidates
from hybrid_ie.errors import EncoderLoadError, HybridIEError
from hybrid_ie.schema import Schema

SIDECAR_NAME = "hybrid_ie.json"  # our settings stored beside GLiNER's own files
INSTALL_HINT = 'the gliner backend needs the optional extra: pip install "hybrid-ie[gliner]" (gliner==0.2.29)'


class GlinerUnavailable(HybridIEError):
    """The `gliner` package is not installed."""


def gliner_available() -> bool:
    """True when the optional `gliner` package can be imported."""
    try:
        import gliner  # noqa: F401
    except ImportError:
        return False
    return True


def _gliner_class():
    try:
        from gliner import GLiNER
    except ImportError as exc:
        raise GlinerUnavailable(INSTALL_HINT) from exc
    return GLiNER


class GlinerEncoder(SpanEncoder):
    """A GLiNER model (span-level; NER or joint NER + relations) with the `JointEncoder` API."""

    def __init__(
        self,
        model: Any,
        *,
        device: str | torch.device = "auto",
        known_labels: Iterable[str] = (),
        threshold: float = 0.5,
        relation_threshold: float = 0.5,
        adjacency_threshold: float | None = None,
    ):
        if getattr(model.config, "span_mode", "") == "token_level":
            raise EncoderLoadError(
                "token-level GLiNER models are not supported by the gliner backend (span-level only)"
            )
        self.model = model
        self.device = pick_device(device)
        self.model.to(self.device)
        self.model.eval()
        self._known_labels = set(known_labels)
        self.threshold = threshold
        self.relation_threshold = relation_threshold
        self.adjacency_threshold = adjacency_threshold
        # GLiNER truncates inputs longer than config.max_len words: windows stay within it.
        longest = int(getattr(model.config, "max_len", 0) or self.max_window_words)
        self.max_window_words = min(self.max_window_words, longest)
        limit = model.data_processor.transformer_tokenizer.model_max_length
        self.max_tokens = limit if isinstance(limit, int) and 0 < limit <= 100_000 else 512

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls, path_or_id: str | os.PathLike, device: str = "auto", *, known_labels: Iterable[str] | None = None
    ) -> GlinerEncoder:
        """Load a GLiNER checkpoint from a folder (offline) or a hub id (needs network).

        Settings saved by `save_pretrained` (known labels, thresholds) are read from
        `hybrid_ie.json` in the folder when present; `known_labels` overrides them. A checkpoint
        without them has no known labels, so the router treats every label as unseen.
        """
        gliner_cls = _gliner_class()
        path = Path(path_or_id)
        local = path.is_dir()
        try:
            model = gliner_cls.from_pretrained(str(path_or_id), local_files_only=local, map_location="cpu")
        except Exception as exc:  # missing files, offline hub, bad config: all mean "cannot load"
            where = f"{path}" if local else f"{path_or_id!r} (not a local folder; tried the hub)"
            raise EncoderLoadError(
                f"cannot load GLiNER checkpoint {where}: {type(exc).__name__}: {exc}"
            ) from exc
        sidecar: dict[str, Any] = {}
        if local and (path / SIDECAR_NAME).exists():
            try:
                sidecar = json.loads((path / SIDECAR_NAME).read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise EncoderLoadError(f"{path / SIDECAR_NAME}: not valid JSON ({exc.msg})") from exc
        return cls(
            model,
            device=device,
            known_labels=known_labels if known_labels is not None else sidecar.get("known_labels", ()),
            **{k: sidecar[k] for k in ("threshold", "relation_threshold", "adjacency_threshold") if k in sidecar},
        )

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """GLiNER's own files plus `hybrid_ie.json` (known labels and thresholds)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(str(out))
        sidecar = {
            "known_labels": sorted(self._known_labels),
            "threshold": self.threshold,
            "relation_threshold": self.relation_threshold,
            "adjacency_threshold": self.adjacency_threshold,
        }
        (out / SIDECAR_NAME).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        return out

    @property
    def known_labels(self) -> set[str]:
        """Label prompts seen in training (empty for a checkpoint that does not record them)."""
        return set(self._known_labels)

    @property
    def supports_relations(self) -> bool:
        return getattr(self.model.config, "relations_layer", None) is not None

    # -- prediction (`SpanEncoder.predict`) ------------------------------------------------------
    backend = "gliner"

    def relation_prompts(self, schema: Schema) -> list[str]:
        return super().relation_prompts(schema) if self.supports_relations else []

    def _token_count(self, words: Sequence[str], prompts: Sequence[str]) -> int:
        """Sub-tokens of `[CLS] <marker> prompt ... <sep> words [SEP]` (GLiNER's input layout)."""
        tok = self.model.data_processor.transformer_tokenizer
        pieces = (
            tok(list(prompts) + list(words), add_special_tokens=False)["input_ids"]
            if (prompts or words)
            else []
        )
        return 3 + len(prompts) + sum(max(1, len(p)) for p in pieces)

    def _fit(self, windows: list[Window], ent_prompts: list[str], rel_prompts: list[str]) -> bool:
        prompts = ent_prompts + rel_prompts
        return all(self._token_count(w.words, prompts) <= self.max_tokens for w in windows)

    @torch.inference_mode()
    def _score(
        self, windows, schema, ent_prompts, rel_prompts, cut: Thresholds, batch_size, progress
    ) -> None:
        """Span scores of every window; pair scores of the spans passing the entity threshold."""
        todo = sorted((w for w in windows if w.words), key=lambda w: len(w.words))
        batches = self._batches(todo, batch_size, progress, "gliner")
        ent_floor, rel_floor, t_ent = cut.entity_floor, cut.relation_floor, cut.entity
        collator = self.model.create_collator()
        relex = self.supports_relations
        t_adj = t_ent if self.adjacency_threshold is None else self.adjacency_threshold
        ent_names, rel_names = schema.entity_labels, schema.relation_labels
        for batch_windows in batches:
            if not ent_prompts:
                continue
            input_x = [{"tokenized_text": w.words, "ner": None} for w in batch_windows]
            if relex:
                batch = self.model.collate_batch(input_x, ent_prompts, collator, rel_prompts)
            else:
                batch = self.model.collate_batch(input_x, ent_prompts, collator)
            with self._autocast():
                out = self.model.run_batch(batch, threshold=t_ent, adjacency_threshold=t_adj)
            probs = torch.sigmoid(out.logits.float())[..., : len(ent_names)].cpu()  # [B, N, K, C]
            n_words = torch.tensor([len(w.words) for w in batch_windows])
            starts = torch.arange(probs.size(1)).view(1, -1, 1)
            ends = starts + torch.arange(probs.size(2)).view(1, 1, -1)
            valid = ends < n_words.view(-1, 1, 1)
            add_span_candidates(batch_windows, probs.masked_fill(~valid.unsqueeze(-1), -1.0), ent_names, ent_floor)
            if relex and rel_names and getattr(out, "rel_logits", None) is not None:
                self._collect_pairs(batch_windows, out, rel_names, rel_floor)

    @staticmethod
    def _collect_pairs(batch_windows, out, rel_names, rel_floor) -> None:
        """Turn GLiNER's pair logits into PairCandidates with character spans.

        `entity_spans[b]` holds the (start, end inclusive) words of the spans GLiNER paired,
        `rel_idx[b]` index pairs into it; `rel_mask` marks the real pairs (padding is False).
        """
        ent_spans = out.entity_spans.cpu().tolist()
        rel_idx = out.rel_idx.cpu().tolist()
        rel_mask = out.rel_mask.cpu().bool().tolist()
        rel_probs = torch.sigmoid(out.rel_logits.float())[..., : len(rel_names)].cpu()
        for b, w in enumerate(batch_windows):
            n = len(ent_spans[b])
            for p, (h, t) in enumerate(rel_idx[b]):
                if not rel_mask[b][p] or h == t or not (0 <= h < n and 0 <= t < n):
                    continue
                (hs, he), (ts, te) = ent_spans[b][h], ent_spans[b][t]
                if max(he, te) >= len(w.spans):
                    continue
                head = (w.spans[hs][0], w.spans[he][1])
                tail = (w.spans[ts][0], w.spans[te][1])
                for lab, score in enumerate(rel_probs[b, p].tolist()):
                    if score >= rel_floor:
                        w.pairs.append(PairCandidate(head, tail, rel_names[lab], score))


__all__ = ["GlinerEncoder", "GlinerUnavailable", "gliner_available"]
