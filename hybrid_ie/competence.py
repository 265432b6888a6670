"""Per-label competence: what the encoder's answers are worth for each label of this schema on
this corpus, measured during one run.

The contract
------------
`Competence` keeps, per schema type (entity types and relation types apart), how often the
encoder's items agree with a *reference* answer for the same chunk text:

- `observe(encoder, reference)`: one chunk. The reference is the LLM's answer on an escalated
  chunk (a running estimate as a batch job goes) or the gold of a labelled example the user gave
  (`observe_examples`). Items match as the reconciler matches them: an entity by (start, end,
  label), a relation by (head span, tail span, label), a symmetric relation in either order. Per
  label L: ``both`` counts the items of L both sides returned, ``total`` the items of L each side
  returned (so ``2 * both / total`` is their Dice agreement, the F1 of one against the other). A
  relabel ("location" by the encoder, "country" by the LLM, same span) counts against both labels.
- `estimate(L)` is the encoder's F1 on L as seen through a reference whose own F1 is
  ``reference_f1`` (1 for gold; for an LLM the reconciler's `llm_score`, "how good the LLM is"):
  with independent errors the agreement of an encoder of F1 e with a reference of F1 q is about
  ``e * q``, so ``estimate = agreement / q`` clipped to [0, 1]. For relation types the reference
  is taken as ``q ** 2``: a relation is right only when both arguments and the label are (the
  oracle LLMs' relation F1 is about the square of their entity F1). The agreement is shrunk toward the
  pooled agreement of all labels of its kind by `prior_items` pseudo-items, so a label seen once
  does not swing to 0 or 1. Before anything was observed every label is 1.0 (trusted), which
  keeps the reconciler's behaviour of a run without the estimate.
- `trust(L)` = ``min(1, estimate(L) / trusted)``: the weight of the encoder's votes on L in the
  reconciler (`reconcile(..., trust=...)`); 1 for a label the encoder is competent on, so there
  the merge is the plain vote.
- `weak()`: the labels whose estimate is below `weak_below`; the router's ``weak_label`` signal
  (`weak_items`) marks the chunks holding encoder items or plausible candidates of them,
  one signal per item, so under the default rank the chunks with the most such items escalate
  first, and the ``competence`` escalation has the LLM extract those chunks with the whole schema.

Measured on labelled examples (`Competence.measured`): when the user gives a few documents with
gold, the encoder *and* the LLM read them, so both sides are measured per label instead of one
being read through the other. Then `estimate(L)` is the encoder's agreement with gold on L and
`llm_estimate(L)` the LLM's (both shrunk to their pooled values as above); `weak()` is the labels
the LLM does better than the encoder; `trust(L)` = ``min(1, estimate / llm_estimate)`` and
`llm_trust(L)` = ``min(1, llm_estimate / estimate) * llm_estimate / llm_score``: each side's votes
in the reconciler weigh as much as its F1 on L relative to the other side's (the better side's
count fully), and the LLM's votes count its measured F1 on L where they counted `llm_score` (the
user's guess at the LLM; `reference_f1` here). The estimate is fixed for the run (`fixed`):
the agreement on escalated chunks is not observed, since both sides are known.
Why: the agreement with the LLM alone cannot tell which side is wrong where they disagree, and the
LLM's quality is only a number the user gives (`llm_score`); a local LLM weaker than the encoder
on every label then takes the labels it is told are weak and loses them.

How sure each call is: mentions cluster in documents (one sentence listing a dozen airlines can
hold half of a label's mentions), so the unit of sampling is the example document, not the
mention. `measured` also keeps, per label, each example document's paired difference (the LLM's
F1 on that label in the document minus the encoder's; a document where neither side nor the gold
has the label is left out). `side_call(L)` gives the difference of the two estimates beside the
mean of those per-document differences and its standard error; `measure_on_examples` warns about
the labels called weak whose interval of `NOISE_SE` standard errors holds a tie (more labelled
examples would settle them). The calls themselves do not read it (rules that did were measured on
dev splits and not kept: eval/RESULTS.md, "Competence").

The estimate lives on the run's `router.BudgetState` (one per `Extractor.extract_many` call);
the Ray engine runs batches apart, each with its own state, so there each batch estimates from
its own answers. The answers of a batch are all observed before any of them is merged.

Which reference, and why the LLM's agreement and not the encoder's own scores: measured on dev
splits by `eval/bench_competence.py` (eval/RESULTS.md, "Competence"). Sibling-label competition
(`competition_estimate`: the share of a label's kept entities that a candidate of another label
on the same span scores close to) is kept as a diagnostic; labelled examples are the same
`observe` against gold (`observe_examples`).
"""

from __future__ import annotations

import logging
import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema

# Chosen on dev splits with oracle LLMs (eval/bench_competence.py; eval/RESULTS.md, "Competence").
WEAK_BELOW = 0.6  # a label whose estimate is below this is weak: its chunks go to the LLM first
TRUSTED = 0.4  # the estimate at and above which the encoder's votes count fully
PRIOR_ITEMS = 4.0  # pseudo-items of the pooled agreement every label's estimate starts with
RIVAL_RATIO = 0.8  # competition: a rival label scoring at least this share of the kept one's
NOISE_SE = 2.0  # a call is named as noise when a tie is within this many standard errors (about 95%)

ENTITIES, RELATIONS = "entities", "relations"
log = logging.getLogger(__name__)


@dataclass
class _Tally:
    both: float = 0.0
    total: float = 0.0


def _entity_keys(doc: Document) -> set[tuple[int, int, str]]:
    return {(e.start, e.end, e.label) for e in doc.entities}


def _relation_keys(doc: Document, symmetric: set[str]) -> set[tuple[tuple[int, int], tuple[int, int], str]]:
    ents = doc.entity_map()
    keys = set()
    for r in doc.relations:
        head, tail = ents[r.head].span, ents[r.tail].span
        if r.label in symmetric and tail < head:
            head, tail = tail, head
        keys.add((head, tail, r.label))
    return keys


def _keys(doc: Document, symmetric: set[str]) -> dict[str, set[tuple]]:
    """{kind: the item keys of `doc`} as the reconciler matches items."""
    return {ENTITIES: _entity_keys(doc), RELATIONS: _relation_keys(doc, symmetric)}


def _counts(mine: set[tuple], reference: set[tuple]) -> dict[str, _Tally]:
    """Per label (a key's last field): the items both sides returned and the items each returned."""
    out: dict[str, _Tally] = {}
    for key in mine | reference:
        tally = out.setdefault(key[-1], _Tally())
        tally.total += (key in mine) + (key in reference)
        tally.both += key in mine and key in reference
    return out


def _dice(tally: _Tally | None) -> float:
    """One document's F1 on one label; 1 when neither side has any of it (nothing is wrong)."""
    return 1.0 if tally is None or not tally.total else 2.0 * tally.both / tally.total


def paired_differences(
    schema: Schema, encoder_docs: Sequence[Document], llm_docs: Sequence[Document], gold: Sequence[Document]
) -> dict[str, dict[str, list[float]]]:
    """{kind: {label: [the LLM's F1 minus the encoder's, per example document]}}, over the
    documents where the gold or either side has the label."""
    out: dict[str, dict[str, list[float]]] = {ENTITIES: {}, RELATIONS: {}}
    symmetric = schema.symmetric_relations
    for enc, llm, ref in zip(encoder_docs, llm_docs, gold, strict=True):
        e, q, g = _keys(enc, symmetric), _keys(llm, symmetric), _keys(ref, symmetric)
        for kind, table in out.items():
            enc_counts, llm_counts = _counts(e[kind], g[kind]), _counts(q[kind], g[kind])
            for label in enc_counts.keys() | llm_counts.keys():
                table.setdefault(label, []).append(_dice(llm_counts.get(label)) - _dice(enc_counts.get(label)))
    return out


def standard_error(values: Sequence[float]) -> float | None:
    """The standard error of the mean of `values`; None under two values."""
    return statistics.stdev(values) / len(values) ** 0.5 if len(values) >= 2 else None


@dataclass
class Competence:
    """The running per-label estimate of one run (see the module docstring)."""

    schema: Schema
    reference_f1: float = 1.0
    weak_below: float = WEAK_BELOW
    trusted: float = TRUSTED
    prior_items: float = PRIOR_ITEMS
    tallies: dict[str, dict[str, _Tally]] = field(default_factory=lambda: {ENTITIES: {}, RELATIONS: {}})
    chunks: int = 0
    llm_tallies: dict[str, dict[str, _Tally]] | None = None  # the LLM against gold (`measured`)
    paired: dict[str, dict[str, list[float]]] | None = None  # per example document (`paired_differences`)

    @classmethod
    def measured(
        cls,
        schema: Schema,
        encoder_docs: Sequence[Document],
        llm_docs: Sequence[Document],
        gold: Sequence[Document],
        **settings: Any,
    ) -> Competence:
        """Both sides measured on labelled examples: the encoder's and the LLM's Documents for
        the examples' texts, against their gold (all three in the same order)."""
        encoder = cls(schema, **settings)
        encoder.observe_examples(encoder_docs, gold)
        llm = cls(schema, **settings)
        llm.observe_examples(llm_docs, gold)
        encoder.llm_tallies = llm.tallies
        encoder.paired = paired_differences(schema, encoder_docs, llm_docs, gold)
        return encoder

    @property
    def fixed(self) -> bool:
        """True when measured on labelled examples: the run does not observe its own answers."""
        return self.llm_tallies is not None

    def __post_init__(self) -> None:
        if not 0.0 < self.reference_f1 <= 1.0:
            raise ValueError(f"reference_f1 must be in (0, 1], got {self.reference_f1}")
        for label in self.schema.entity_labels:
            self.tallies[ENTITIES].setdefault(label, _Tally())
        for label in self.schema.relation_labels:
            self.tallies[RELATIONS].setdefault(label, _Tally())

    # -- observations ------------------------------------------------------------------------
    def observe(self, encoder: Document, reference: Document) -> None:
        """Count one chunk's agreement per label (the two Documents cover the same text)."""
        self.chunks += 1
        symmetric = self.schema.symmetric_relations
        enc, ref = _keys(encoder, symmetric), _keys(reference, symmetric)
        for kind, table in self.tallies.items():
            for label, counts in _counts(enc[kind], ref[kind]).items():
                tally = table.setdefault(label, _Tally())
                tally.total += counts.total
                tally.both += counts.both

    def observe_examples(self, encoder_docs: Sequence[Document], gold: Sequence[Document]) -> None:
        """Labelled examples: the encoder's Documents for their texts against their gold."""
        for enc, ref in zip(encoder_docs, gold, strict=True):
            self.observe(enc, ref)

    # -- estimates (`kind`: ENTITIES or RELATIONS; an entity and a relation type may share a name)
    def pooled(self, kind: str, tallies: dict[str, dict[str, _Tally]] | None = None) -> float | None:
        """The agreement of all labels of `kind` together; None before any item was seen."""
        table = (self.tallies if tallies is None else tallies)[kind]
        both = sum(t.both for t in table.values())
        total = sum(t.total for t in table.values())
        return 2.0 * both / total if total else None

    def agreement(self, label: str, kind: str = ENTITIES, tallies: dict[str, dict[str, _Tally]] | None = None) -> float | None:
        """The label's Dice agreement, shrunk toward its kind's pooled agreement."""
        pooled = self.pooled(kind, tallies)
        if pooled is None:
            return None
        tally = (self.tallies if tallies is None else tallies)[kind].get(label, _Tally())
        return (2.0 * tally.both + pooled * 2.0 * self.prior_items) / (tally.total + 2.0 * self.prior_items)

    def estimate(self, label: str, kind: str = ENTITIES) -> float:
        agreement = self.agreement(label, kind)
        if self.fixed:  # measured against gold
            return 1.0 if agreement is None else agreement
        reference = self.reference_f1 if kind == ENTITIES else self.reference_f1**2
        return 1.0 if agreement is None else min(1.0, agreement / reference)

    def llm_estimate(self, label: str, kind: str = ENTITIES) -> float | None:
        """The LLM's F1 on `label` measured on the examples (None when not `measured`)."""
        if self.llm_tallies is None:
            return None
        agreement = self.agreement(label, kind, self.llm_tallies)
        return 0.0 if agreement is None else agreement

    def trust(self, label: str, kind: str = ENTITIES) -> float:
        if self.fixed:
            llm = self.llm_estimate(label, kind) or 0.0
            return 1.0 if llm <= 0 else min(1.0, self.estimate(label, kind) / llm)
        return min(1.0, self.estimate(label, kind) / self.trusted) if self.trusted > 0 else 1.0

    def llm_trust(self, label: str, kind: str = ENTITIES) -> float:
        """The weight of the LLM's votes on `label`: measured, ``min(1, llm_estimate / estimate) *
        llm_estimate / reference_f1`` (the reconciler multiplies `llm_score` by it, so the LLM's
        votes count its measured F1); else 1 (the reconciler's `llm_score` alone)."""
        if not self.fixed:
            return 1.0
        encoder, llm = self.estimate(label, kind), self.llm_estimate(label, kind) or 0.0
        relative = 1.0 if encoder <= 0 else min(1.0, llm / encoder)
        return relative * llm / self.reference_f1  # the LLM's votes count its measured F1, not llm_score

    def side_call(self, label: str, kind: str = ENTITIES) -> dict[str, Any] | None:
        """How sure the examples' call on `label` is (None when not `measured`): ``difference``
        (the LLM's estimate minus the encoder's, what the calls use), ``per_document`` (the mean of
        the per-document differences) with ``se`` (its standard error; None under two documents)
        and ``documents`` (how many had the label)."""
        if self.paired is None:
            return None
        diffs = self.paired.get(kind, {}).get(label, [])
        se = standard_error(diffs)
        return {"difference": round((self.llm_estimate(label, kind) or 0.0) - self.estimate(label, kind), 4),
                "per_document": round(sum(diffs) / len(diffs), 4) if diffs else None,
                "se": None if se is None else round(se, 4), "documents": len(diffs)}  # fmt: skip

    def describe_weak(self) -> str:
        """The weak labels for a status line, each with both sides' estimates and how sure the
        call is: ``Org (LLM 0.88 vs encoder 0.62; per document +0.20 ± 0.13 over 12 documents)``."""
        parts = []
        for kind, labels in self.weak().items():
            for label, estimate in labels.items():
                call = self.side_call(label, kind) or {}
                per_doc = "" if call.get("se") is None else f"; per document {call['per_document']:+.2f} ± {call['se']:.2f}"
                parts.append(f"{label} (LLM {self.llm_estimate(label, kind) or 0.0:.2f} vs encoder {estimate:.2f}"
                             f"{per_doc} over {call.get('documents', 0)} documents)")  # fmt: skip
        return ", ".join(parts) or "no label"

    def within_noise(self) -> list[str]:
        """The labels called weak whose mean per-document difference is within `NOISE_SE`
        standard errors of a tie (or that fewer than two example documents had)."""
        out = []
        for kind, labels in self.weak().items():
            for label in labels:
                call = self.side_call(label, kind)
                if call is not None and (call["se"] is None or call["per_document"] <= NOISE_SE * call["se"]):
                    out.append(label)
        return out

    def llm_trust_map(self) -> dict[str, dict[str, float]] | None:
        """{kind: {label: llm_trust}} when measured (`reconcile(llm_trust=...)`), else None."""
        if not self.fixed:
            return None
        return {kind: {label: self.llm_trust(label, kind) for label in table} for kind, table in self.tallies.items()}

    def trust_map(self) -> dict[str, dict[str, float]]:
        """{kind: {label: trust}} for every label seen or in the schema (`reconcile(trust=...)`)."""
        return {kind: {label: self.trust(label, kind) for label in table} for kind, table in self.tallies.items()}

    def weak(self) -> dict[str, dict[str, float]]:
        """{kind: {label: estimate}} of the labels whose estimate is below `weak_below` (measured:
        the labels the LLM does better than the encoder)."""
        estimates = {kind: {label: self.estimate(label, kind) for label in table} for kind, table in self.tallies.items()}
        if self.fixed:
            return {kind: {label: e for label, e in table.items() if e < (self.llm_estimate(label, kind) or 0.0)}
                    for kind, table in estimates.items()}  # fmt: skip
        return {kind: {label: e for label, e in table.items() if e < self.weak_below} for kind, table in estimates.items()}

    def to_meta(self) -> dict[str, Any]:
        """What a report shows: chunks observed, and per label its counts, estimate and trust."""
        def row(label: str, kind: str, t: _Tally) -> dict[str, Any]:
            out = {"both": t.both, "total": t.total, "estimate": round(self.estimate(label, kind), 4),
                   "trust": round(self.trust(label, kind), 4)}  # fmt: skip
            if self.fixed:
                out["llm_estimate"] = round(self.llm_estimate(label, kind) or 0.0, 4)
                out["llm_trust"] = round(self.llm_trust(label, kind), 4)
                out.update(self.side_call(label, kind) or {})
            return out

        return {
            "chunks": self.chunks,
            "reference_f1": 1.0 if self.fixed else self.reference_f1,
            "measured": self.fixed,
            **{kind: {label: row(label, kind, t) for label, t in table.items()} for kind, table in self.tallies.items()},
        }


def check_labelled(examples: Iterable[Document], schema: Schema) -> list[Document]:
    """Labelled examples as a list: Documents (their gold read as such), every label a type of
    `schema`; anything else is an `InputError` naming the example."""
    examples = list(examples)
    if not examples:
        raise InputError("examples: the list is empty (give labelled Documents, or None)")
    for i, doc in enumerate(examples):
        if not isinstance(doc, Document):
            raise InputError(f"examples[{i}]: expected a Document with gold entities, got {type(doc).__name__}")
        labels = {e.label for e in doc.entities} - set(schema.entity_labels)
        labels |= {r.label for r in doc.relations} - set(schema.relation_labels)
        if labels:
            raise InputError(f"examples[{i}] ({doc.id!r}): labels {sorted(labels)} are not in the schema {schema.name!r}")
    return examples


def draw_examples(pool: Sequence[Document], n: int, seed: int) -> list[Document]:
    """`n` documents of `pool` drawn at random with `seed` (in pool order), ids prefixed
    ``example-``: a user's few labelled documents of a corpus, as the benchmarks take them."""
    picked = sorted(random.Random(seed).sample(range(len(pool)), min(n, len(pool))))
    return [pool[i].model_copy(update={"id": f"example-{pool[i].id}"}) for i in picked]


def measure_on_examples(
    schema: Schema, examples: Sequence[Document], encoder_docs: Sequence[Document], llm_docs: Sequence[Document],
    llm_score: float = 1.0,
) -> Competence | None:
    """`Competence.measured` on the examples neither side failed on (the others are named in a
    warning), with `llm_score` (the reconciler's) as its `reference_f1`; None when none is left.
    Labels no example mentions are named in a warning: their estimates are each side's pooled F1."""
    ok = [i for i, (e, m) in enumerate(zip(encoder_docs, llm_docs, strict=True)) if not (e.error or m.error)]
    if len(ok) < len(examples):
        kept = set(ok)
        failed = [d.id for i, d in enumerate(examples) if i not in kept]
        log.warning("labelled examples %s left out of the competence measurement: a side failed on them", failed)
    if not ok:
        return None
    gold = [examples[i] for i in ok]
    named = {e.label for d in gold for e in d.entities} | {r.label for d in gold for r in d.relations}
    unseen = [lab for lab in (*schema.entity_labels, *schema.relation_labels) if lab not in named]
    if unseen:
        log.warning("no labelled example mentions %s: their competence is each side's pooled F1", unseen)
    measured = Competence.measured(schema, [encoder_docs[i] for i in ok], [llm_docs[i] for i in ok], gold,
                                   reference_f1=llm_score)  # fmt: skip
    noisy = measured.within_noise()
    if noisy:
        log.warning("the examples call %s weak within %g standard errors of a tie (per-document differences): "
                    "more labelled examples would settle them", noisy, NOISE_SE)  # fmt: skip
    return measured


def competition_estimate(docs: Iterable[Document], ratio: float = RIVAL_RATIO) -> dict[str, float]:
    """Sibling-label competition, from the encoder's output alone: per entity label, 1 minus the
    share of its kept entities on whose span a candidate of another label scores at least
    `ratio` of the kept score (`meta["encoder"]["candidates"]`). Labels never kept are absent."""
    kept: dict[str, int] = {}
    rivalled: dict[str, int] = {}
    for doc in docs:
        rivals: dict[tuple[int, int], list[tuple[str, float]]] = {}
        for c in doc.meta.get("encoder", {}).get("candidates", []):
            rivals.setdefault((int(c["start"]), int(c["end"])), []).append((str(c["label"]), float(c["score"])))
        for e in doc.entities:
            score = 1.0 if e.score is None else e.score
            kept[e.label] = kept.get(e.label, 0) + 1
            if any(label != e.label and s >= ratio * score for label, s in rivals.get(e.span, [])):
                rivalled[e.label] = rivalled.get(e.label, 0) + 1
    return {label: 1.0 - rivalled.get(label, 0) / n for label, n in kept.items()}


def weak_items(chunk: Document, weak: Mapping[str, Mapping[str, float]], entity_band: float) -> list[tuple[float, str]]:
    """(estimate, what) of the chunk's encoder items of weak labels (`weak` as `Competence.weak()`
    gives it): kept entities, candidates scored within `entity_band` below their cut-off or
    above it, and kept relations."""
    ents_weak, rels_weak = weak.get(ENTITIES, {}), weak.get(RELATIONS, {})
    if not ents_weak and not rels_weak:
        return []
    info = chunk.meta.get("encoder", {})
    cut = float(info.get("threshold", 0.5))
    own: Mapping[str, float] = info.get("label_thresholds") or {}
    items = [(ents_weak[e.label], f"{e.text!r} {e.label}") for e in chunk.entities if e.label in ents_weak]
    items += [(ents_weak[c["label"]], f"{c['text']!r} {c['label']} (candidate)")
              for c in info.get("candidates", [])
              if c["label"] in ents_weak and float(c["score"]) >= float(own.get(c["label"], cut)) - entity_band]  # fmt: skip
    ents = chunk.entity_map()
    items += [(rels_weak[r.label], f"{ents[r.head].text!r} {r.label} {ents[r.tail].text!r}")
              for r in chunk.relations if r.label in rels_weak]  # fmt: skip
    return items


__all__ = [
    "NOISE_SE",
    "PRIOR_ITEMS",
    "RIVAL_RATIO",
    "TRUSTED",
    "WEAK_BELOW",
    "Competence",
    "check_labelled",
    "competition_estimate",
    "draw_examples",
    "measure_on_examples",
    "paired_differences",
    "standard_error",
    "weak_items",
]
