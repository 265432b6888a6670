"""The sqlite answer cache: keys, persistence, hit counting."""

from __future__ import annotations

import threading

from hybrid_ie.llm.cache import ResponseCache, cache_key


def test_key_depends_on_every_part_and_not_on_order():
    base = {"model": "m", "messages": [{"role": "user", "content": "x"}], "params": {"seed": 0}}
    assert cache_key(**base) == cache_key(**dict(reversed(list(base.items()))))
    assert cache_key(**base) != cache_key(**{**base, "model": "n"})
    assert cache_key(**base) != cache_key(**{**base, "params": {"seed": 1}})


def test_put_get_persist_and_count(tmp_path):
    path = tmp_path / "sub" / "cache.sqlite"
    cache = ResponseCache(path)
    assert cache.get("k") is None and cache.misses == 1
    cache.put("k", model="m", answer='{"a": 1}', prompt_tokens=10, completion_tokens=2)
    cache.close()
    again = ResponseCache(path)
    hit = again.get("k")
    assert (hit.answer, hit.prompt_tokens, hit.completion_tokens) == ('{"a": 1}', 10, 2)
    assert again.hits == 1 and len(again) == 1


def test_threads_share_one_cache(tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")

    def work(i: int) -> None:
        for j in range(20):
            cache.put(f"{i}-{j}", model="m", answer="{}", prompt_tokens=1, completion_tokens=1)
            assert cache.get(f"{i}-{j}") is not None

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(cache) == 80 and cache.hits == 80
