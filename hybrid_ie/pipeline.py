"""The extraction pipeline: text -> chunks -> encoder -> router -> LLM -> reconcile -> Document.

    from hybrid_ie import Extractor
    extractor = Extractor(schema="conll04", mode="hybrid")
    doc = extractor.extract("Steve Jobs founded Apple in Cupertino.")
    for doc in extractor.extract_many(texts): ...

Modes (`hybrid_ie.modes`; the default ``auto`` runs ``hybrid`` when an LLM is set up, else ``encoder``):

- ``encoder``: the joint encoder alone (the LLM is never created).
- ``llm``: the LLM extracts every chunk from scratch (the encoder is never loaded).
- ``hybrid``: the encoder reads every chunk; the router (`hybrid_ie.router`) picks the uncertain
  chunks within the policy's budget; only those go to the LLM (``verify`` the encoder's
  candidates, or ``extract``); the reconciler (`hybrid_ie.reconcile`) merges both answers.
  Grounding of LLM strings to offsets happens inside the LLM tier.

Chunks are sentences (`chunking.split_sentences`); a run-on "sentence" longer than
`max_chunk_words` words is cut into consecutive windows of that size so no LLM prompt grows
without bound (the encoder windows long chunks itself). Documents are processed in batches: the
encoder runs over the chunks of a whole batch at once, the routing budget is shared by the chunks
of the batch (see `router.apply_budget`).

Each output Document has entity ids T1.. by position, and in ``meta``:

- ``"pipeline"``: mode, reconcile strategy, schema name, the schema's labels (`schema_labels`:
  entities, relations, symmetric relations), number of chunks;
- ``"route"`` (hybrid and llm modes): one entry per chunk: its span, ``escalated``, the reasons,
  the uncertainty, and ``skipped`` ("budget" / "token_budget") when it wanted the LLM but got none;
- ``"llm"``: calls, status (``ok`` / ``llm_failed`` / ``not_called``), summed usage (tokens,
  latency, retries, re-asks, cost, cache hits), grounding counts and errors.

When an LLM call fails (after the LLM tier's own retries), the chunk keeps the encoder's answer
and the Document carries ``error`` = ``"llm_failed: <reason>"``; in ``llm`` mode that chunk is
left empty. A document whose text the encoder cannot process gets ``error`` and no items;
the other documents of its batch are unaffected.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from hybrid_ie.chunking import MAX_CHUNK_WORDS, Chunk, chunk_text
from hybrid_ie.competence import Competence, check_labelled, measure_on_examples
from hybrid_ie.demonstrations import COUNT as DEMONSTRATIONS
from hybrid_ie.demonstrations import pick as pick_demonstrations
from hybrid_ie.demonstrations import reading_plan
from hybrid_ie.document import Document, join_chunks
from hybrid_ie.errors import InputError
from hybrid_ie.modes import AUTO_MODE, DEFAULT_MODE, MODES, resolve_mode
from hybrid_ie.reconcile import DEFAULT_STRATEGY, LLM_SCORE, check_strategy, normalize
from hybrid_ie.router import (
    SKIPPED_TOKENS,
    BudgetState,
    RouteDecision,
    RoutingPolicy,
    Signal,
    apply_budget,
    encoder_unknown_labels,
    route_chunk,
)
from hybrid_ie.schema import Schema, SchemaLike, load_schema, schema_labels
from hybrid_ie.status import say
from hybrid_ie.tiers import ENCODER_BATCH_SIZE, EncoderTier, LLMAnswer, LLMTier, llm_workers

log = logging.getLogger(__name__)
LLM_MODE_REASON = "mode_llm"
DEFAULT_BATCH_SIZE = 16  # documents per batch of `Extractor.extract_many` (and of the spaCy component)


@dataclass(frozen=True)
class _Cut:
    """The encoder's cut-offs of one call (None: the checkpoint's calibrated ones)."""

    entity: float | None
    relation: float | None


@dataclass
class _Input:
    id: str
    text: str
    breaks: tuple[int, ...] = ()  # hard chunk boundaries (`chunk_text`)


@dataclass
class _ChunkWork:
    """One chunk on its way through the pipeline."""

    doc: int
    chunk: Chunk
    result: Document | None = None
    decision: RouteDecision | None = None
    llm: LLMAnswer | None = None  # when the LLM was called


@dataclass
class _DocWork:
    input: _Input
    chunks: list[_ChunkWork] = field(default_factory=list)
    error: str | None = None


def _as_inputs(items: Iterable[str | dict | Document]) -> Iterator[_Input]:
    for i, item in enumerate(items):
        if isinstance(item, str):
            yield _Input(f"doc-{i}", item)
        elif isinstance(item, Document):
            yield _Input(item.id, item.text)
        elif isinstance(item, dict):
            text = item.get("text")
            if not isinstance(text, str):
                raise InputError(f"input {i}: expected a 'text' string, got {type(text).__name__}")
            breaks = item.get("breaks") or ()
            yield _Input(str(item.get("id", f"doc-{i}")), text, tuple(int(b) for b in breaks))
        else:
            raise InputError(f"input {i}: expected a str, a {{'id', 'text'}} dict or a Document, got {type(item).__name__}")


def check_examples(
    examples: Sequence[Document] | None, schema: Any, mode: str, policy: RoutingPolicy
) -> list[Document] | None:
    """The labelled examples, checked (`hybrid_ie.competence.check_labelled`), for a run that
    reads them: the LLM alone (as demonstrations) or the hybrid mode's ``competence`` escalation
    (demonstrations and the competence measurement)."""
    if examples is None:
        return None
    examples = check_labelled(examples, schema)
    if not (mode == "llm" or (mode in ("hybrid", AUTO_MODE) and policy.escalation.name == "competence")):
        raise InputError(
            "examples are read only by the LLM mode (as demonstrations) and the hybrid mode's 'competence' "
            f"escalation (this run: mode {mode!r}, escalation {policy.escalation.name!r})"
        )
    return examples


class Extractor:
    """Extract a schema's entities and relations from texts with the encoder, the LLM or both.

    schema: anything `load_schema` takes: a Schema, a schema name (``conll04``), a path to a
        schema file, a list of entity labels, a dict label -> description.
    encoder: an `EncoderTier` (a `JointEncoder`), a checkpoint folder, or None for the shipped
        checkpoint (loaded on first use, never in ``llm`` mode).
    llm: an `LLMTier` (an `LLMClient`), an `LLMConfig`, or None for `LLMClient(LLMConfig.load())`
        (created on first use, never in ``encoder`` mode).
    policy: the `RoutingPolicy` (hybrid mode); default `RoutingPolicy()`.
    reconcile: the merge strategy for escalated chunks (`hybrid_ie.reconcile.STRATEGIES`).
    threshold, relation_threshold, nested: passed to the encoder (None = its calibrated defaults).
    quantize: "int8" runs the encoder's Linear layers in int8 on CPU (`JointEncoder.quantize`).
    examples: labelled Documents (gold entities and relations) of the user's corpus, for the
        ``competence`` escalation (the default escalation when examples are given and `policy`
        is not): the encoder and the LLM both read them once, before the first chunk is routed,
        and the per-label estimate comes from that measurement (`Competence.measured`) instead
        of the run's agreement with the LLM; a policy without a budget gets the one the
        measurement picks (`RoutingPolicy.budget_for`). In ``llm`` mode and in the hybrid mode
        they are also the LLM's demonstrations.
    demonstrations: how many pieces of the examples the LLM's extract prompt shows
        (`hybrid_ie.demonstrations`; 0 = none).
    """

    def __init__(
        self,
        schema: SchemaLike = "conll04",
        encoder: EncoderTier | str | os.PathLike | None = None,
        llm: LLMTier | Any = None,
        policy: RoutingPolicy | None = None,
        mode: str = DEFAULT_MODE,
        reconcile: str = DEFAULT_STRATEGY,
        *,
        threshold: float | None = None,
        relation_threshold: float | None = None,
        nested: bool = False,
        encoder_batch_size: int = ENCODER_BATCH_SIZE,
        max_chunk_words: int = MAX_CHUNK_WORDS,
        llm_score: float = LLM_SCORE,
        quantize: str = "none",
        examples: Sequence[Document] | None = None,
        demonstrations: int = DEMONSTRATIONS,
    ) -> None:
        # What rebuilds this extractor elsewhere (the Ray engine's workers; `hybrid_ie.engines`): the
        # constructor's arguments as given, with the schema, policy and strategy resolved below.
        self.options: dict[str, Any] = {k: v for k, v in locals().items() if k != "self"}
        if mode not in (*MODES, AUTO_MODE):
            raise InputError(f"unknown mode {mode!r}; choose one of {', '.join((*MODES, AUTO_MODE))}")
        for name, value in (("threshold", threshold), ("relation_threshold", relation_threshold)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be between 0 and 1, got {value}")
        self.schema = load_schema(schema)
        mode, self.mode_note = resolve_mode(mode, llm)
        if self.mode_note:
            log.warning("note: %s", self.mode_note)
        self.mode = mode
        self.policy = policy or RoutingPolicy(**({"escalation": "competence"} if examples is not None else {}))
        self.strategy = check_strategy(reconcile)
        self.threshold = threshold
        self.relation_threshold = relation_threshold
        self.nested = nested
        self.encoder_batch_size = encoder_batch_size
        self.max_chunk_words = max_chunk_words
        self.llm_score = llm_score
        self.examples = check_examples(examples, self.schema, self.mode, self.policy)
        if demonstrations < 0:
            raise InputError(f"demonstrations must be 0 or more, got {demonstrations}")
        self.demonstrations = demonstrations
        # The schema the LLM is asked with: the user's, with their examples as demonstrations.
        self.llm_schema = self.schema if not self.examples else self.schema.with_demonstrations(
            pick_demonstrations(self.examples, demonstrations, max_words=max_chunk_words))
        if self.examples is None:  # else the measurement on the examples picks a default budget
            self.policy = self.policy.with_budget(self.policy.share)
        self._measured: Competence | None = None
        from hybrid_ie.encoder.quantize import check_mode

        self.quantize = check_mode(quantize)
        if encoder is not None and not isinstance(encoder, (str, os.PathLike)):
            encoder.quantize(quantize)  # an unsupported backend or device is refused here, early
        self._encoder = encoder
        self._llm = llm
        self._unknown: list[str] = []  # the schema types the encoder is unfamiliar with (router)
        self.competence: Competence | None = None  # the last run's per-label estimate (competence escalation)
        self.options.update(schema=self.schema, policy=self.policy, reconcile=self.strategy, mode=self.mode)
        # Entered around every LLM request: the Ray engine bounds the requests of a whole cluster here.
        self.llm_gate: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext
        # Progress: called with how many chunks were finished (read by the encoder; in llm mode,
        # answered by the LLM), as they finish (`hybrid-ie extract`'s bar).
        self.on_chunks: Callable[[int], None] | None = None

    # -- lazily created tiers ------------------------------------------------------------------
    @property
    def encoder(self) -> EncoderTier:
        if self._encoder is None or isinstance(self._encoder, (str, os.PathLike)):
            from hybrid_ie.encoder import JointEncoder

            self._encoder = JointEncoder.from_pretrained(self._encoder, quantize=self.quantize)
        return self._encoder

    @property
    def llm(self) -> LLMTier:
        if not isinstance(self._llm, LLMTier):
            from hybrid_ie.llm import LLMClient, LLMConfig

            config = self._llm if self._llm is not None else LLMConfig.load()
            self._llm = LLMClient(config)
        return self._llm

    def prepare(self) -> Extractor:
        """Load the encoder and create the LLM client (and its cache) now, so that a bad
        checkpoint or LLM configuration fails before any work (a batch job calls this before it
        touches its output)."""
        if self.mode != "llm":
            _ = self.encoder
        if self.mode != "encoder":
            _ = self.llm
        return self

    # -- public API ----------------------------------------------------------------------------
    def extract(self, text: str, id: str | None = None, *, threshold: float | None = None,
                relation_threshold: float | None = None) -> Document:  # fmt: skip
        """Extract one text (`threshold` / `relation_threshold`: this call's, as in `extract_many`)."""
        return next(self.extract_many([{"id": id or "doc-0", "text": text}], threshold=threshold,
                                      relation_threshold=relation_threshold))  # fmt: skip

    def extract_many(
        self, items: Iterable[str | dict | Document], batch_size: int = DEFAULT_BATCH_SIZE, *,
        threshold: float | None = None,
        relation_threshold: float | None = None,
    ) -> Iterator[Document]:  # fmt: skip
        """Stream one Document per input (str, ``{"id", "text"}`` or Document), in input order.

        The routing budget runs over the whole stream: at most ``policy.budget`` of all chunks
        seen so far reach the LLM, first-ranked first within each batch (`RoutingPolicy.rank`).
        `threshold` / `relation_threshold`: the encoder's cut-offs for this call (None: the
        Extractor's).
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        cut = _Cut(self.threshold if threshold is None else threshold,
                   self.relation_threshold if relation_threshold is None else relation_threshold)  # fmt: skip
        state = BudgetState()
        inputs = _as_inputs(items)
        while batch := list(itertools.islice(inputs, batch_size)):
            yield from self._process(batch, state, cut)

    def process_batch(self, items: Sequence[dict | Document], state: BudgetState | None = None) -> list[Document]:
        """One pipeline batch (``{"id", "text"}`` dicts or Documents): chunk, encode, route with
        the run's budget `state` (advanced by this batch's routable chunks), call the LLM,
        reconcile. `extract_many` is this over consecutive batches with one state; an engine
        that runs batches elsewhere (`hybrid_ie.engines.ray`) calls it with each batch's state."""
        return self._process(list(_as_inputs(items)), state if state is not None else BudgetState())

    # -- one batch -----------------------------------------------------------------------------
    def _process(self, batch: Sequence[_Input], state: BudgetState, cut: _Cut | None = None) -> list[Document]:
        docs = [_DocWork(item) for item in batch]
        for d, work in enumerate(docs):
            chunks = chunk_text(work.input.text, self.max_chunk_words, work.input.breaks)
            work.chunks = [_ChunkWork(d, c) for c in chunks]
        if self.mode != "llm":
            self._encode(docs, cut or _Cut(self.threshold, self.relation_threshold))
        chunks = [c for work in docs if work.error is None for c in work.chunks]
        if self.mode == "hybrid":
            self._route(chunks, state)
        elif self.mode == "llm":
            for c in chunks:
                c.decision = RouteDecision([Signal(LLM_MODE_REASON, 1.0)], escalate=True)
        if self.mode != "encoder":
            self._call_llm(docs, chunks, state)
        return [self._assemble(work) for work in docs]

    def _predict(self, chunks: Sequence[_ChunkWork], doc_ids: Sequence[str], cut: _Cut) -> list[Document]:
        return self.encoder.predict(
            [c.chunk.text for c in chunks],
            self.schema,
            ids=[f"{doc_ids[c.doc]}#{c.chunk.index}" for c in chunks],
            threshold=cut.entity,
            relation_threshold=cut.relation,
            nested=self.nested,
            batch_size=self.encoder_batch_size,
            progress=self.on_chunks or False,
        )

    def _encode(self, docs: list[_DocWork], cut: _Cut) -> None:
        """Run the encoder over every chunk of the batch; if that fails, document by document,
        so one bad text marks only its own document as failed."""
        ids = [w.input.id for w in docs]
        chunks = [c for w in docs for c in w.chunks]
        if not chunks:
            return
        _ = self.encoder  # loaded outside the try: a missing checkpoint is the user's error
        try:
            results = self._predict(chunks, ids, cut)
        except Exception:  # noqa: BLE001 - retried document by document below
            results = None
        if results is not None:
            for c, result in zip(chunks, results, strict=True):
                c.result = result
            return
        for work in docs:
            if not work.chunks:
                continue
            try:
                for c, result in zip(work.chunks, self._predict(work.chunks, ids, cut), strict=True):
                    c.result = result
            except Exception as exc:  # noqa: BLE001 - recorded on the document, the job goes on
                work.error = f"encoder_failed: {type(exc).__name__}: {exc}"

    def _route(self, chunks: list[_ChunkWork], state: BudgetState) -> None:
        unknown = encoder_unknown_labels(self.schema, self.encoder, self.policy)
        self._unknown = [name for name, _, _ in unknown]
        if self.policy.escalation.name == "competence" and state.competence is None:
            state.competence = self.measure_examples() or Competence(self.schema, reference_f1=self.llm_score)
        self.competence = state.competence  # the run's estimate, for reports
        weak = state.competence.weak() if state.competence is not None else None
        for c in chunks:
            c.decision = route_chunk(c.result, self.schema, self.policy, unknown=unknown, nested=self.nested, weak=weak)
        apply_budget([c.decision for c in chunks], self.policy, state)

    def _call_llm(self, docs: list[_DocWork], chunks: list[_ChunkWork], state: BudgetState) -> None:
        """Call the LLM on the escalated chunks, first-ranked first. With a token cap the calls
        go one by one until the cap is spent; without one, an openai-backend client runs up to
        its `max_concurrency` calls at once (the in-process local model runs one at a time).
        The run's competence estimate (if any) observes every answer before any is merged."""
        escalated = [c for c in chunks if c.decision is not None and c.decision.escalate]
        escalated.sort(key=lambda c: c.decision.rank_key(self.policy.rank), reverse=True)
        cap = self.policy.max_llm_tokens
        workers = llm_workers(self.llm) if cap is None else 1
        if workers > 1 and len(escalated) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                for c, answer in zip(escalated, pool.map(self._ask, escalated), strict=True):
                    c.llm = answer
                    self._answered()
        else:
            spent = 0
            for c in escalated:
                if cap is not None and spent >= cap:
                    c.decision.escalate, c.decision.skipped = False, SKIPPED_TOKENS
                    continue
                c.llm = self._ask(c)
                spent += c.llm.usage.prompt_tokens + c.llm.usage.completion_tokens
                self._answered()
        if state.competence is not None and not state.competence.fixed and self.mode == "hybrid":
            for c in escalated:
                if c.llm is not None and c.llm.status == "ok":
                    state.competence.observe(c.result, self._llm_doc(c))
        trust = state.competence.trust_map() if state.competence is not None else None
        llm_trust = state.competence.llm_trust_map() if state.competence is not None else None
        for c in escalated:
            if c.llm is None:
                continue
            if c.llm.status == "ok":
                c.result = self._merge(c, trust, llm_trust)
            elif self.mode == "llm":
                c.result = Document(id=f"{docs[c.doc].input.id}#{c.chunk.index}", text=c.chunk.text)

    def measure_examples(self) -> Competence | None:
        """The encoder and the LLM each read the labelled `examples` (once per Extractor, with
        this Extractor's settings): the measured per-label competence, or None without examples.
        When a side failed on every example the run keeps the running estimate
        (`hybrid_ie.competence.measure_on_examples`)."""
        if self.examples and self._measured is None and self.mode != "llm":
            say(f"measuring the encoder and the LLM on {len(self.examples)} labelled examples ...")
            encoder_side = self._side("encoder", self.schema, range(len(self.examples)))
            llm_side: dict[int, Document] = {}  # no example is read with itself shown
            for demos, indices in reading_plan(self.examples, self.llm_schema.demonstrations, self.demonstrations,
                                               max_words=self.max_chunk_words).items():  # fmt: skip
                llm_side.update(zip(indices, self._side("llm", self.schema.with_demonstrations(demos), indices),
                                    strict=True))  # fmt: skip
            sides = encoder_side, [llm_side[i] for i in range(len(self.examples))]
            self._measured = measure_on_examples(self.schema, self.examples, *sides, self.llm_score)
            weak = sorted(set().union(*self._measured.weak().values())) if self._measured else None
            default = self.policy.budget is None
            self.policy = self.policy.budget_for(bool(weak))
            budget = f"; budget {self.policy.budget:g}{' (chosen by the measurement)' if default else ''}"
            say(f"measured; the LLM does better on {self._measured.describe_weak()}{budget}" if self._measured else
                f"no labelled example could be measured: the run's own agreement is the estimate{budget}")  # fmt: skip
            self.examples = self.examples if self._measured else None
        return self._measured

    def _side(self, mode: str, schema: Schema, indices: Iterable[int]) -> list[Document]:
        """The examples at `indices` read by one side alone (``encoder`` / ``llm``), with this
        Extractor's settings; the LLM asked with `schema`."""
        side = Extractor(schema, encoder=self.encoder if mode == "encoder" else None,
                         llm=self.llm if mode == "llm" else None, mode=mode, threshold=self.threshold,
                         relation_threshold=self.relation_threshold, nested=self.nested,
                         encoder_batch_size=self.encoder_batch_size, max_chunk_words=self.max_chunk_words,
                         llm_score=self.llm_score)  # fmt: skip
        side.llm_gate = self.llm_gate
        return list(side.extract_many([{"id": self.examples[i].id, "text": self.examples[i].text} for i in indices]))

    def _answered(self) -> None:  # in llm mode an answered chunk is finished
        if self.mode == "llm" and self.on_chunks is not None:
            self.on_chunks(1)

    def _ask(self, c: _ChunkWork) -> LLMAnswer:
        with self.llm_gate():
            if self.mode == "llm":
                return self.llm.extract(c.chunk.text, self.llm_schema)
            task, schema = self.policy.escalation.task(c.decision.reasons, self.llm_schema, self._unknown)
            if task == "extract":
                return self.llm.extract(c.chunk.text, schema)
            return self.llm.verify(c.chunk.text, self.schema, c.result)

    @staticmethod
    def _llm_doc(c: _ChunkWork) -> Document:
        return Document(
            id=f"llm#{c.chunk.index}", text=c.chunk.text, entities=list(c.llm.entities), relations=list(c.llm.relations)
        )

    def _merge(
        self, c: _ChunkWork, trust: dict[str, dict[str, float]] | None = None,
        llm_trust: dict[str, dict[str, float]] | None = None,
    ) -> Document:  # fmt: skip
        llm_doc = self._llm_doc(c)
        if self.mode == "llm":
            return normalize(llm_doc, self.schema, nested=self.nested, default_score=self.llm_score)
        return self.policy.escalation.merge(
            c.result, llm_doc, c.llm.task, self.schema, self.strategy,
            shown=lambda: self._shown(c.result), nested=self.nested, llm_score=self.llm_score, trust=trust,
            llm_trust=llm_trust,
        )  # fmt: skip

    def _shown(self, candidates: Document) -> Document:
        """The candidates a verify prompt lists for this encoder answer (the LLM tier's choice)."""
        from hybrid_ie.llm.answers import verify_candidates

        return verify_candidates(candidates, self.llm.config.max_candidates)

    # -- one document --------------------------------------------------------------------------
    def _assemble(self, work: _DocWork) -> Document:
        parts = [(c.chunk.start, c.result) for c in work.chunks if c.result is not None]
        return join_chunks(work.input.id, work.input.text, parts, meta=self._meta(work), error=self._error(work))

    def _meta(self, work: _DocWork) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "pipeline": {
                "mode": self.mode,
                "reconcile": self.strategy if self.mode == "hybrid" else None,
                "escalation": self.policy.escalation.name if self.mode == "hybrid" else None,
                "schema": self.schema.name,
                "labels": schema_labels(self.schema),
                "chunks": len(work.chunks),
            }
        }
        if self.mode != "encoder":
            if self.llm_schema.demonstrations:
                meta["pipeline"]["demonstrations"] = len(self.llm_schema.demonstrations)
            meta["route"] = [
                {"start": c.chunk.start, "end": c.chunk.end, **c.decision.to_meta()}
                for c in work.chunks
                if c.decision is not None
            ]
            from hybrid_ie.llm.usage import llm_summary

            meta["llm"] = llm_summary([c.llm for c in work.chunks if c.llm is not None])
        if self.mode != "llm":
            encoder_meta = next((c.result.meta.get("encoder") for c in work.chunks if c.result is not None), None)
            if encoder_meta:
                meta["encoder"] = {
                    "backend": encoder_meta.get("backend"),
                    "threshold": encoder_meta.get("threshold"),
                    "relation_threshold": encoder_meta.get("relation_threshold"),
                }
        return meta

    @staticmethod
    def _error(work: _DocWork) -> str | None:
        if work.error:
            return work.error
        failed = [c.llm.error or "unknown reason" for c in work.chunks if c.llm is not None and c.llm.status != "ok"]
        if failed:
            return f"llm_failed: {failed[0]}" + (f" (and {len(failed) - 1} more chunks)" if len(failed) > 1 else "")
        return None


def extractor_defaults() -> dict[str, Any]:
    """The `Extractor` options that have a default, and the default: read from its signature, the
    one place they are written (the CLI and the spaCy component leave an option they are not
    given to it)."""
    params = inspect.signature(Extractor.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


__all__ = ["AUTO_MODE", "DEFAULT_MODE", "MAX_CHUNK_WORDS", "MODES", "Extractor", "chunk_text",
           "extractor_defaults", "llm_workers", "resolve_mode"]
