"""Accounting for LLM calls: tokens, latency, retries, re-asks, cost, cache hits.

One `Usage` per call; usages add up (`a + b`, `Usage.total(items)`) to per-document or per-run
totals. Cost comes from a price table in USD per million tokens, keyed by model name; a model
missing from the table (and every local model) costs 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from hybrid_ie.tiers import LLMAnswer


class Price(BaseModel):
    """USD per one million tokens."""

    model_config = ConfigDict(extra="forbid")

    prompt: float = Field(ge=0.0)
    completion: float = Field(ge=0.0)


class Usage(BaseModel):
    """What one LLM call (or a sum of calls) spent.

    `retries` counts transport retries (timeouts, 429, 5xx, dropped connections); `reasks`
    counts answers rejected by validation and asked again. A cache hit spends no tokens.
    `calls`/`cache_hits` make sums meaningful; `cache_hit` is true when every summed call was
    served from the cache.
    """

    model_config = ConfigDict(extra="forbid")

    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    retries: int = 0
    reasks: int = 0
    cost: float = 0.0
    cache_hit: bool = False
    calls: int = 1
    cache_hits: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        calls = self.calls + other.calls
        hits = self.cache_hits + other.cache_hits
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            latency_s=self.latency_s + other.latency_s,
            retries=self.retries + other.retries,
            reasks=self.reasks + other.reasks,
            cost=self.cost + other.cost,
            cache_hit=calls > 0 and hits == calls,
            calls=calls,
            cache_hits=hits,
        )

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage:
        out = cls(calls=0)
        for usage in usages:
            out = out + usage
        return out


def cost_of(model: str, prompt_tokens: int, completion_tokens: int, prices: Mapping[str, Price]) -> float:
    """USD for the tokens at the model's price; 0 for a model without a price."""
    price = prices.get(model)
    if price is None:
        return 0.0
    return (prompt_tokens * price.prompt + completion_tokens * price.completion) / 1_000_000


def llm_summary(results: Sequence[LLMAnswer]) -> dict[str, Any]:
    """Per-document LLM accounting of a document's answers (`hybrid_ie.tiers.LLMAnswer`): calls,
    status, summed usage and grounding, errors."""
    if not results:
        return {"calls": 0, "status": "not_called"}
    usage = Usage.total(r.usage for r in results)
    grounding: dict[str, int] = {}
    for r in results:
        for key, n in (r.grounding or {}).items():
            grounding[key] = grounding.get(key, 0) + int(n)
    failed = [r for r in results if r.status != "ok"]
    return {
        "calls": len(results),
        "status": "llm_failed" if failed else "ok",
        "usage": usage.model_dump(mode="json"),
        "grounding": grounding,
        "schema_valid": sum(1 for r in results if r.schema_valid),
        "errors": [r.error for r in failed],
    }
