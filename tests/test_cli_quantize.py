"""`hybrid-ie extract --quantize int8`: the int8 encoder through the CLI gives the same documents
as the in-process `Extractor(quantize="int8")`, and a bad mode is one clear error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.pipeline import Extractor

runner = CliRunner()
TEXTS = [
    {"id": f"d{i}", "text": f"Person{i} Smith works for Acme{i} in Boston . Mary{i} lives in Paris ."}
    for i in range(6)
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


def documents(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_extract_quantize_int8_equals_the_api(tmp_path, checkpoint):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps(t) + "\n" for t in TEXTS), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["extract", str(corpus), "--model", str(checkpoint), "-o", str(out), "--mode",
                                 "encoder", "--quantize", "int8", "--threshold", "0.45", "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    got = documents(out)
    assert [d["id"] for d in got] == [t["id"] for t in TEXTS]
    assert any(d["entities"] for d in got)
    for doc in got:
        for e in doc["entities"]:
            assert doc["text"][e["start"] : e["end"]] == e["text"]
    extractor = Extractor("conll04", encoder=str(checkpoint), mode="encoder", threshold=0.45, quantize="int8")
    assert extractor.encoder.quantization == "int8"
    expected = [d.to_dict() for d in extractor.extract_many(TEXTS)]
    assert [(d["entities"], d["relations"]) for d in got] == [(d["entities"], d["relations"]) for d in expected]
    summary = json.loads((tmp_path / "out.summary.json").read_text(encoding="utf-8"))
    assert summary["settings"]["quantize"] == "int8"


def test_extract_quantize_bad_mode_is_one_clear_error(tmp_path, checkpoint):
    text = tmp_path / "a.txt"
    text.write_text("Mary lives in Paris.", encoding="utf-8")
    result = runner.invoke(app, ["extract", str(text), "--model", str(checkpoint), "-o", str(tmp_path / "o.jsonl"),
                                 "--mode", "encoder", "--quantize", "int4", "--no-progress"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.strip().count("\n") == 0
    assert "unknown quantize mode 'int4'; choose one of none, int8" in result.output
