"""`hybrid-ie extract` never destroys what it did not make: every setting is checked before the
output is touched, a fresh job writes a partial file and renames it, the output is locked while a
job runs, an existing output needs --resume or --overwrite, and a resume checks the settings.
Exit codes: 2 for a usage / configuration error, 1 when every document of the run failed."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from support.llm_server import LLMServer, Reply
from test_cli_extract import checkpoint, env, extract_cmd, invoke, lines, llm_config_file, one_error_line

__all__ = ["checkpoint"]  # the tiny checkpoint fixture, shared with the extract tests
OLD = "".join(json.dumps({"id": f"old{i}", "text": "x", "entities": [], "relations": []}) + "\n" for i in range(5))


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps({"id": f"d{i}", "text": f"Mary{i} Smith lives in Paris."}) + "\n"
                            for i in range(6)), encoding="utf-8")  # fmt: skip
    return path


def encoder_args(checkpoint: Path, out: Path, *extra: str) -> list[str]:
    return ["--model", str(checkpoint), "-o", str(out), "--mode", "encoder", "--no-progress", *extra]


def test_bad_settings_leave_an_existing_output_untouched(tmp_path, corpus, checkpoint, monkeypatch):
    out = tmp_path / "out.jsonl"
    out.write_text(OLD, encoding="utf-8")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    no_key = tmp_path / "nokey.json"
    no_key.write_text(json.dumps({"backend": "openai", "model": "gpt-x"}), encoding="utf-8")
    for bad in (
        ["--model", str(tmp_path / "no-model"), "-o", str(out), "--mode", "encoder"],
        ["--model", str(checkpoint), "-o", str(out), "--mode", "hybrid", "--llm-config", str(no_key)],
        encoder_args(checkpoint, out, "--batch-size", "0"),
        encoder_args(checkpoint, out, "--threshold", "-1"),
        encoder_args(checkpoint, out, "--threshold", "2"),
        encoder_args(checkpoint, out, "--schema", "nope"),
    ):
        for args in (bad, [*bad, "--overwrite"]):  # even a job asked to overwrite checks first
            result = invoke("extract", str(corpus), *args)
            assert result.exit_code == 2, (args, result.output)
            assert out.read_text(encoding="utf-8") == OLD, args
            assert not (tmp_path / "out.jsonl.partial").exists()


def test_an_existing_output_needs_resume_or_overwrite(tmp_path, corpus, checkpoint):
    out = tmp_path / "out.jsonl"
    out.write_text(OLD, encoding="utf-8")
    line = one_error_line(invoke("extract", str(corpus), *encoder_args(checkpoint, out)))
    assert "exists with 5 documents; --resume continues it, --overwrite replaces it" in line
    assert out.read_text(encoding="utf-8") == OLD
    result = invoke("extract", str(corpus), *encoder_args(checkpoint, out, "--overwrite"))
    assert result.exit_code == 0, result.output
    assert [d["id"] for d in lines(out)] == [f"d{i}" for i in range(6)]
    assert "overwrote 5 documents" in result.output


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_a_non_regular_output_is_refused_and_kept(tmp_path, corpus, checkpoint, kind):
    out = tmp_path / "special"
    os.mkfifo(out) if kind == "fifo" else out.mkdir()
    line = one_error_line(invoke("extract", str(corpus), *encoder_args(checkpoint, out, "--overwrite")))
    assert f"is a {'FIFO' if kind == 'fifo' else 'folder'}; the output must be a regular file" in line
    assert out.exists() and (out.is_fifo() if kind == "fifo" else out.is_dir())


def test_dev_null_is_refused(tmp_path, corpus, checkpoint):
    line = one_error_line(invoke("extract", str(corpus), *encoder_args(checkpoint, Path("/dev/null"), "--overwrite")))
    assert "/dev/null: is a character device" in line
    assert Path("/dev/null").is_char_device()


def test_resume_refuses_other_settings(tmp_path, corpus, checkpoint):
    out = tmp_path / "out.jsonl"
    assert invoke("extract", str(corpus), *encoder_args(checkpoint, out, "--limit", "3")).exit_code == 0
    line = one_error_line(invoke("extract", str(corpus), *encoder_args(checkpoint, out, "--resume", "--schema", "ade")))
    assert "made with schema='conll04', this job has schema='ade'" in line
    assert len(lines(out)) == 3
    result = invoke("extract", str(corpus), *encoder_args(checkpoint, out, "--resume"))
    assert result.exit_code == 0, result.output
    assert [d["id"] for d in lines(out)] == [f"d{i}" for i in range(6)]


def test_hybrid_without_a_usable_llm_fails_at_once_and_auto_falls_back(tmp_path, corpus, checkpoint):
    out = tmp_path / "out.jsonl"
    missing = {"HYBRID_IE_LLM_MODEL": str(tmp_path / "absent.gguf"), "HYBRID_IE_LLM_BACKEND": "local"}
    run_env = {**{k: v for k, v in env(tmp_path).items() if not k.upper().startswith("HYBRID_IE_LLM_")}, **missing}
    for extra in ((), ("--budget", "0")):  # no budget for the LLM still asks for one
        run = subprocess.run(extract_cmd(corpus, out, checkpoint, "--mode", "hybrid", *extra), env=run_env,
                             capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert run.returncode == 2, (extra, run.stderr)
        message = run.stderr.strip()
        assert message.count("\n") == 0, message
        assert "pip install 'hybrid-ie[local]'" in message and "hybrid-ie models pull" in message
        assert "--mode encoder" in message
        assert not out.exists() and not (tmp_path / "out.jsonl.partial").exists()
    auto = subprocess.run(extract_cmd(corpus, out, checkpoint), env=run_env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert auto.returncode == 0, auto.stderr
    assert "mode auto chose encoder" in auto.stderr
    assert {d["meta"]["pipeline"]["mode"] for d in lines(out)} == {"encoder"}


def test_the_default_mode_is_hybrid_where_an_llm_is_configured(tmp_path, corpus, checkpoint):
    with LLMServer() as server:
        config = llm_config_file(tmp_path, server)
        out = tmp_path / "out.jsonl"
        run = subprocess.run(extract_cmd(corpus, out, checkpoint, "--llm-config", str(config)), env=env(tmp_path),
                             capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "mode auto" not in run.stderr
    assert {d["meta"]["pipeline"]["mode"] for d in lines(out)} == {"hybrid"}


def test_exit_1_when_every_document_failed(tmp_path, corpus, checkpoint):
    with LLMServer(default=Reply.server_error(503)) as server:
        config = llm_config_file(tmp_path, server, max_retries=0)
        out = tmp_path / "out.jsonl"
        run = subprocess.run(extract_cmd(corpus, out, checkpoint, "--mode", "llm", "--llm-config", str(config)),
                             env=env(tmp_path), capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert "every document of this run failed (6)" in run.stderr
    assert all(d["error"].startswith("llm_failed") for d in lines(out))


def test_a_second_job_on_the_same_output_stops_naming_the_first(tmp_path, corpus, checkpoint):
    with LLMServer(default=Reply.hang(30.0)) as server:  # the first job waits on the LLM until killed
        config = llm_config_file(tmp_path, server, timeout_s=60.0, deadline_s=90.0)
        out = tmp_path / "out.jsonl"
        slow = ("--mode", "llm", "--llm-config", str(config), "--batch-size", "1")
        first = subprocess.Popen(extract_cmd(corpus, out, checkpoint, *slow), env=env(tmp_path),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not server.requests and time.monotonic() < deadline and first.poll() is None:
                time.sleep(0.05)
            assert first.poll() is None
            seconds = [subprocess.Popen(extract_cmd(corpus, out, checkpoint, *slow, *extra), env=env(tmp_path),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                       for extra in ((), ("--resume",), ("--overwrite",))]  # fmt: skip
            for second in seconds:
                _, second_err = second.communicate(timeout=300)
                assert second.returncode == 2, second_err
                assert f"another job (pid {first.pid}) is writing this output" in second_err, (second_err, first.poll())
            assert first.poll() is None, "the first job ended before the others were refused"
        finally:
            first.kill()
            first.communicate(timeout=60)
        server.default = Reply.ok()
        resumed = subprocess.run(extract_cmd(corpus, out, checkpoint, *slow, "--resume"), env=env(tmp_path),
                                 capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr  # the killed job's lock does not block the next one
    assert sorted(d["id"] for d in lines(out)) == [f"d{i}" for i in range(6)]
    assert not (tmp_path / "out.jsonl.lock").exists() and not (tmp_path / "out.jsonl.partial").exists()
