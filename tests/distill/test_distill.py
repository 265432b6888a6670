"""`hybrid-ie distill` end to end with a tiny random encoder and the loopback LLM server: the
silver set (filtering, provenance), learning towards the silver labels, the LLM answer cache
shared with `extract --mode llm`, kill + resume, replay shares, harvest from extract."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from support.weak_llm import N_DOCS, weak_llm_answer
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.distill import DistillConfig, Distiller, read_silver
from hybrid_ie.distill.finetune import (
    RELATION_CALIBRATION,
    SILVER_SET,
    entities_only,
    replay_config,
    silver_examples,
)
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.errors import InputError
from hybrid_ie.llm.cache import ResponseCache
from hybrid_ie.schema import load_schema
from hybrid_ie.training.mixture import set_types
from hybrid_ie.training.trainer import Trainer

N_CHUNKS = 2 * N_DOCS
FAST = {"lr_backbone": 1e-3, "lr_heads": 1e-2, "batch_size": 4, "progress": False}


def config(tmp_path: Path, base: Path, **overrides) -> DistillConfig:
    settings = {"schema": "conll04", "output_dir": str(tmp_path / "mine"), "base": str(base), "replay": 0.0,
                "steps": 4, "min_grounding": 0.95, **FAST}  # fmt: skip
    settings.update(overrides)
    return DistillConfig(**settings)


def span_score(encoder: JointEncoder, text: str, span: str, label: str) -> float:
    """The encoder's score for `span` labelled `label` in `text` (0 when not even a candidate)."""
    doc = encoder.predict([text], load_schema("conll04"), threshold=0.0, nested=True, candidate_floor=0.0)[0]
    start = text.index(span)
    rows = [(e.start, e.end, e.label, e.score) for e in doc.entities]
    rows += [(c["start"], c["end"], c["label"], c["score"]) for c in doc.meta["encoder"].get("candidates", [])]
    return max((s for a, b, lab, s in rows if (a, b, lab) == (start, start + len(span), label)), default=0.0)


def test_silver_set_keeps_grounded_items_with_provenance_and_the_encoder_learns_them(tmp_path, base, corpus,
                                                                                     llm_config, server):  # fmt: skip
    silver_out = tmp_path / "silver.jsonl"
    cfg = config(tmp_path, base, texts=[str(corpus)], llm_config=str(llm_config), silver_out=str(silver_out),
                 steps=80, holdout=0.0)  # fmt: skip
    result = Distiller(cfg).run()
    assert len(server.requests) == N_CHUNKS
    docs = read_silver([silver_out], load_schema("conll04"))
    assert len(docs) == N_CHUNKS
    texts = {e.text for d in docs for e in d.entities}
    assert "Boston" in texts and "Paris" not in texts  # "Pariss" grounded at 0.91 < 0.95: dropped
    assert all(d.text[e.start : e.end] == e.text for d in docs for e in d.entities)
    for d in docs:
        info = d.meta["silver"]
        assert info["origin"]["doc"] == d.id.split("#")[0]
        for e, item in zip(d.entities, info["entities"], strict=True):
            assert item["grounding"] == "exact" and item["grounding_score"] == 1.0
            assert item["provenance"] in ("llm", "llm+encoder")
            assert item["weight"] == (2.0 if item["provenance"] == "llm+encoder" else 1.0)
            assert e.source == ("both" if item["provenance"] == "llm+encoder" else "llm")
    assert sum(len(d.relations) for d in docs) == N_DOCS  # OrgBased_In(Acme_i, Boston)
    stats = result.stats
    assert stats["ungrounded"] == N_DOCS and stats["dropped_low_grounding"] == N_DOCS
    assert stats["entities"] == 2 * N_DOCS and stats["answers_ok"] == N_CHUNKS
    # the model card and the checkpoint
    out = tmp_path / "mine"
    card = json.loads((out / "distill.json").read_text())
    assert card["llm"]["model"] == "test-model" and card["sample"]["chunks_asked"] == N_CHUNKS
    assert card["training"]["replay"] == 0.0 and card["silver"]["entities"] == 2 * N_DOCS
    assert "test-model" in (out / "README.md").read_text() and not (out / "train").exists()
    # predictions moved towards the silver labels
    before, after = JointEncoder.from_pretrained(base), JointEncoder.from_pretrained(out)
    text = "Person3 Smith works for Acme3 in Boston."  # a silver chunk
    assert span_score(after, text, "Boston", "Loc") > span_score(before, text, "Boston", "Loc") + 0.2
    # a span the LLM never labels is a (soft) negative: its scores fall
    assert span_score(after, text, "Person3", "Peop") < span_score(before, text, "Person3", "Peop") - 0.2
    assert "location" in after.known_labels and "person" in after.known_labels


def test_distill_reuses_the_answers_of_extract_mode_llm(tmp_path, base, corpus, llm_config, server):
    runner = CliRunner()
    res = runner.invoke(app, ["extract", str(corpus), "--schema", "conll04", "--mode", "llm", "--llm-config",
                              str(llm_config), "-o", str(tmp_path / "llm.jsonl"), "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    asked = len(server.requests)
    assert asked == N_CHUNKS
    result = Distiller(config(tmp_path, base, texts=[str(corpus)], llm_config=str(llm_config))).run()
    assert len(server.requests) == asked  # every answer came from the cache
    assert result.usage["cache_hits"] == N_CHUNKS and result.usage["prompt_tokens"] == 0


def test_a_killed_run_resumes_without_asking_again(tmp_path, base, corpus, llm_config, server):
    from support.llm_server import Reply

    server.default = Reply.hang(0.3, weak_llm_answer)
    cmd = [sys.executable, "-m", "hybrid_ie.cli", "distill", "--schema", "conll04", "--texts", str(corpus),
           "--llm-config", str(llm_config), "--base", str(base), "--replay", "0", "--steps", "2", "--no-progress",
           "-o", str(tmp_path / "mine")]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    job = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = tmp_path / "cache.sqlite"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and job.poll() is None:
        if cache.exists() and len(ResponseCache(cache)) >= 3:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the run finished before it could be killed"
    os.kill(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    done = len(ResponseCache(cache))
    assert 3 <= done < N_CHUNKS
    asked_before = len(server.requests)
    server.default = Reply.ok(weak_llm_answer)
    result = Distiller(config(tmp_path, base, texts=[str(corpus)], llm_config=str(llm_config))).run()
    assert len(server.requests) - asked_before == N_CHUNKS - done  # only the chunks never answered
    assert result.usage["cache_hits"] == done
    assert (tmp_path / "mine" / "config.json").exists()


def test_replay_share_is_honoured(tmp_path, base, data_dir, corpus, llm_config):
    silver_out = tmp_path / "silver.jsonl"
    Distiller(config(tmp_path, base, texts=[str(corpus)], llm_config=str(llm_config), silver_out=str(silver_out),
                     steps=1)).run()  # fmt: skip
    schema = load_schema("conll04")
    examples = silver_examples(read_silver([silver_out], schema), "soft", 0.3, 120)
    assert examples and all(ex.negative_weight == 0.3 for ex in examples)
    drawn = {}
    for replay in (0.0, 0.75):
        cfg = replay_config(base, tmp_path / f"run{replay}", replay=replay, replay_sets=["news"], replay_limit=None,
                            steps=5, batch_size=4, lr_backbone=1e-4, lr_heads=1e-3, seed=1, threads=1,
                            data_dir=str(data_dir))  # fmt: skip
        trainer = Trainer(cfg, extra_sets={SILVER_SET: (examples, set_types(schema))})
        drawn[replay] = Counter(trainer.sets.next()[0] for _ in range(2000))
    assert drawn[0.0] == Counter({SILVER_SET: 2000})
    assert 0.70 < drawn[0.75]["news"] / 2000 < 0.80 and set(drawn[0.75]) == {"news", SILVER_SET}
    with pytest.raises(InputError, match="replay-sets"):
        replay_config(base, tmp_path / "x", replay=0.5, replay_sets=None, replay_limit=None, steps=5, batch_size=4,
                      lr_backbone=1e-4, lr_heads=1e-3, seed=1, threads=1, data_dir=str(data_dir))  # fmt: skip


def test_harvest_from_extract_feeds_distill_without_llm_calls(tmp_path, base, corpus, llm_config, server):
    silver = tmp_path / "harvest.jsonl"
    # llm_corrects: the chunk's answer is the LLM's, whatever labels the random tiny encoder gives
    res = CliRunner().invoke(app, ["extract", str(corpus), "--schema", "conll04", "--mode", "hybrid", "--model",
                                   str(base), "--escalate-all", "--budget", "1", "--escalation", "extract",
                                   "--reconcile", "llm_corrects", "--llm-config", str(llm_config), "-o",
                                   str(tmp_path / "out.jsonl"), "--silver-out", str(silver), "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    asked = len(server.requests)
    docs = read_silver([silver], load_schema("conll04"))
    assert len(docs) == N_CHUNKS and all(d.meta["silver"]["origin"]["harvest"] for d in docs)
    provenance = Counter(i["provenance"] for d in docs for i in d.meta["silver"]["entities"])
    assert provenance["llm"] + provenance["llm+encoder"] >= 2 * N_DOCS
    assert all(d.text[e.start : e.end] == e.text for d in docs for e in d.entities)
    result = Distiller(config(tmp_path, base, silver=[str(silver)])).run()
    assert len(server.requests) == asked and result.usage["calls"] == 0
    assert result.silver_documents == N_CHUNKS
    card = json.loads((tmp_path / "mine" / "distill.json").read_text())
    assert card["llm"] is None and card["silver_files"] == [str(silver)]


def test_bad_inputs_are_named(tmp_path, base):
    with pytest.raises(InputError, match="nothing to learn from"):
        Distiller(config(tmp_path, base)).run()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "a", "text": "Mary.", "entities": [], "relations": []}) + "\n")
    with pytest.raises(InputError, match="not a silver document"):
        read_silver([bad], load_schema("conll04"))
    with pytest.raises(InputError, match="not an encoder checkpoint"):
        Distiller(config(tmp_path, tmp_path))


def test_entities_only_trains_no_silver_relation_and_keeps_the_relation_calibration(tmp_path, base, corpus,
                                                                                     llm_config, server):
    silver_out = tmp_path / "silver.jsonl"
    Distiller(config(tmp_path, base, texts=[str(corpus)], llm_config=str(llm_config), silver_out=str(silver_out),
                     steps=1)).run()  # fmt: skip
    silver = read_silver([silver_out], load_schema("conll04"))
    assert any(d.relations for d in silver)  # the LLM gave relations: the option has something to drop
    schema, stripped = entities_only(load_schema("conll04"), silver)
    assert not schema.relation_types and [len(d.entities) for d in stripped] == [len(d.entities) for d in silver]
    examples = silver_examples(stripped, "soft", 0.3, 120)
    assert examples and not any(ex.relations for ex in examples)
    base_config = JointEncoder.from_pretrained(base).config
    Distiller(config(tmp_path, base, silver=[str(silver_out)], relations=False, holdout=0.5,
                     output_dir=str(tmp_path / "ents"))).run()  # fmt: skip
    saved = JointEncoder.from_pretrained(tmp_path / "ents").config
    assert [getattr(saved, k) for k in RELATION_CALIBRATION] == [getattr(base_config, k) for k in RELATION_CALIBRATION]
    card = json.loads((tmp_path / "ents" / "distill.json").read_text())
    assert card["training"]["silver_relations"] is False
    assert saved.calibration["thresholds"]["relation_threshold"] == base_config.relation_threshold
    assert "entities only" in (tmp_path / "ents" / "README.md").read_text()
