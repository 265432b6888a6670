"""The router: which chunks go to the LLM, and why.

For every chunk the encoder has read, `route_chunk` collects *signals* that the encoder's answer
may be wrong, each with an uncertainty in (0, 1]:

==========================  ================================================================  =========================
reason                      when                                                              uncertainty
==========================  ================================================================  =========================
``entity_near_threshold``   an entity kept with score in [t, t + band), or a candidate in      ``1 - |score - t| / band``
                            [t - band, t) (t = the encoder's entity threshold)
``relation_near_threshold`` the same for relations and relation candidates (relation t)        ``1 - |score - t| / band``
``overlap``                 a plausible candidate (score >= t - band) competes with a kept     ``min(s1, s2) / max(s1, s2)``
                            entity: same span with another label, crossing spans, or nested
                            spans when decoding is flat
``unknown_label``           a schema type whose prompt is far from every prompt the encoder    ``1 - similarity``
                            saw in training: cosine similarity of the prompt embeddings below
                            ``min_label_similarity`` (exact-match only for encoders that cannot
                            embed prompts)
``type_violation``          an encoder relation whose label or argument types the schema       ``1.0``
                            does not allow
``empty_long_chunk``        no entity in a chunk of at least ``empty_min_words`` words         ``0.5``
``weak_label``              (``competence`` escalation) an encoder item (kept entity or        ``1 - estimate``
                            relation, or a candidate within the band) of a label the run's
                            `hybrid_ie.competence.Competence` estimates weak; one per item
``always``                  the policy escalates every chunk (``RoutingPolicy.always()``)      ``0.0``
==========================  ================================================================  =========================

A chunk's *uncertainty* is the largest uncertainty of its signals (0 with none). A chunk with at
least one signal *wants* to escalate; `apply_budget` then lets the highest-ranked ones through.
The rank (``RoutingPolicy.rank``) is by default ``"signals"``: the chunk with more signals first
(each uncertain entity, relation or overlap counts), then the more uncertain one; ``"uncertainty"``
ranks by the largest uncertainty first, then the number of signals (the former default). The
default is the rank whose escalated chunks hold the larger share of the encoder's errors (error
capture: `hybrid_ie.benchmark.capture`, `eval/router_capture.sh`): on the dev splits, at budget
0.2 the chunks ranked by signals hold 2.04x (conll04) and 1.94x (scierc) the share of encoder
errors that random chunks hold, against 1.51x and 1.42x by uncertainty. Over a run at most
``floor(budget * chunks seen)`` chunks escalate, and each batch gets the slots its own chunks add
(``floor(budget * (seen + n)) - floor(budget * seen)``), so a batch never borrows unused slots of
an earlier one. A token cap (``max_llm_tokens`` per batch) is enforced by the pipeline while it
calls the LLM in this order. Budget 0 means no chunk ever reaches the LLM.

What the LLM is asked for an escalated chunk, and how its answer merges with the encoder's, is
one choice: the `Escalation` (``RoutingPolicy.escalation``; `Escalation.task`, `Escalation.merge`):

=======================  ===========================================================================
``verify`` (default)     the LLM verifies the encoder's candidates; the reconcile strategy merges
``extract``              the LLM extracts every escalated chunk from scratch with the whole schema;
                         the reconcile strategy merges
``extract-unfamiliar``   a chunk escalated for ``empty_long_chunk`` is extracted with the whole
                         schema, one escalated for ``unknown_label`` with only the unfamiliar types
                         (plus the argument types of unfamiliar relations), and merged by union, so
                         the LLM's items add to the encoder's. Other chunks: verify
``verify-no-add``        verify, and the answer's items that were not among the candidates shown
                         are discarded (`reconcile.only_candidates`): the LLM may drop or relabel,
                         never add
``competence``           the run keeps a per-label competence estimate (`hybrid_ie.competence`):
                         chunks holding items of weak labels escalate first (``weak_label``) and
                         are extracted with the whole schema (so are ``empty_long_chunk`` ones),
                         others verified; the vote weighs the encoder per label by its trust
                         (with labelled examples, `Extractor(examples=...)`, both sides are
                         measured and each side's votes weigh by its F1 relative to the other's)
=======================  ===========================================================================

Verify cannot add an entity the encoder never proposed; ``extract-unfamiliar`` can. The default
stays ``verify``: neither ``eval/bench_escalation.py`` nor ``eval/bench_competence.py`` (which
costs conll04 points against it with oracle LLMs; eval/RESULTS.md, "Competence") picked another.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hybrid_ie.chunking import word_spans
from hybrid_ie.competence import weak_items
from hybrid_ie.document import Document, clashes
from hybrid_ie.errors import InputError
from hybrid_ie.reconcile import only_candidates, reconcile
from hybrid_ie.schema import Schema, prompt_key
from hybrid_ie.tiers import EncoderTier

ENTITY_NEAR_THRESHOLD = "entity_near_threshold"
RELATION_NEAR_THRESHOLD = "relation_near_threshold"
OVERLAP = "overlap"
UNKNOWN_LABEL = "unknown_label"
TYPE_VIOLATION = "type_violation"
EMPTY_LONG_CHUNK = "empty_long_chunk"
WEAK_LABEL = "weak_label"
ALWAYS = "always"
REASONS = (
    ENTITY_NEAR_THRESHOLD,
    RELATION_NEAR_THRESHOLD,
    OVERLAP,
    UNKNOWN_LABEL,
    TYPE_VIOLATION,
    EMPTY_LONG_CHUNK,
    WEAK_LABEL,
    ALWAYS,
)

RANKS = ("signals", "uncertainty")
ESCALATIONS = ("verify", "extract", "extract-unfamiliar", "verify-no-add", "competence")

# The share of chunks that may reach the LLM when none is given; under the competence escalation
# with labelled examples that show the LLM better on some label, every chunk (`budget_for`).
DEFAULT_BUDGET = 0.2
MEASURED_WEAK_BUDGET = 1.0

# Skipped-by-budget markers written into meta["route"].
SKIPPED_BUDGET = "budget"
SKIPPED_TOKENS = "token_budget"


@dataclass(frozen=True)
class Escalation:
    """What an escalated chunk asks the LLM (`task`) and how the answer merges with the
    encoder's (`merge`): one of ESCALATIONS, by name (the module table)."""

    name: str = "verify"

    def __post_init__(self) -> None:
        if self.name not in ESCALATIONS:
            raise InputError(f"escalation must be one of {', '.join(ESCALATIONS)}, got {self.name!r}")

    def __str__(self) -> str:
        return self.name

    def task(self, reasons: Sequence[str], schema: Schema, unknown: Sequence[str]) -> tuple[str, Schema]:
        """("extract" | "verify", the schema to ask with) for a chunk escalated for `reasons`;
        `unknown` names the schema types the encoder is unfamiliar with."""
        if self.name == "extract" or (self.name == "competence" and {EMPTY_LONG_CHUNK, WEAK_LABEL} & set(reasons)):
            return "extract", schema
        if self.name == "extract-unfamiliar":
            if EMPTY_LONG_CHUNK in reasons:
                return "extract", schema
            names = [n for n in unknown if n in set(schema.entity_labels) | set(schema.relation_labels)]
            if UNKNOWN_LABEL in reasons and names:
                return "extract", unfamiliar_schema(schema, names)
        return "verify", schema

    def merge(
        self,
        encoder_doc: Document,
        llm_doc: Document,
        task: str,
        schema: Schema,
        strategy: str,
        *,
        shown: Callable[[], Document],
        nested: bool = False,
        llm_score: float,
        trust: Mapping[str, Mapping[str, float]] | None = None,
        llm_trust: Mapping[str, Mapping[str, float]] | None = None,
    ) -> Document:
        """The chunk's answer: the encoder's and the LLM's (asked `task`) reconciled with
        `strategy` (and the per-label `trust` and `llm_trust` of the vote), except that an extract-unfamiliar
        extraction merges by union and a verify-no-add answer first loses every item outside
        `shown()` (the candidates the verify prompt listed)."""
        if self.name == "extract-unfamiliar" and task == "extract":
            strategy = "union"  # the LLM read the chunk for what the encoder cannot find: its items add
        elif self.name == "verify-no-add" and task == "verify":
            listed = shown()
            ents = listed.entities
            spans = {(e.start, e.end) for e in ents}
            pairs = {((ents[r.head].start, ents[r.head].end), (ents[r.tail].start, ents[r.tail].end))
                     for r in listed.relations}  # fmt: skip
            llm_doc = only_candidates(llm_doc, spans, pairs)
        return reconcile(encoder_doc, llm_doc, schema, strategy, nested=nested, llm_score=llm_score, trust=trust,
                         llm_trust=llm_trust)


@dataclass(frozen=True)
class RoutingPolicy:
    """When a chunk is escalated to the LLM, and how many may be.

    entity_band / relation_band: half-width of the uncertainty band around the encoder's
        entity / relation threshold.
    check_overlaps, check_unknown_labels, check_type_violations: switch those signals on/off.
    min_label_similarity: a label whose prompt's nearest training prompt is less similar than
        this (cosine of the encoder's prompt embeddings) counts as unknown.
    empty_min_words: a chunk with at least this many words and no entity escalates (0 = off).
    escalate_all: every chunk wants the LLM (the "always" policy), whatever its signals.
    budget: the fraction of chunks (0..1) that may reach the LLM, first-ranked first (see `rank`).
        None, the default, is `DEFAULT_BUDGET`, except under the ``competence`` escalation with
        labelled examples: there the measurement picks it (`budget_for`).
    max_llm_tokens: at most this many LLM tokens (prompt + completion) per batch; None = no cap.
    rank: which wanting chunks get the budget first: "signals" (most signals, then most uncertain)
        or "uncertainty" (most uncertain, then most signals).
    escalation: what an escalated chunk asks the LLM and how its answer merges (module table):
        an `Escalation` or its name, one of ESCALATIONS.
    """

    entity_band: float = 0.15
    relation_band: float = 0.15
    check_overlaps: bool = True
    check_unknown_labels: bool = True
    min_label_similarity: float = 0.8
    check_type_violations: bool = True
    empty_min_words: int = 15
    escalate_all: bool = False
    budget: float | None = None
    max_llm_tokens: int | None = None
    rank: str = "signals"
    escalation: Escalation = Escalation()

    def __post_init__(self) -> None:
        if self.budget is not None and not 0.0 <= self.budget <= 1.0:
            raise InputError(f"routing budget must be a fraction in [0, 1], got {self.budget}")
        for name in ("entity_band", "relation_band"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"routing {name} must be in [0, 1], got {getattr(self, name)}")
        if self.max_llm_tokens is not None and self.max_llm_tokens < 0:
            raise InputError(f"max_llm_tokens must be >= 0, got {self.max_llm_tokens}")
        if self.rank not in RANKS:
            raise InputError(f"rank must be one of {', '.join(RANKS)}, got {self.rank!r}")
        if not isinstance(self.escalation, Escalation):
            object.__setattr__(self, "escalation", Escalation(self.escalation))

    @classmethod
    def always(cls, **overrides: Any) -> RoutingPolicy:
        """Every chunk goes to the LLM (budget 1.0, escalate everything)."""
        return cls(**{"escalate_all": True, "budget": 1.0, **overrides})

    @classmethod
    def never(cls, **overrides: Any) -> RoutingPolicy:
        """No chunk goes to the LLM: the hybrid output equals the encoder output."""
        return cls(**{"budget": 0.0, **overrides})

    def with_budget(self, budget: float) -> RoutingPolicy:
        return replace(self, budget=budget)

    @property
    def share(self) -> float:
        """The budget as a number (`DEFAULT_BUDGET` while it is None)."""
        return DEFAULT_BUDGET if self.budget is None else self.budget

    def budget_for(self, weak_labels: bool) -> RoutingPolicy:
        """This policy with its budget decided by a measurement on labelled examples: a budget
        given stays; the default is every chunk (`MEASURED_WEAK_BUDGET`) when the examples show
        the LLM doing better than the encoder on some label (`weak_labels`: the encoder's
        answers there are worth less everywhere, not only on its most uncertain chunks), else
        `DEFAULT_BUDGET`."""
        if self.budget is not None:
            return self
        return self.with_budget(MEASURED_WEAK_BUDGET if weak_labels else DEFAULT_BUDGET)


@dataclass
class Signal:
    reason: str
    uncertainty: float
    detail: str = ""


@dataclass
class RouteDecision:
    """The router's verdict on one chunk. `escalate` is final only after `apply_budget`."""

    signals: list[Signal] = field(default_factory=list)
    escalate: bool = False
    skipped: str | None = None

    @property
    def reasons(self) -> list[str]:
        """Distinct reasons, in the order first seen."""
        return list(dict.fromkeys(s.reason for s in self.signals))

    @property
    def uncertainty(self) -> float:
        return max((s.uncertainty for s in self.signals), default=0.0)

    @property
    def wants_llm(self) -> bool:
        return bool(self.signals)

    def rank_key(self, rank: str = "signals") -> tuple[float, float]:
        """Sort key, first to escalate first (use with `sorted(..., key=..., reverse=True)`):
        (signals, uncertainty) for rank "signals", (uncertainty, signals) for "uncertainty"."""
        if rank == "uncertainty":
            return (self.uncertainty, len(self.signals))
        return (len(self.signals), self.uncertainty)

    def to_meta(self) -> dict[str, Any]:
        return {
            "escalated": self.escalate,
            "reasons": self.reasons,
            "uncertainty": round(self.uncertainty, 4),
            "skipped": self.skipped,
            "details": [s.detail for s in self.signals if s.detail][:10],
        }


# -- signals ----------------------------------------------------------------------------------


def _band_uncertainty(score: float, threshold: float, band: float) -> float | None:
    """1 at the threshold, falling to 0 at threshold +- band; None outside the band."""
    if band <= 0 or not threshold - band <= score < threshold + band:
        return None
    return max(1e-6, 1.0 - abs(score - threshold) / band)


def _score(score: float | None) -> float:
    """An item without a score counts as certain."""
    return 1.0 if score is None else score


def _band_signals(
    reason: str,
    kept: Sequence[tuple[float, str, float]],
    candidates: Sequence[tuple[float, str, float]],
    band: float,
) -> list[Signal]:
    """Signals for kept items scored in [t, t + band) and candidates scored in [t - band, t),
    each item being (score, what, t) with t its threshold."""
    signals = []
    for (score, what, threshold), is_candidate in [*((k, False) for k in kept), *((c, True) for c in candidates)]:
        if is_candidate and score >= threshold:  # dropped by overlap decoding: not a band signal
            continue
        u = _band_uncertainty(score, threshold, band)
        if u is not None:
            signals.append(Signal(reason, u, f"{what} {score:.2f}"))
    return signals


def _competes(kept: tuple[int, int], other: tuple[int, int], same_label: bool, nested: bool) -> bool:
    """Two spans compete when only one of them can be right under the decoding mode."""
    return not same_label if kept == other else clashes(kept, other, nested=nested)


def unknown_labels(
    schema: Schema,
    known_labels: Iterable[str] | None,
    *,
    familiarity: Callable[[list[str]], dict[str, tuple[float, str]]] | None = None,
    min_similarity: float = 0.8,
) -> list[str]:
    """Names of schema types (entity and relation) the encoder is not familiar with.

    With `familiarity` (e.g. `JointEncoder.label_familiarity`: prompt -> (similarity to the
    nearest training prompt, that prompt)), a type is unknown when that similarity is below
    `min_similarity`; without it, when its prompt is not one of `known_labels` exactly."""
    return [name for name, _, _ in label_familiarity(schema, known_labels, familiarity=familiarity,
                                                     min_similarity=min_similarity)]


def label_familiarity(
    schema: Schema,
    known_labels: Iterable[str] | None,
    *,
    familiarity: Callable[[list[str]], dict[str, tuple[float, str]]] | None = None,
    min_similarity: float = 0.8,
) -> list[tuple[str, float, str]]:
    """(type name, similarity, nearest training prompt) of each unfamiliar schema type."""
    if known_labels is None:
        return []
    types = [*schema.entity_types, *schema.relation_types]
    if familiarity is None:
        known = {prompt_key(label) for label in known_labels}
        return [(t.name, 0.0, "") for t in types if prompt_key(t.prompt) not in known]
    scores = familiarity([t.prompt for t in types])
    return [(t.name, *scores[t.prompt]) for t in types if scores[t.prompt][0] < min_similarity]


def encoder_unknown_labels(
    schema: Schema, encoder: EncoderTier, policy: RoutingPolicy
) -> list[tuple[str, float, str]]:
    """`label_familiarity` of the schema for this encoder under the policy (what the pipeline
    passes to `route_chunk`); [] when the policy does not check unknown labels. An encoder that
    cannot embed prompts (no `label_familiarity`, e.g. the GLiNER backend) is matched exactly."""
    if not policy.check_unknown_labels:
        return []
    return label_familiarity(
        schema, encoder.known_labels,
        familiarity=getattr(encoder, "label_familiarity", None),
        min_similarity=policy.min_label_similarity,
    )


def route_chunk(
    chunk: Document,
    schema: Schema,
    policy: RoutingPolicy,
    *,
    unknown: Sequence[str] | Sequence[tuple[str, float, str]] = (),
    nested: bool = False,
    weak: Mapping[str, Mapping[str, float]] | None = None,
) -> RouteDecision:
    """Collect the escalation signals of one chunk's encoder output (see the module table).

    `chunk` is the encoder's Document for the chunk, with `meta["encoder"]` as the encoder
    contract defines it; `unknown` is `label_familiarity(...)` (name, similarity, nearest
    training prompt) or plain names (`unknown_labels(...)`, similarity taken as 0); `weak` is
    `Competence.weak()` ({kind: {label: estimate}}) for the ``weak_label`` signal.
    """
    info = chunk.meta.get("encoder", {})
    ent_t = float(info.get("threshold", 0.5))
    rel_t = float(info.get("relation_threshold", ent_t))
    candidates = info.get("candidates", [])
    rel_candidates = info.get("relation_candidates", [])
    signals: list[Signal] = []

    if policy.escalate_all:
        signals.append(Signal(ALWAYS, 0.0))
    if policy.check_unknown_labels and unknown:
        items = [u if isinstance(u, tuple) else (u, 0.0, "") for u in unknown]
        detail = ", ".join(f"{n} (nearest {near!r} {sim:.2f})" if near else n for n, sim, near in items)
        least = min(sim for _, sim, _ in items)
        signals.append(Signal(UNKNOWN_LABEL, max(1.0 - least, 1e-6), "unfamiliar: " + detail))

    own = info.get("label_thresholds") or {}  # entity types with their own threshold

    def cut(label: str) -> float:
        return float(own.get(label, ent_t))

    kept_scores = [(_score(e.score), f"{e.text!r} {e.label}", cut(e.label)) for e in chunk.entities]
    cand_scores = [(float(c["score"]), f"{c['text']!r} {c['label']}", cut(c["label"])) for c in candidates]
    signals += _band_signals(ENTITY_NEAR_THRESHOLD, kept_scores, cand_scores, policy.entity_band)
    for cand in candidates:
        score = float(cand["score"])
        if policy.check_overlaps and score >= cut(cand["label"]) - policy.entity_band:
            span = (int(cand["start"]), int(cand["end"]))
            for ent in chunk.entities:
                if _competes(ent.span, span, ent.label == cand["label"], nested):
                    kept = _score(ent.score)
                    u = min(kept, score) / max(kept, score, 1e-9)
                    detail = f"{ent.text!r} {ent.label} vs {cand['text']!r} {cand['label']}"
                    signals.append(Signal(OVERLAP, max(u, 1e-6), detail))

    kept_scores = [(_score(r.score), r.label, rel_t) for r in chunk.relations]
    cand_scores = [(float(c["score"]), str(c["label"]), rel_t) for c in rel_candidates]
    signals += _band_signals(RELATION_NEAR_THRESHOLD, kept_scores, cand_scores, policy.relation_band)

    if policy.check_type_violations:
        ents = chunk.entity_map()
        for rel in chunk.relations:
            head, tail = ents[rel.head], ents[rel.tail]
            if not schema.allows(rel.label, head.label, tail.label):
                signals.append(Signal(TYPE_VIOLATION, 1.0, f"{rel.label}({head.label}, {tail.label})"))
        allowed = set(schema.entity_labels)
        for ent in chunk.entities:
            if ent.label not in allowed:
                signals.append(Signal(TYPE_VIOLATION, 1.0, f"entity label {ent.label!r}"))

    if policy.empty_min_words and not chunk.entities and len(word_spans(chunk.text)) >= policy.empty_min_words:
        signals.append(Signal(EMPTY_LONG_CHUNK, 0.5))
    for estimate, what in weak_items(chunk, weak or {}, policy.entity_band):
        signals.append(Signal(WEAK_LABEL, max(1.0 - estimate, 1e-6), f"weak: {what} ({estimate:.2f})"))
    return RouteDecision(signals=signals)


# -- what to ask ------------------------------------------------------------------------------


def unfamiliar_schema(schema: Schema, names: Sequence[str]) -> Schema:
    """The part of `schema` made of the types in `names` (plus the argument types of the
    relation types among them), named ``<schema>:unfamiliar``."""
    wanted = set(names)
    rels = [t for t in schema.relation_types if t.name in wanted]
    ents = wanted | {x for t in rels for x in (*t.head_types, *t.tail_types)}
    return schema.subset(ents, wanted, why="unfamiliar types", name=f"{schema.name}:unfamiliar")


# -- budget -----------------------------------------------------------------------------------


@dataclass
class BudgetState:
    """Running counts across the batches of one run (one per Extractor.extract_many call), and
    the run's `hybrid_ie.competence.Competence` under the ``competence`` escalation."""

    chunks_seen: int = 0
    competence: Any = None

    def slots(self, budget: float, n_chunks: int) -> int:
        """LLM slots for a batch of n chunks: the slots these chunks add to the run total."""
        eps = 1e-9
        return math.floor(budget * (self.chunks_seen + n_chunks) + eps) - math.floor(
            budget * self.chunks_seen + eps
        )


def escalation_order(decisions: Sequence[RouteDecision], rank: str = "signals") -> list[int]:
    """Indices of the chunks that want the LLM, first to escalate first (stable for ties)."""
    wanting = [i for i, d in enumerate(decisions) if d.wants_llm]
    return sorted(wanting, key=lambda i: decisions[i].rank_key(rank), reverse=True)


def apply_budget(decisions: Sequence[RouteDecision], policy: RoutingPolicy, state: BudgetState) -> list[int]:
    """Mark which chunks of this batch escalate; return their indices, first-ranked first.

    Chunks that wanted the LLM but found no slot get `skipped = "budget"`.
    """
    order = escalation_order(decisions, policy.rank)
    slots = state.slots(policy.share, len(decisions))
    chosen = order[:slots]
    for i in order:
        decisions[i].escalate = i in chosen
        decisions[i].skipped = None if i in chosen else SKIPPED_BUDGET
    state.chunks_seen += len(decisions)
    return chosen


__all__ = [
    "DEFAULT_BUDGET",
    "ESCALATIONS",
    "MEASURED_WEAK_BUDGET",
    "REASONS",
    "BudgetState",
    "Escalation",
    "RouteDecision",
    "RoutingPolicy",
    "Signal",
    "apply_budget",
    "encoder_unknown_labels",
    "escalation_order",
    "label_familiarity",
    "route_chunk",
    "unfamiliar_schema",
    "unknown_labels",
]
