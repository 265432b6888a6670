"""Usage accounting: sums over calls and cost from the price table."""

from __future__ import annotations

import pytest

from hybrid_ie.llm import Price, Usage
from hybrid_ie.llm.usage import cost_of


def test_usages_add_up():
    a = Usage(prompt_tokens=10, completion_tokens=2, latency_s=1.0, retries=1, reasks=0, cost=0.5)
    b = Usage(prompt_tokens=0, completion_tokens=0, latency_s=0.1, cache_hit=True, cache_hits=1)
    total = Usage.total([a, b])
    assert (total.prompt_tokens, total.completion_tokens, total.retries, total.calls) == (10, 2, 1, 2)
    assert total.latency_s == pytest.approx(1.1) and total.cost == 0.5 and total.total_tokens == 12
    assert total.cache_hits == 1 and not total.cache_hit
    assert Usage.total([b, b]).cache_hit
    assert Usage.total([]).calls == 0 and not Usage.total([]).cache_hit


def test_cost_per_million_tokens():
    prices = {"gpt": Price(prompt=0.15, completion=0.6)}
    assert cost_of("gpt", 2_000_000, 1_000_000, prices) == pytest.approx(0.9)
    assert cost_of("local-model", 2_000_000, 1_000_000, prices) == 0.0
