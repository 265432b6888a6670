"""`hybrid-ie convert` and `hybrid-ie eval`, run in-process through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.tiny_data import tiny_data_dir
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.paths import data_dir

DATA = Path(__file__).parent / "data"
runner = CliRunner()


def run_ok(*args: str):
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def run_json(*args: str) -> dict:
    return json.loads(run_ok(*args, "--json").stdout)


def assert_perfect(report: dict) -> None:
    for level, schemes in (
        ("entities", ("strict", "boundary", "partial")),
        ("relations", ("strict", "boundary")),
    ):
        for scheme in schemes:
            row = report[level][scheme]
            assert (row["precision"], row["recall"], row["f1"]) == (1.0, 1.0, 1.0), (level, scheme)
            assert row["fp"] == row["fn"] == 0
    for level in ("entities", "relations"):
        assert report["macro"][level]["f1"] == 1.0
        assert all(row["f1"] == 1.0 for row in report["per_label"][level].values())


def test_convert_then_eval_against_itself(tmp_path):
    out = tmp_path / "tiny.jsonl"
    result = run_ok("convert", "spert", str(DATA / "tiny_spert.json"), "-o", str(out))
    assert "wrote 2 documents" in result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert first["id"] == "data-tiny_spert-0"
    assert [(e["text"], e["label"]) for e in first["entities"]] == [
        ("John Smith", "Peop"),
        ("Acme Corp", "Org"),
        ("Boston", "Loc"),
    ]
    report = run_json("eval", "--gold", str(out), "--pred", str(out))
    assert_perfect(report)
    assert report["entities"]["strict"]["tp"] == 3 and report["relations"]["strict"]["tp"] == 2
    # gold given as the SpERT file itself gives the same ids, so the same result
    assert run_json("eval", "--gold", str(DATA / "tiny_spert.json"), "--pred", str(out)) == report


def test_eval_json_on_the_perturbed_fixture():
    args = ("eval", "--gold", str(DATA / "eval_gold.jsonl"), "--pred", str(DATA / "eval_pred.jsonl"))
    result = run_ok(*args, "--schema", "default", "--json")
    report = json.loads(result.stdout)  # stdout is exactly one JSON object
    # the counts computed by hand in tests/test_metrics.py::test_fixture_counts_by_hand
    got = {
        (level, scheme): (row["tp"], row["fp"], row["fn"])
        for level in ("entities", "relations")
        for scheme, row in report[level].items()
    }
    assert got == {
        ("entities", "strict"): (4, 5, 6),
        ("entities", "boundary"): (6, 3, 4),
        ("entities", "partial"): (7.0, 2.0, 3.0),
        ("relations", "strict"): (1, 4, 4),
        ("relations", "boundary"): (2, 3, 3),
    }
    assert set(report["per_label"]) == {"entities", "relations"}
    assert set(report["macro"]) == {"entities", "relations"}
    assert report["documents"]["missing_in_pred"] == ["fx-4"]
    assert "1 missing in predictions: fx-4" in result.stderr
    # without --schema nothing is symmetric: the reversed spouse_of is wrong
    directed = run_json(*args)
    assert (directed["relations"]["strict"]["tp"], directed["relations"]["strict"]["fp"]) == (0, 5)


def test_eval_tables():
    result = run_ok("eval", "--gold", str(DATA / "eval_gold.jsonl"), "--pred", str(DATA / "eval_pred.jsonl"))
    out = result.stdout
    for needle in ("Scores", "strict", "boundary", "partial", "macro (4 labels)", "Per label, entities"):
        assert needle in out
    assert "42.11" in out  # entity strict F1 = 8/19
    assert "fx-4" in out


def test_malformed_jsonl_names_file_and_line(tmp_path):
    bad = tmp_path / "pred.jsonl"
    good_line = (DATA / "eval_gold.jsonl").read_text(encoding="utf-8").splitlines()[0]
    bad.write_text(good_line + "\n\n" + '{"id": "x", "text": "abc"\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", "--gold", str(DATA / "eval_gold.jsonl"), "--pred", str(bad)])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert len(message.splitlines()) == 1, message  # one line, however long the path
    assert f"{bad}:3: malformed JSON" in message
    assert "Traceback" not in result.output


def test_invalid_document_and_unknown_schema_exit_2(tmp_path):
    bad = tmp_path / "pred.jsonl"
    doc = {
        "id": "x",
        "text": "abc",
        "entities": [{"id": "T1", "start": 0, "end": 2, "text": "ab", "label": "L"}],
    }
    doc["entities"][0]["text"] = "zz"
    bad.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "--gold", str(bad), "--pred", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:1: invalid document" in result.stderr and "'zz'" in result.stderr
    gold = str(DATA / "eval_gold.jsonl")
    result = runner.invoke(app, ["eval", "--gold", gold, "--pred", gold, "--schema", "nope"])
    assert result.exit_code == 2
    assert "unknown schema 'nope'" in result.stderr
    result = runner.invoke(app, ["eval", "--gold", str(tmp_path / "missing.jsonl"), "--pred", gold])
    assert result.exit_code == 2 and "no such file" in result.stderr


def test_empty_prediction_file_reports_every_gold_document_missing(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    report = run_json("eval", "--gold", str(DATA / "eval_gold.jsonl"), "--pred", str(empty))
    assert report["documents"]["missing_in_pred_count"] == 4
    assert report["entities"]["strict"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 10,
    }


@pytest.mark.slow
@pytest.mark.skipif(not (data_dir() / "conll04" / "test.json").exists(), reason="benchmark data not present")
def test_conll04_test_converted_scores_one(tmp_path):
    out = tmp_path / "t.jsonl"
    run_ok("convert", "spert", str(data_dir() / "conll04" / "test.json"), "-o", str(out))
    report = run_json("eval", "--gold", str(out), "--pred", str(out))
    assert_perfect(report)
    assert report["documents"]["gold"] == 288
    assert report["entities"]["strict"]["tp"] == 1079 and report["relations"]["strict"]["tp"] == 422
    assert run_json("eval", "--gold", "conll04:test", "--pred", str(out)) == report


def test_data_list_table_and_json(tmp_path):
    root = tiny_data_dir(tmp_path / "data")
    rows = json.loads(run_ok("data", "list", "--data", str(root), "--json").stdout)
    by_name = {r["name"]: r for r in rows}
    assert list(by_name) == ["fewrel-tiny", "ner-a", "ner-b", "news", "partial-x"]
    assert by_name["news"] == {
        "name": "news",
        "annotation": "complete",
        "sentences": {"train": 6, "dev": 3, "test": 3},
        "train_entities": 10,
        "train_relations": 4,
        "entity_types": 3,
        "relation_types": 2,
        "path": str(root / "news"),
    }
    assert by_name["ner-b"]["sentences"] == {"train": 3, "dev": None, "test": 2}
    assert by_name["fewrel-tiny"]["annotation"] == by_name["partial-x"]["annotation"] == "partial"
    table = runner.invoke(app, ["data", "list", "--data", str(root)], env={"COLUMNS": "100"}).stdout
    assert "5 data sets in" in table
    news = next(line for line in table.splitlines() if line.startswith("news "))
    assert news.split() == ["news", "complete", "6", "3", "3", "10", "4", "3", "2"]
    ner_b = next(line for line in table.splitlines() if line.startswith("ner-b "))
    assert ner_b.split()[2:5] == ["3", "-", "2"]


def test_data_list_missing_folder_is_one_clear_line(tmp_path):
    result = runner.invoke(app, ["data", "list", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "data folder" in result.stderr and "nowhere not found" in result.stderr
    assert "Traceback" not in result.output
