"""What a server sends cannot make the LLM tier unbounded: answer size is capped (bytes read and
characters kept in errors), a body that trickles in is cut off at the call's deadline, a
malformed Retry-After falls back to the usual backoff, fuzzy grounding stops at the deadline,
and a cache that fails is turned off instead of ending the job."""

from __future__ import annotations

import json
import sqlite3
import time

from support.llm_server import Reply, client_config

from hybrid_ie.llm import LLMClient
from hybrid_ie.llm.cache import ResponseCache
from hybrid_ie.llm.grounding import Grounder, grounding_deadline
from hybrid_ie.llm.transport import ERROR_CHARS, cut

TEXT = "Steve Jobs , the chief of Apple , lives in Palo Alto ."
ANSWER = {"entities": [{"text": "Apple", "type": "Org"}], "relations": []}


def test_an_oversized_answer_is_not_read_and_not_retried(server, conll04):
    server.default = Reply.ok("x" * 5_000_000)
    result = LLMClient(client_config(server, max_answer_bytes=100_000)).extract(TEXT, conll04)
    assert result.status == "llm_failed"
    assert "over max_answer_bytes=100,000" in result.error and len(result.error) < 200
    assert len(server.requests) == 1


def test_a_long_error_is_cut_and_says_so(server, conll04):
    server.default = Reply.ok(json.dumps({"entities": [{"text": "y" * 300_000, "type": 7}]}))
    result = LLMClient(client_config(server, max_reasks=0)).extract(TEXT, conll04)
    assert result.status == "llm_failed"
    assert len(result.error) <= ERROR_CHARS + 60
    assert cut("abcdef", 2) == "ab… [cut 4 of 6 characters]" and cut("ab", 2) == "ab"


def test_a_trickling_answer_is_cut_off_at_the_deadline(server, conll04):
    server.default = Reply.trickle(0.2, ANSWER)  # a byte every 0.2 s: each read is quick, the body takes minutes
    started = time.monotonic()
    result = LLMClient(client_config(server, timeout_s=1.0, deadline_s=3.0, max_retries=10)).extract(TEXT, conll04)
    elapsed = time.monotonic() - started
    assert result.status == "llm_failed" and elapsed < 3.0 + 1.0 + 1.0, (elapsed, result.error)


def test_a_malformed_retry_after_falls_back_to_backoff(server, conll04):
    server.script(Reply.rate_limited("soon, maybe"), Reply.rate_limited("nan"), Reply.ok(ANSWER))
    result = LLMClient(client_config(server)).extract(TEXT, conll04)
    assert result.status == "ok", result.error
    assert result.usage.retries == 2 and [e.text for e in result.entities] == ["Apple"]


def test_fuzzy_grounding_of_long_mentions_is_bounded():
    words = [f"w{i % 977}x{i % 13}" for i in range(20_000)]
    grounder = Grounder(" ".join(words))
    started = time.monotonic()
    long_mention = " ".join(f"q{i}" for i in range(200))  # 200 words: never searched fuzzily
    assert grounder.locate(long_mention) is None and grounder.locate(long_mention + " z") is None
    with grounding_deadline(time.monotonic() + 0.3):
        assert grounder.locate(" ".join(f"y{i}zz" for i in range(30))) is None
    assert time.monotonic() - started < 2.0
    assert Grounder("Mary Smyth lives here.").locate("Mary Smith").text == "Mary Smyth"


def test_a_garbage_cache_file_is_a_warning_not_a_failure(server, conll04, tmp_path, caplog):
    garbage = tmp_path / "cache.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    server.default = Reply.ok(ANSWER)
    client = LLMClient(client_config(server, cache=True, cache_path=garbage))
    result = client.extract(TEXT, conll04)
    assert result.status == "ok" and client.cache is None
    assert "going on without the LLM cache" in caplog.text


def test_a_cache_locked_by_another_process_is_turned_off(tmp_path, caplog):
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, busy_timeout_s=0.2)
    holder = sqlite3.connect(path, timeout=0.2)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        cache.put("k", model="m", answer="{}", prompt_tokens=1, completion_tokens=1)  # no exception
        assert cache.failed and "locked" in cache.failed
        assert cache.get("k") is None and "LLM cache turned off" in caplog.text
    finally:
        holder.rollback()
        holder.close()
