"""What every span encoder backend shares: windows, the `predict` contract, Document building.

A backend (`JointEncoder`, `GlinerEncoder`) only says whether windows fit its network (`_fit`)
and how to score them (`_score`: fill each window's span and pair candidates with global
character offsets); `SpanEncoder._windows` cuts long texts into overlapping word windows,
halving the window until every one fits, so nothing is ever truncated. `SpanEncoder.predict`
does the rest the same way for all: ids, thresholds, merging the windows of a text (same span
-> highest score), decoding (`hybrid_ie.encoder.decoding`), and the Document with its near-miss
candidates in `meta["encoder"]`, which the router reads. Label prompt sets too long for one
input run in label groups (`hybrid_ie.encoder.label_groups`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import torch

from hybrid_ie.chunking import span_end_before_closing_period, word_spans, word_windows
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.encoder.api import FieldAPI
from hybrid_ie.encoder.decoding import (
    PairCandidate,
    SpanCandidate,
    best_per_pair,
    best_per_span,
    decode_entities,
    decode_relations,
)
from hybrid_ie.encoder.label_groups import grouped_windows, needs_groups
from hybrid_ie.errors import HybridIEError
from hybrid_ie.labels.hierarchy import general_labels
from hybrid_ie.schema import Schema, prompt_key
from hybrid_ie.tiers import CANDIDATE_FLOOR, ENCODER_BATCH_SIZE


@dataclass
class Window:
    """One network input: the words of (part of) a text with global character spans, and the
    span and pair candidates scored in it."""

    text_index: int
    spans: list[tuple[int, int]]
    words: list[str]
    encoded: Any = None
    entities: list[SpanCandidate] = field(default_factory=list)
    pairs: list[PairCandidate] = field(default_factory=list)


@dataclass(frozen=True)
class Thresholds:
    """The cut-offs of one `predict` call; candidates in [floor, cut-off) become near misses."""

    entity: float
    relation: float
    nested: bool
    floor: float
    per_label: dict[str, float] = field(default_factory=dict)  # entity type name -> its own cut-off
    general: Mapping[str, frozenset[str]] = field(default_factory=dict)  # type name -> the offered types above it

    def entity_for(self, label: str) -> float:
        """The entity cut-off of one type: its own where it has one, else `entity`."""
        return self.per_label.get(label, self.entity)

    @property
    def entity_floor(self) -> float:
        return min(self.floor, self.entity, *self.per_label.values())

    @property
    def relation_floor(self) -> float:
        return min(self.floor, self.relation)


class SpanEncoder(FieldAPI):
    """Base of the encoder backends: the shared `predict` (and over it the field's API,
    `hybrid_ie.encoder.api`: `predict_entities`, `predict_relations`, `batch_predict`); subclasses set `backend`, `device`,
    `threshold`, `relation_threshold`, `max_window_words`, `max_tokens` and implement `_fit`,
    `_score`."""

    backend = "span"
    device: torch.device
    threshold: float  # default entity cut-off of `predict`
    relation_threshold: float  # default relation cut-off
    label_thresholds: Mapping[str, float] = MappingProxyType({})  # prompt (lower case) -> own cut-off
    max_window_words: int = 200  # longest window tried first
    window_stride: int | None = None  # words between window starts (default: half a window)
    max_tokens: int  # the network's maximum input length, label prompts included

    precision = "auto"  # autocast dtype, see `_autocast`
    quantization = "none"  # "int8" once `quantize("int8")` ran (JointEncoder only)

    def quantize(self, mode: str) -> SpanEncoder:
        """int8 inference on CPU (`hybrid_ie.encoder.quantize`); this backend has none."""
        from hybrid_ie.encoder.quantize import QuantizeError, check_mode

        if check_mode(mode) != "none":
            raise QuantizeError(
                f"the {self.backend} encoder backend does not support --quantize {mode} (only the joint "
                "encoder, hybrid_ie.encoder.JointEncoder, does)"
            )
        return self

    def relation_prompts(self, schema: Schema) -> list[str]:
        return [t.prompt for t in schema.relation_types]

    def predict(
        self,
        texts: Sequence[str],
        schema: Schema,
        *,
        ids: Sequence[str] | None = None,
        threshold: float | None = None,
        relation_threshold: float | None = None,
        nested: bool = False,
        batch_size: int = ENCODER_BATCH_SIZE,
        candidate_floor: float = CANDIDATE_FLOOR,
        progress: bool | Callable[[int], None] = False,
        specific_labels: bool = True,
    ) -> list[Document]:
        """Extract the schema's entities and relations from each text.

        Returns one Document per text (source "encoder", scores in [0, 1], labels = type
        names); `meta["encoder"]` holds the backend, the thresholds, the near-miss candidates
        scored in [candidate_floor, threshold) or dropped by overlap decoding, and the window
        count. Without `threshold`, entity types whose prompt has its own threshold in the
        checkpoint (`label_thresholds`) use it; an explicit `threshold` applies to every type.
        `progress`: True for a tqdm bar over the batches; a callable is called with the number
        of texts each batch finished (every text once, after its last window).
        `specific_labels`: where labels of several grains pass their cut-offs on one span, the
        most specific offered one wins ("politician" over "person", anything over a catch-all;
        `hybrid_ie.labels.hierarchy.offered_ancestors`); False: the highest score wins.
        """
        texts = list(texts)
        if ids is None:
            ids = [f"doc-{i}" for i in range(len(texts))]
        elif len(ids) != len(texts):
            raise ValueError(f"got {len(ids)} ids for {len(texts)} texts")
        per_label = {}
        if threshold is None:
            own = {prompt_key(k): v for k, v in self.label_thresholds.items()}
            per_label = {t.name: own[prompt_key(t.prompt)] for t in schema.entity_types if prompt_key(t.prompt) in own}
        cut = Thresholds(
            entity=self.threshold if threshold is None else threshold,
            relation=self.relation_threshold if relation_threshold is None else relation_threshold,
            nested=nested,
            floor=candidate_floor,
            per_label=per_label,
            general=general_labels(schema) if specific_labels else {},
        )
        ent_prompts = [t.prompt for t in schema.entity_types]
        rel_prompts = self.relation_prompts(schema)
        if needs_groups(self, ent_prompts, rel_prompts):  # too many labels for one input: label groups
            bar = progress if isinstance(progress, bool) else False

            def score(windows: list[Window], part: Schema, ents: list[str], rels: list[str]) -> None:
                self._score(windows, part, ents, rels, cut, batch_size, bar)

            windows = grouped_windows(self, texts, schema, cut, score)
            if callable(progress):
                progress(len(texts))  # the texts are done when every group's pass is
        else:
            windows = [
                w for i, text in enumerate(texts) for w in self._windows(i, text, ent_prompts, rel_prompts)
            ]
            if callable(progress):
                progress = _texts_done(windows, len(texts), progress)
            self._score(windows, schema, ent_prompts, rel_prompts, cut, batch_size, progress)
        per_text: list[list[Window]] = [[] for _ in texts]
        for w in windows:
            per_text[w.text_index].append(w)
        return [
            build_document(doc_id, text, schema, per_text[i], cut, backend=self.backend)
            for i, (doc_id, text) in enumerate(zip(ids, texts, strict=True))
        ]

    def _windows(self, index: int, text: str, ent_prompts: list[str], rel_prompts: list[str]) -> list[Window]:
        """Word windows of the text with global spans, halved until every one fits (`_fit`)."""
        max_words = self.max_window_words
        n_words = len(word_spans(text))
        while True:
            if n_words <= max_words:
                pieces = [(0, text)]
            else:
                stride = min(self.window_stride or max(1, max_words // 2), max_words)
                pieces = [(c.start, c.text) for c in word_windows(text, max_words, stride)]
            windows = []
            for offset, piece in pieces:
                spans = [(s + offset, e + offset) for s, e in word_spans(piece)]
                windows.append(Window(index, spans, [text[s:e] for s, e in spans]))
            if self._fit(windows, ent_prompts, rel_prompts):
                return windows
            if max_words <= 1:
                raise HybridIEError(
                    f"text {index}: the schema's label prompts alone exceed the encoder's maximum length "
                    f"({self.max_tokens} tokens)"
                )
            max_words = max(1, max_words // 2)

    def _fit(self, windows: list[Window], ent_prompts: list[str], rel_prompts: list[str]) -> bool:
        """True when every window, with the label prompts, fits the network (may fill `encoded`)."""
        raise NotImplementedError

    def _score(
        self,
        windows: list[Window],
        schema: Schema,
        ent_prompts: list[str],
        rel_prompts: list[str],
        cut: Thresholds,
        batch_size: int,
        progress: bool | Callable[[list], None],
    ) -> None:
        raise NotImplementedError

    def _autocast(self):
        """Autocast by `precision`: "auto" is bf16 on CUDA and full precision on CPU; "fp32",
        "bf16", "fp16" force one (eval/bench_encoder.py --dtype)."""
        dtype = PRECISIONS[self.precision]
        if self.precision == "auto":
            dtype = torch.bfloat16 if self.device.type == "cuda" else None
        if dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=dtype)

    @staticmethod
    def _batches(
        items: list, batch_size: int, progress: bool | Callable[[list], None], desc: str,
        lengths: Sequence[int] | None = None,
    ) -> Iterable[list]:  # fmt: skip
        """Consecutive batches of at most `batch_size` items; with `lengths` (one per item, items
        sorted by it) see `length_batches`."""
        if lengths is None:
            batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        else:
            batches = [[items[i] for i in b] for b in length_batches(lengths, batch_size)]
        if callable(progress):
            return _reporting(batches, progress)
        if progress:
            from tqdm import tqdm

            return tqdm(batches, desc=desc, unit="batch")
        return batches


def add_span_candidates(windows: Sequence[Window], probs: torch.Tensor, names: Sequence[str], floor: float) -> None:
    """Add to each window its spans scored at least `floor`: `probs` [window, start word, width,
    label] (below 0 where a span runs past the window's words), labels named by `names`."""
    hits = probs >= floor
    for (b, start, width, label), score in zip(hits.nonzero().tolist(), probs[hits].tolist(), strict=True):
        w = windows[b]
        w.entities.append(SpanCandidate(w.spans[start][0], w.spans[start + width][1], names[label], score))


def _reporting(batches: list, report: Callable[[list], None]) -> Iterator[list]:
    """The batches, each passed to `report` once the caller has processed it."""
    for batch in batches:
        yield batch
        report(batch)


def _texts_done(windows: list[Window], n_texts: int, report: Callable[[int], None]) -> Callable[[list], None]:
    """A batch reporter (items: windows or their indices) that tells `report` how many texts
    the batch finished; texts without a word to score are reported at once."""
    left = Counter(w.text_index for w in windows if w.words)
    if n_texts - len(left):
        report(n_texts - len(left))

    def done(batch: list) -> None:
        finished = 0
        for item in batch:
            window = item if isinstance(item, Window) else windows[item]
            left[window.text_index] -= 1
            finished += left[window.text_index] == 0
        if finished:
            report(finished)

    return done


PRECISIONS = {"auto": None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
PAD_SLACK = 0.05  # padding allowed per batch, as a fraction of its real tokens


def length_batches(lengths: Sequence[int], batch_size: int, slack: float = PAD_SLACK) -> list[list[int]]:
    """Batches (lists of positions) over items sorted by ascending length: a batch closes at
    `batch_size` items, or early when padding every item to the next one's length would add
    more than `slack` of the batch's real tokens (the network pays for padded tokens)."""
    batches: list[list[int]] = []
    current: list[int] = []
    real = 0
    for i, n in enumerate(lengths):
        if current and (len(current) == batch_size or (len(current) + 1) * n > (1 + slack) * (real + n)):
            batches.append(current)
            current, real = [], 0
        current.append(i)
        real += n
    if current:
        batches.append(current)
    return batches


def build_document(
    doc_id: str, text: str, schema: Schema, windows: list[Window], cut: Thresholds, *, backend: str
) -> Document:
    """Merge a text's windows, decode them, and build its Document with the near-miss candidates.
    A span that ends in a sentence's closing period glued to its last word ends before it
    (`chunking.span_end_before_closing_period`), in its pairs too."""

    def trimmed(span: tuple[int, int]) -> tuple[int, int]:
        return span[0], span_end_before_closing_period(text, *span)

    spans = best_per_span(replace(c, end=span_end_before_closing_period(text, c.start, c.end))
                          for w in windows for c in w.entities)  # fmt: skip
    accepted, dropped = decode_entities(spans, cut.entity, nested=cut.nested, label_thresholds=cut.per_label,
                                        general=cut.general)  # fmt: skip
    ids = {c.span: f"E{i}" for i, c in enumerate(accepted, start=1)}
    labels = {c.span: c.label for c in accepted}
    pairs = best_per_pair(replace(c, head=trimmed(c.head), tail=trimmed(c.tail)) for w in windows for c in w.pairs)
    rules = {"allows": schema.allows, "symmetric": schema.symmetric_relations}
    kept = decode_relations(pairs, labels, cut.relation, **rules)
    near_pairs = decode_relations([c for c in pairs if c.score < cut.relation], labels, cut.floor, **rules)
    near = sorted(
        [c for c in spans if cut.floor <= c.score < cut.entity_for(c.label)] + dropped,
        key=lambda c: (c.start, c.end, c.label),
    )
    return Document(
        id=doc_id,
        text=text,
        entities=[
            make_entity(text, c.start, c.end, c.label, id=ids[c.span], score=_unit(c.score), source="encoder")
            for c in accepted
        ],
        relations=[
            Relation(
                head=ids[c.head], tail=ids[c.tail], label=c.label, score=_unit(c.score), source="encoder"
            )
            for c in kept
        ],
        meta={
            "encoder": {
                "backend": backend,
                "threshold": cut.entity,
                "label_thresholds": dict(cut.per_label),
                "relation_threshold": cut.relation,
                "candidates": [
                    {
                        "start": c.start,
                        "end": c.end,
                        "text": text[c.start : c.end],
                        "label": c.label,
                        "score": _unit(c.score),
                    }
                    for c in near
                ],
                "relation_candidates": [
                    {"head": list(c.head), "tail": list(c.tail), "label": c.label, "score": _unit(c.score)}
                    for c in near_pairs
                ],
                "windows": len(windows),
            }
        },
    )


def _unit(x: float) -> float:
    return float(min(1.0, max(0.0, x)))


__all__ = ["SpanEncoder", "Thresholds", "Window", "add_span_candidates", "build_document", "length_batches"]
