"""eval/bench_competence.py end to end on tiny data: a tiny encoder checkpoint, the oracle LLM and
a configured LLM (the loopback server) whose answers are cached, so a re-run asks nothing."""

from __future__ import annotations

import importlib.util
import json

import pytest
from support.llm_server import LLMServer, Reply, client_config, instance_for
from support.tiny_data import zero_shot_data_dir
from support.tiny_encoder import tiny_encoder
from support.weak_llm import weak_llm_answer

from hybrid_ie.paths import REPO_ROOT


def answer(request):
    """Extract: the weak LLM's answer (without relations for a schema that has none); verify: the
    minimal valid verification."""
    schema = request.response_schema
    if "add_entities" in schema["properties"]:
        return instance_for(schema)
    body = weak_llm_answer(request)
    return body if "relations" in schema["properties"] else {"entities": body["entities"]}


def load_script():
    spec = importlib.util.spec_from_file_location("bench_competence", REPO_ROOT / "eval" / "bench_competence.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("base") / "ckpt")


def test_every_row_for_an_oracle_and_a_cached_configured_llm(tmp_path, base, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_DATA", str(zero_shot_data_dir(tmp_path / "data")))
    bench = load_script()
    with LLMServer() as server:
        server.default = Reply.ok(answer)
        config = tmp_path / "llm.json"
        config.write_text(json.dumps(client_config(server).model_dump(mode="json", exclude_none=True)))
        out = tmp_path / "rows.json"
        argv = ["--sets", "wlp:dev,gum:test", "--limit", "2", "--budgets", "0.5,1", "--model", str(base),
                "--llm", f"oracle:0.1@0.9,config:{config}", "--cache", str(tmp_path / "cache.sqlite"),
                "--trusted", "0.4,0.8", "--json", str(out)]  # fmt: skip
        assert bench.main(argv) == 0
        rows = json.loads(out.read_text())["rows"]
        names = [(r["set"], r["llm"], r["row"]) for r in rows]
        per_llm = ["LLM only"] + [f"hybrid {b} {rule}" for b in ("0.5", "1")
                                  for rule in ("old", "new t0.4 w0.6", "new t0.8 w0.6")]  # fmt: skip
        llms = ("oracle:0.1@0.9", f"config:{config}")
        assert names == [(s, "-", "encoder") for s in ("wlp:dev",)] + [
            ("wlp:dev", llm, row) for llm in llms for row in per_llm
        ] + [("gum:test", "-", "encoder")] + [("gum:test", llm, row) for llm in llms for row in per_llm]
        by = {(r["set"], r["llm"], r["row"]): r for r in rows}
        assert by[("wlp:dev", "-", "encoder")]["llm_calls"] == 0
        assert by[("wlp:dev", "oracle:0.1@0.9", "LLM only")]["llm_calls"] == 2
        assert by[("wlp:dev", "oracle:0.1@0.9", "LLM only")]["relation_f1"] is not None
        assert by[("gum:test", "-", "encoder")]["relation_f1"] is None
        new = by[("wlp:dev", "oracle:0.1@0.9", "hybrid 1 new t0.4 w0.6")]
        assert new["competence"]["reference_f1"] == 0.9 and "estimators" in by[("wlp:dev", "-", "encoder")]
        asked = len(server.requests)
        assert asked > 0
        assert bench.main(argv) == 0
        assert len(server.requests) == asked  # every configured-LLM answer came from the cache


def test_spearman_and_estimator_quality():
    bench = load_script()
    assert bench.spearman([1, 2, 3], [10, 20, 30]) == 1.0
    assert bench.spearman([1, 2, 3], [3, 2, 1]) == -1.0
    assert bench.spearman([1, 1], [1, 2]) is None
    per_label = {"a": {"tp": 5, "fn": 0, "f1": 0.8}, "b": {"tp": 1, "fn": 1, "f1": 0.1}}
    assert bench.estimator_quality({"a": 0.6}, per_label) == {"labels": 1, "mae": 0.2, "spearman": None}


def test_the_measured_rule_reads_examples_of_another_split(tmp_path, base, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_DATA", str(zero_shot_data_dir(tmp_path / "data")))
    bench = load_script()
    out = tmp_path / "rows.json"
    argv = ["--sets", "wlp:dev", "--limit", "2", "--budgets", "1", "--model", str(base), "--llm", "oracle:0.1",
            "--rules", "old,measured", "--examples", "3", "--examples-from", "train", "--json", str(out)]  # fmt: skip
    assert bench.main(argv) == 0
    rows = {r["row"]: r for r in json.loads(out.read_text())["rows"]}
    measured = rows["hybrid 1 measured"]["competence"]
    assert measured["measured"] and measured["chunks"] == 3  # the three examples, nothing observed after
    assert all("llm_estimate" in v for v in measured["entities"].values())
    from hybrid_ie import competence

    pools, draw = [], competence.draw_examples
    monkeypatch.setattr(competence, "draw_examples", lambda pool, n, seed: pools.append(pool) or draw(pool, n, seed))
    own = [*argv[:2], "--limit", "1", *argv[4:-4], "--examples-from", "dev", "--json", str(out)]
    assert bench.main(own) == 0  # the rows' own split
    rows_ids = {d.id for d in bench.load_set("wlp:dev", 1)[1]}
    assert pools[-1] and not rows_ids & {d.id for d in pools[-1]}  # drawn after the rows' first --limit texts
    with pytest.raises(SystemExit, match="leaves no text"):
        bench.main([*argv[:2], "--limit", "100000", *argv[4:-4], "--examples-from", "dev", "--json", str(out)])
    with pytest.raises(SystemExit, match="needs --examples-from"):
        bench.main(["--sets", "wlp:dev", "--limit", "2", "--model", str(base), "--llm", "oracle:0.1", "--rules", "measured"])
