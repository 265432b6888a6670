"""`hybrid-ie extract` and `hybrid-ie render` as a user runs them: real subprocesses for the
kill -9 / resume and LLM-down behaviours (with the loopback LLM server), the typer runner for
the quick input-error cases."""

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
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.job_output import summary_path
from hybrid_ie.llm import LLMConfig
from hybrid_ie.pipeline import Extractor
from hybrid_ie.router import DEFAULT_BUDGET, MEASURED_WEAK_BUDGET, RoutingPolicy

HYBRID_IE = str(Path(sys.executable).parent / "hybrid-ie")
N_DOCS = 16


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(N_DOCS):
            text = f"Person{i} Smith works for Acme{i} in Boston. Mary{i} lives in Paris."
            handle.write(json.dumps({"id": f"d{i:02d}", "text": text}) + "\n")
    return path


@pytest.fixture
def server():
    with LLMServer() as srv:
        yield srv


def llm_config_file(tmp_path: Path, server: LLMServer, **overrides) -> Path:
    path = tmp_path / "llm.json"
    config = client_config(server, **overrides).model_dump(mode="json", exclude_none=True)
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "HYBRID_IE_CACHE": str(tmp_path / "cache")}


def extract_cmd(corpus: Path, out: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [HYBRID_IE, "extract", str(corpus), "--schema", "conll04", "--model", str(checkpoint),
            "-o", str(out), "--no-progress", *extra]  # fmt: skip


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def items(doc: dict) -> tuple:
    ents = [(e["start"], e["end"], e["label"], e["source"]) for e in doc["entities"]]
    rels = [(r["head"], r["tail"], r["label"], r["source"]) for r in doc["relations"]]
    return doc["id"], ents, rels


def in_process(corpus: Path, checkpoint: Path, **options) -> list[tuple]:
    """The same extraction in this process, as the reference the CLI output must equal."""
    extractor = Extractor("conll04", encoder=JointEncoder.from_pretrained(checkpoint), **options)
    texts = [json.loads(line) for line in corpus.read_text(encoding="utf-8").splitlines()]
    return [items(doc.to_dict()) for doc in extractor.extract_many(texts, batch_size=2)]


def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path, corpus, checkpoint, server):
    server.default = Reply.hang(0.1)  # every LLM answer takes a while: the job is killed mid-way
    config = llm_config_file(tmp_path, server, timeout_s=5.0)
    hybrid = ("--mode", "hybrid", "--escalate-all", "--budget", "1", "--llm-config", str(config), "--batch-size", "2")
    expected = in_process(corpus, checkpoint, mode="hybrid", llm=LLMConfig.load(config), policy=RoutingPolicy.always())
    assert len(expected) == N_DOCS

    out = tmp_path / "out.jsonl"
    partial = tmp_path / "out.jsonl.partial"  # a fresh job writes here and renames it when done
    job = subprocess.Popen(extract_cmd(corpus, out, checkpoint, *hybrid), env=env(tmp_path),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and job.poll() is None:
        if partial.exists() and partial.read_bytes().count(b"\n") >= 4:
            break
        time.sleep(0.05)
    assert job.poll() is None, "the job finished before it could be killed"
    os.kill(job.pid, signal.SIGKILL)
    job.wait(timeout=30)
    assert not out.exists()
    done_before = partial.read_bytes().count(b"\n")
    assert 4 <= done_before < N_DOCS

    resumed = subprocess.run(extract_cmd(corpus, out, checkpoint, *hybrid, "--resume"), check=False, env=env(tmp_path),
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert not partial.exists()
    docs = lines(out)
    assert [d["id"] for d in docs] == [f"d{i:02d}" for i in range(N_DOCS)]
    assert [items(d) for d in docs] == expected
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["documents"] == N_DOCS and summary["skipped_as_done"] == done_before
    assert summary["processed_this_run"] == N_DOCS - done_before
    assert summary["escalation_rate"] == 1.0 and summary["llm_calls"] == 2 * N_DOCS


def test_llm_down_writes_errors_with_the_encoder_result_and_goes_on(tmp_path, corpus, checkpoint, server):
    server.default = Reply.server_error(503)
    config = llm_config_file(tmp_path, server, max_retries=1)
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        extract_cmd(corpus, out, checkpoint, "--mode", "hybrid", "--escalate-all", "--budget", "1",
                    "--llm-config", str(config), "--limit", "3"),
        check=False, env=env(tmp_path), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1, run.stderr  # every document of the run failed
    assert "every document of this run failed (3)" in run.stderr
    docs = lines(out)
    assert len(docs) == 3
    assert all(d["error"].startswith("llm_failed: ") for d in docs)
    assert [items(d) for d in docs] == in_process(corpus, checkpoint, mode="encoder")[:3]
    assert len(server.requests) == 3 * 2 * 2  # 3 documents x 2 chunks x (1 try + 1 retry)
    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["failures"] == 3 and summary["llm_failed_calls"] == 6
    assert "failures=3" in run.stderr


runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def one_error_line(result) -> str:
    """The one line an exit-2 run prints, beside the status lines of models it loaded."""
    assert result.exit_code == 2, result.output
    rest = [ln for ln in result.output.strip().splitlines() if not ln.startswith(("hybrid-ie: loading ", "hybrid-ie: loaded "))]
    assert len(rest) == 1, result.output
    return rest[0]


def test_bad_inputs_exit_2_with_one_clear_line(tmp_path, checkpoint):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff")
    out = str(tmp_path / "o.jsonl")
    base = ["--model", str(checkpoint), "-o", out, "--mode", "encoder", "--no-progress"]
    assert "bad.txt: invalid UTF-8 at byte 3" in one_error_line(invoke("extract", str(bad), *base))
    assert "no such file" in one_error_line(invoke("extract", str(tmp_path / "nope.txt"), *base))
    good = tmp_path / "good.txt"
    good.write_text("Mary lives in Paris.", encoding="utf-8")
    assert "unknown schema 'nope'" in one_error_line(invoke("extract", str(good), *base, "--schema", "nope"))
    assert "unknown mode" in one_error_line(invoke("extract", str(good), "-o", out, "--mode", "fast"))
    missing_model = ["--model", str(tmp_path / "no-model"), "-o", out, "--mode", "encoder", "--no-progress"]
    assert "no-model" in one_error_line(invoke("extract", str(good), *missing_model))


def test_labels_on_the_command_line_are_the_schema(tmp_path, checkpoint):
    """`--labels a,b --relations r` runs as the API's list of labels does; misuse exits 2 unwritten."""
    good = tmp_path / "good.txt"
    good.write_text("Mary works for Acme in Paris.", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    base = ["--model", str(checkpoint), "-o", str(out), "--mode", "encoder", "--no-progress"]
    result = invoke("extract", str(good), *base, "--labels", "person, company,city", "--relations", "works for")
    assert result.exit_code == 0, result.output
    doc = lines(out)[0]
    assert doc["meta"]["pipeline"]["labels"]["entities"] == ["person", "company", "city"]
    assert doc["meta"]["pipeline"]["labels"]["relations"] == ["works for"]
    labels = {"entities": ["person", "company", "city"], "relations": ["works for"]}
    reference = Extractor(labels, encoder=JointEncoder.from_pretrained(checkpoint), mode="encoder")
    expected = reference.extract(good.read_text(encoding="utf-8"))
    assert [(e["start"], e["end"], e["label"]) for e in doc["entities"]] == [
        (e.start, e.end, e.label) for e in expected.entities
    ]
    other = str(tmp_path / "other.jsonl")
    misuse = ["--model", str(checkpoint), "-o", other, "--mode", "encoder", "--no-progress"]
    assert "an empty label" in one_error_line(invoke("extract", str(good), *misuse, "--labels", "person,,city"))
    assert "exclude each other" in one_error_line(
        invoke("extract", str(good), *misuse, "--labels", "person", "--schema", "conll04"))
    assert "--relations needs --labels" in one_error_line(invoke("extract", str(good), *misuse, "--relations", "r"))
    assert not Path(other).exists()


def test_replace_bad_utf8_warns_and_extracts(tmp_path, checkpoint):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"Mary lives in Paris \xff.")
    out = tmp_path / "o.jsonl"
    result = invoke("extract", str(bad), "--model", str(checkpoint), "-o", str(out), "--mode", "encoder",
                    "--no-progress", "--on-bad-utf8", "replace")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "invalid UTF-8 from byte 20 replaced" in result.output
    assert lines(out)[0]["text"] == "Mary lives in Paris \ufffd."
    assert json.loads((tmp_path / "o.summary.json").read_text())["warnings"]


def test_render_command_writes_html(tmp_path, checkpoint, corpus):
    out = tmp_path / "o.jsonl"
    assert invoke("extract", str(corpus), "--model", str(checkpoint), "-o", str(out), "--mode", "encoder",
                  "--no-progress", "--limit", "2").exit_code == 0  # fmt: skip
    page = tmp_path / "o.html"
    result = invoke("render", str(out), "-o", str(page))
    assert result.exit_code == 0 and "rendered 2 documents" in result.output
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "cannot open" in one_error_line(invoke("render", str(tmp_path / "absent.jsonl"), "-o", str(page)))


@pytest.mark.slow
def test_a_5_mb_text_is_windowed_without_a_crash(tmp_path):
    import torch

    encoder = tiny_encoder(seed=0)
    with torch.no_grad():  # sparse scores, like a trained model's, keep decoding cheap
        encoder.model.entity_bias.fill_(-8.0)
    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    big = tmp_path / "big.txt"
    sentence = "Mary Smith of Acme Corp visited Boston on Monday and met the mayor there"
    big.write_text(" ".join([sentence] * 70_000), encoding="utf-8")  # 5 MB, no sentence end at all
    assert big.stat().st_size > 5_000_000
    out = tmp_path / "big.jsonl"
    run = subprocess.run([HYBRID_IE, "extract", str(big), "--model", str(checkpoint), "--mode", "encoder",
                          "-o", str(out), "--no-progress"], check=False, env=env(tmp_path),
                         capture_output=True, text=True, timeout=1800)  # fmt: skip
    assert run.returncode == 0, run.stderr
    (doc,) = lines(out)
    assert doc["id"] == "big" and "error" not in doc and len(doc["text"]) == big.stat().st_size
    assert doc["meta"]["pipeline"]["chunks"] == -(-len(doc["text"].split()) // 400)


def test_examples_are_read_by_both_sides_before_the_corpus(tmp_path, checkpoint, server):
    """`--labelled-examples FILE`: the LLM reads the labelled examples once (then the corpus); misuse is one line."""
    text = "Ada Lovelace lives in London ."
    gold = {"id": "ex1", "text": text, "entities": [
        {"id": "T1", "start": 0, "end": 12, "label": "Peop", "text": "Ada Lovelace"},
        {"id": "T2", "start": 22, "end": 28, "label": "Loc", "text": "London"}],
        "relations": [{"head": "T1", "tail": "T2", "label": "Live_In"}]}  # fmt: skip
    examples = tmp_path / "examples.jsonl"
    examples.write_text(json.dumps(gold) + "\n", encoding="utf-8")
    corpus = tmp_path / "in.jsonl"
    corpus.write_text(json.dumps({"id": "d1", "text": "Bob Smith works for Acme in Boston ."}) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    base = [str(corpus), "--schema", "conll04", "--model", str(checkpoint), "-o", str(out), "--no-progress",
            "--mode", "hybrid", "--llm-config", str(llm_config_file(tmp_path, server)), "--budget", "1"]  # fmt: skip
    result = invoke("extract", *base, "--labelled-examples", str(examples))  # the competence escalation, by default
    assert result.exit_code == 0, result.output
    assert server.requests[0].chunk_text == text  # the example first, extracted
    assert [doc["id"] for doc in lines(out)] == ["d1"]
    unbudgeted = [a for a in base if a not in ("--budget", "1")]
    result = invoke("extract", *unbudgeted, "--labelled-examples", str(examples), "--overwrite")
    assert result.exit_code == 0, result.output
    settings = json.loads(summary_path(out).read_text(encoding="utf-8"))["settings"]
    recorded = settings["budget"]
    assert recorded in (DEFAULT_BUDGET, MEASURED_WEAK_BUDGET)  # the budget the measurement picked, not None
    # and the measurement itself, per label: both sides' F1 on the example, and how many documents had it
    assert settings["competence"]["measured"] and settings["competence"]["entities"]["Peop"]["documents"] == 1
    assert f"budget {recorded:g} (chosen by the measurement)" in result.output
    out.unlink()
    misuse = one_error_line(invoke("extract", *base, "--escalation", "verify", "--labelled-examples", str(examples)))
    assert "examples are read only by the LLM mode (as demonstrations) and the hybrid mode's 'competence' escalation" in misuse
    assert "give those too" in one_error_line(invoke("extract", *base, "--demonstrations", "2"))
    examples.write_text(json.dumps({**gold, "entities": gold["entities"][:1], "relations": []}).replace("Peop", "Human") + "\n")
    assert "labels ['Human'] are not in the schema" in one_error_line(
        invoke("extract", *base, "--escalation", "competence", "--labelled-examples", str(examples)))
