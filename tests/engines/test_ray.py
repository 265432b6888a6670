"""The Ray engine against the local engine, on a local 2-CPU Ray instance: the same documents
(sorted by id) and the same summary for the tiny encoder and the loopback LLM server, with
failed documents (an unreadable file, a text the encoder cannot read, LLM answers that never
parse) and routing budgets (a budget fraction, a token cap); then a driver killed mid-run and a
``--resume`` that loses and duplicates nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.llm_server import LLMServer, Reply, client_config
from support.tiny_encoder import tiny_encoder

from hybrid_ie.batch import finished_documents
from hybrid_ie.engines import extract_dataset
from hybrid_ie.engines.shards import read_shards, shard_files
from hybrid_ie.job_inputs import collect_inputs
from hybrid_ie.pipeline import Extractor
from hybrid_ie.router import RoutingPolicy

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install hybrid-ie[ray])")
pa = pytest.importorskip("pyarrow", reason="the ray extra is not installed (pip install hybrid-ie[ray])")

HOPELESS = "qzx" * 30  # one word of 90 word pieces: longer than the tiny model's 48-token input
TEXTS = [
    "John Smith works for Acme Corp in Boston. He met Mary Jones in Paris.",
    HOPELESS,
    "The mayor of Chicago visited IBM headquarters.",
    "Crash Test Dummies played in Oslo.",  # the LLM's answers for this chunk never parse
    "Nothing happened. Then Peter Brown left Google for Microsoft in Seattle. Rain fell.",
    "",
    "Ann lives in Rome. Bob works for Shell.",
    "Carl met Dora in Berlin last May.",
    "Eve founded Zeta Labs. It moved to Austin. Then it closed.",
    "Frank visited the Louvre in Paris.",
    "Gina joined NASA in Houston.",
]
SUMMARY_KEYS = ("documents", "failures", "chunks", "escalated_chunks", "escalation_rate", "llm_calls",
                "llm_failed_calls", "prompt_tokens", "completion_tokens", "processed_this_run", "skipped_as_done")  # fmt: skip


def answer(request):
    """A broken answer for the Crash chunk, re-asks included (the call fails); else all candidates ok."""
    crash = any("Crash Test" in str(m.get("content")) for m in request.messages)
    return '{"entities": [' if crash else None


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The local reference runs in this process with 1 torch thread, as every Ray actor does: scores
    differ in their last digits between thread counts (float summation order), and other tests may
    have changed this process's count."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 * 1024,
             log_to_driver=False, configure_logging=False)  # fmt: skip
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_encoder(seed=0, max_length=48).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture(scope="module")
def server():
    with LLMServer(default=Reply.ok(answer)) as srv:
        yield srv


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, list[Path]]:
    """The corpus as JSONL (local) and as Parquet (ray), plus a PDF no reader can open."""
    root = tmp_path_factory.mktemp("corpus")
    rows = [{"id": f"d{i:02d}", "text": text} for i, text in enumerate(TEXTS)]
    (root / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), root / "in.parquet")
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return {"jsonl": [root / "in.jsonl", root / "broken.pdf"], "parquet": [root / "in.parquet", root / "broken.pdf"]}


def extractor(checkpoint: Path, server: LLMServer, policy: RoutingPolicy) -> Extractor:
    return Extractor("conll04", encoder=str(checkpoint), llm=client_config(server, max_reasks=1), policy=policy,
                     mode="hybrid")  # fmt: skip


def timeless(doc: dict) -> dict:
    """The document without the LLM calls' measured latency (wall-clock time, different in every run)."""
    usage = (doc["meta"].get("llm") or {}).get("usage")
    if usage:
        usage.pop("latency_s")
    return doc


def comparable(summary: dict) -> dict:
    return {k: summary[k] for k in SUMMARY_KEYS}


@pytest.mark.parametrize(
    "policy",
    [RoutingPolicy(budget=0.4), RoutingPolicy.always(max_llm_tokens=250)],
    ids=["budget-0.4", "token-cap"],
)
def test_ray_engine_gives_the_local_documents_and_summary(tmp_path, ray_instance, checkpoint, server, inputs, policy):
    local = extract_dataset(inputs["jsonl"], tmp_path / "local.jsonl", extractor(checkpoint, server, policy),
                            batch_size=3)  # fmt: skip
    remote = extract_dataset(inputs["parquet"], tmp_path / "ray", extractor(checkpoint, server, policy), engine="ray",
                             batch_size=3, workers=2, llm_concurrency=2, shard_size=4)  # fmt: skip
    expected = sorted(map(timeless, finished_documents(tmp_path / "local.jsonl")), key=lambda d: d["id"])
    got = sorted(map(timeless, read_shards(tmp_path / "ray")), key=lambda d: d["id"])
    assert got == expected
    assert len(got) == len(TEXTS) + 1
    errors = {d["id"]: d.get("error", "").split(":")[0] for d in got if d.get("error")}
    crashed = got[4]["meta"]["route"][0]["escalated"]  # d03, the Crash chunk
    assert errors == {"broken": "read_failed", "d01": "encoder_failed", **({"d03": "llm_failed"} if crashed else {})}
    assert comparable(remote.to_dict()) == comparable(local.to_dict())
    written = json.loads((tmp_path / "ray.summary.json").read_text())
    assert comparable(written) == comparable(local.to_dict())
    assert [p.name for p in shard_files(tmp_path / "ray")] == ["part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    engine = remote.settings["engine"]
    assert engine["llm_requests"]["peak"] <= 2
    # one gate slot per LLM call (its retries and re-asks inside); a batch run again calls again
    assert engine["llm_requests"]["total"] >= remote.llm_calls
    assert (engine["llm_requests"]["total"] == remote.llm_calls) == (engine["budget_reruns"] == 0)
    if policy.budget < 1:
        # 0 < skipped chunks < wanting chunks: the budget really decided, and d01's unroutable
        # chunk made the driver's guess of `seen` wrong, so batches were run again
        skipped = sum(1 for d in got for r in d["meta"].get("route", []) if r["skipped"] == "budget")
        assert 0 < skipped and 0 < remote.escalated_chunks
        assert engine["budget_reruns"] >= 1
    else:
        skipped = sum(1 for d in got for r in d["meta"].get("route", []) if r["skipped"] == "token_budget")
        assert skipped > 0 and crashed


def test_a_killed_ray_job_resumes_without_losing_or_duplicating(tmp_path, ray_instance, checkpoint, inputs):
    with LLMServer(default=Reply.hang(0.15)) as slow:
        policy = RoutingPolicy.always()
        config = tmp_path / "llm.json"
        config.write_text(json.dumps(client_config(slow, timeout_s=5.0).model_dump(mode="json", exclude_none=True)))
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "hybrid_ie.cli", "extract", *map(str, inputs["jsonl"]), "-o", str(out),
               "--model", str(checkpoint), "--mode", "hybrid", "--escalate-all", "--budget", "1",
               "--llm-config", str(config), "--batch-size", "1", "--no-progress", "--engine", "ray",
               "--address", ray_instance, "--workers", "1", "--llm-concurrency", "1", "--shard-size", "2"]  # fmt: skip
        job = subprocess.Popen(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and job.poll() is None and len(shard_files(out)) < 2:
            time.sleep(0.05)
        assert job.poll() is None, "the job finished before it could be killed"
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=30)
        before = [d["id"] for d in read_shards(out)]
        assert 4 <= len(before) < len(TEXTS) + 1 and len(set(before)) == len(before)
        (out / "part-00099.jsonl.tmp").write_text('{"id": "d10", "te')  # a shard torn by the kill

        texts, _ = collect_inputs(inputs["jsonl"])
        summary = extract_dataset(texts, out, Extractor("conll04", encoder=str(checkpoint), policy=policy,
                                  llm=client_config(slow, timeout_s=5.0)), engine="ray", resume=True,
                                  batch_size=1, workers=1, llm_concurrency=2)  # fmt: skip
        local = extract_dataset(texts, tmp_path / "local.jsonl", Extractor("conll04", encoder=str(checkpoint),
                                policy=policy, llm=client_config(slow, timeout_s=5.0)), batch_size=1)  # fmt: skip
    expected = sorted(map(timeless, finished_documents(tmp_path / "local.jsonl")), key=lambda d: d["id"])
    assert sorted(map(timeless, read_shards(out)), key=lambda d: d["id"]) == expected
    assert comparable(summary.to_dict()) | {"processed_this_run": 0, "skipped_as_done": 0} == comparable(
        local.to_dict()) | {"processed_this_run": 0, "skipped_as_done": 0}  # fmt: skip
    ids = [d["id"] for d in read_shards(out)]
    assert sorted(ids) == sorted(t.id for t in texts)  # nothing lost, nothing twice
    assert not list(out.glob("*.tmp"))
    assert summary.skipped_as_done == len(before) and summary.documents == len(texts)
    assert summary.processed_this_run == len(texts) - len(before)
    assert summary.warnings == [f"{out}: removed 1 unfinished shard(s) of a killed run"]
