"""What the pipeline needs from its two tiers, as structural types (`typing.Protocol`): any object
with these members serves, so the toolkit's own tiers, the benchmark's metering wrappers and a
test's stand-in are all accepted without a common base class.

- `EncoderTier`: `predict` (texts -> one Document per text, with `meta["encoder"]` as the router
  reads it), `quantize` and `known_labels` (the label prompts it was trained on). An encoder that
  can embed prompts also has `label_familiarity(prompts) -> {prompt: (similarity, nearest)}`;
  the router uses it when present (`hybrid_ie.encoder.JointEncoder` has it, the GLiNER backend
  does not).
- `LLMTier`: `extract` and `verify` of one chunk, each returning an `LLMAnswer`
  (`hybrid_ie.llm.LLMResult`); an object that has them is a client, anything else given as the
  LLM (an `LLMConfig`) is a configuration to build one from. A client with a `config` tells the
  pipeline its backend, `max_concurrency` and `max_candidates`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hybrid_ie.document import Document, Entity, Relation
    from hybrid_ie.schema import Schema

ENCODER_BATCH_SIZE = 16  # texts (windows) per forward pass of the encoder backends' `predict`
CANDIDATE_FLOOR = 0.1  # the lowest score of a near miss in `meta["encoder"]`; below it, not a candidate


class EncoderTier(Protocol):
    """The local encoder as the pipeline and the router use it."""

    @property
    def known_labels(self) -> set[str]: ...

    def predict(
        self,
        texts: Sequence[str],
        schema: Schema,
        *,
        ids: Sequence[str] | None = None,
        threshold: float | None = None,
        relation_threshold: float | None = None,
        nested: bool = ...,
        batch_size: int = ...,
    ) -> list[Document]: ...

    def quantize(self, mode: str) -> Any: ...


class LLMAnswer(Protocol):
    """One LLM call's outcome as the pipeline reads it (`hybrid_ie.llm.LLMResult`)."""

    task: str  # "extract" | "verify"
    entities: list[Entity]
    relations: list[Relation]
    status: str  # "ok" | "llm_failed"
    error: str | None
    usage: Any  # hybrid_ie.llm.Usage
    grounding: dict[str, int]
    schema_valid: bool


@runtime_checkable
class LLMTier(Protocol):
    """The LLM as the pipeline calls it, one chunk at a time."""

    def extract(self, text: str, schema: Schema) -> LLMAnswer: ...

    def verify(self, text: str, schema: Schema, candidates: Document) -> LLMAnswer: ...


def llm_workers(llm: LLMTier) -> int:
    """How many LLM calls may run at once: an openai-backend client's `max_concurrency`, else 1
    (the in-process local model runs one call at a time)."""
    config = getattr(llm, "config", None)
    if config is None or getattr(config, "backend", None) != "openai":
        return 1
    return max(1, int(getattr(config, "max_concurrency", 1)))


__all__ = ["CANDIDATE_FLOOR", "ENCODER_BATCH_SIZE", "EncoderTier", "LLMAnswer", "LLMTier", "llm_workers"]
