"""`hybrid-ie extract` as a user sees it on stderr (a subprocess, tiny random encoder): the bar
counts chunks, not documents, so one long document moves it; model loading has a status line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.tiny_encoder import tiny_encoder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


def extract(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "hybrid_ie.cli", "extract", *args], check=False, cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip


def test_one_long_document_counts_its_chunks_and_loading_is_announced(tmp_path, checkpoint):
    long = " ".join(f"Sentence {i} names John Smith of Acme Corp in Boston." for i in range(40))
    (tmp_path / "in.jsonl").write_text(
        json.dumps({"id": "long", "text": long}) + "\n" + json.dumps({"id": "short", "text": "Ann left."}) + "\n",
        encoding="utf-8",
    )
    done = extract(tmp_path, "in.jsonl", "--mode", "encoder", "--model", str(checkpoint), "-o", "out.jsonl")
    assert done.returncode == 0, done.stderr
    assert "41/41 chunks" in done.stderr and "docs 2/2" in done.stderr
    assert "hybrid-ie: loading encoder ckpt (" in done.stderr and "hybrid-ie: loaded encoder ckpt (" in done.stderr
    quiet = extract(tmp_path, "in.jsonl", "--mode", "encoder", "--model", str(checkpoint), "-o", "out2.jsonl",
                    "--no-progress", env={"HYBRID_IE_QUIET": "1"})  # fmt: skip
    assert quiet.returncode == 0 and "loading encoder" not in quiet.stderr and "/41 chunks" not in quiet.stderr


def test_resume_counts_only_the_chunks_left(tmp_path, checkpoint):
    texts = [f"Doc {i} says hello. Then it stops." for i in range(3)]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                                               for i, t in enumerate(texts)), encoding="utf-8")  # fmt: skip
    first = extract(tmp_path, "in.jsonl", "--mode", "encoder", "--model", str(checkpoint), "-o", "out.jsonl",
                    "--limit", "1")  # fmt: skip
    assert first.returncode == 0 and "2/2 chunks" in first.stderr
    rest = extract(tmp_path, "in.jsonl", "--mode", "encoder", "--model", str(checkpoint), "-o", "out.jsonl",
                   "--resume")  # fmt: skip
    assert rest.returncode == 0, rest.stderr
    assert "4/4 chunks" in rest.stderr and "docs 3/3" in rest.stderr
