"""Benchmark suites (hybrid_ie.benchmark.suite) and `hybrid-ie benchmark --suite`, on a tiny
hermetic data folder with a tiny random encoder (and an oracle that answers the gold)."""

from __future__ import annotations

import json

import pytest
from support.tiny_data import zero_shot_data_dir
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.benchmark.suite import Suite, available_suites, load_suite, run_suite
from hybrid_ie.cli import app
from hybrid_ie.errors import InputError

runner = CliRunner()
NER_SETS = ["wnut17", "gum", "re3d", "bio-bionlp13cg"]


@pytest.fixture
def data(tmp_path):
    return zero_shot_data_dir(tmp_path / "data")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_encoder(seed=3).save_pretrained(tmp_path_factory.mktemp("ckpt") / "tiny")


class Oracle:
    """Answers the gold documents (looked up by id): every score must be 1."""

    def __init__(self, sets):
        self.gold = {d.id: d for ds in sets for split in ds.splits for d in ds.load(split)}
        self.calls = []

    def predict(self, texts, schema, *, ids, batch_size, nested, progress):
        self.calls.append((schema.name, len(texts), batch_size, nested, schema.relation_labels))
        return [self.gold[i] for i in ids]


def test_the_zero_shot_suite_is_the_protocol():
    suite = load_suite("zero-shot")
    assert "zero-shot" in available_suites()
    assert [(s.name, s.tasks) for s in suite.sets] == [
        *((name, ("entities",)) for name in NER_SETS),
        ("wlp", ("entities", "relations")),
    ]
    assert suite.macro_sets == tuple(NER_SETS) and suite.macro_level == "entities"
    assert suite.nested is False
    assert suite.bar == (("macro", 0.35), ("wlp.entities", 0.20), ("wlp.relations", 0.05))


def test_cli_suite_writes_reports_and_predictions(data, checkpoint, tmp_path):
    out = tmp_path / "report"
    args = ["benchmark", "--suite", "zero-shot", "--model", str(checkpoint), "--data", str(data)]
    result = runner.invoke(app, [*args, "--threads", "1", "--no-progress", "-o", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["sets"]] == [*NER_SETS, "wlp"] and report["skipped"] == []
    sizes = {s["name"]: s["sentences"] for s in report["sets"]}
    assert sizes == {"wnut17": 3, "gum": 2, "re3d": 2, "bio-bionlp13cg": 3, "wlp": 3}
    for s in report["sets"]:
        lines = (out / s["preds"]).read_text(encoding="utf-8").splitlines()
        assert [json.loads(x)["id"] for x in lines] == [
            f"{s['name']}-test-{i}" for i in range(s["sentences"])
        ]
        assert s["sentences_per_s"] > 0 and s["split"] == "test"
        assert ("relations" in s["scores"]) == (s["name"] == "wlp")
    wlp = report["sets"][-1]
    assert wlp["labels"] == {"entities": 3, "relations": 2}
    assert [t["verbose"] for t in wlp["schema"]["entity_types"]] == ["person", "organization", "location"]
    metrics = report["metrics"]
    assert set(metrics) == {f"{n}.entities" for n in [*NER_SETS, "wlp"]} | {"wlp.relations", "macro"}
    assert metrics["macro"] == pytest.approx(sum(metrics[f"{n}.entities"] for n in NER_SETS) / 4)
    assert report["macro"] == {"level": "entities", "sets": NER_SETS, "missing": [], "f1": metrics["macro"]}
    assert report["bar_applies"] is True
    assert [b["metric"] for b in report["bar"]] == ["macro", "wlp.entities", "wlp.relations"]
    assert report["threads"] == 1 and report["batch_size"] == 32 and report["nested"] is False
    assert len(report["load_average"]["start"]) == 3 and "load average" in (out / "report.md").read_text()
    assert report["model"]["path"] == str(checkpoint) and report["model"]["config_sha"]
    assert report["command"] == (
        f"hybrid-ie benchmark --suite zero-shot --model {checkpoint} --split test --threads 1 "
        f"--data {data} -o {out}"
    )
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| wlp | test | 3 | 3+2 |" in md and "macro strict entity F1 over wnut17, gum, re3d" in md
    assert "wlp.relations >= 5.0" in md and "bar: " in md
    assert "macro strict entity F1" in result.stdout and "bio-bionlp13cg" in result.stdout


def test_dev_split_skips_sets_without_dev_and_the_bar_is_indicative(data, checkpoint, tmp_path):
    args = ["benchmark", "--suite", "zero-shot", "--model", str(checkpoint), "--data", str(data)]
    result = runner.invoke(
        app, [*args, "--split", "dev", "--limit", "1", "--no-progress", "-o", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["sets"]] == ["wnut17", "bio-bionlp13cg", "wlp"]
    assert all(s["sentences"] == 1 and s["split"] == "dev" for s in report["sets"])
    assert [s["name"] for s in report["skipped"]] == ["gum", "re3d"]
    assert report["macro"]["sets"] == ["wnut17", "bio-bionlp13cg"] and report["macro"]["missing"] == [
        "gum",
        "re3d",
    ]
    assert report["bar_applies"] is False and report["bar_passed"] is None
    assert "gum: skipped, no dev split" in result.stdout and "indicative only" in result.stdout


def test_run_suite_from_python_with_an_encoder_object(data, tmp_path):
    from hybrid_ie.datasets import discover_sets

    oracle = Oracle(discover_sets(data))
    report = run_suite(oracle, split="test", root=data, threads=1)  # no output folder: nothing written
    assert oracle.calls == [
        ("wnut17", 3, 32, False, []),
        ("gum", 2, 32, False, []),
        ("re3d", 2, 32, False, []),
        ("bio-bionlp13cg", 3, 32, False, []),
        ("wlp", 3, 32, False, ["Work_For", "Live_In"]),
    ]
    assert all(v == 1.0 for v in report["metrics"].values())
    assert report["bar_passed"] is True and report["model"]["identity"] == "Oracle"
    limited = run_suite(oracle, limit=1, root=data)
    assert limited["bar_applies"] is False and all(s["sentences"] == 1 for s in limited["sets"])
    assert not list(tmp_path.glob("**/preds"))


def test_suite_errors_are_clear(data, checkpoint, tmp_path):
    def fails(*extra):
        result = runner.invoke(app, ["benchmark", "--model", str(checkpoint), "-o", str(tmp_path), *extra])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        return result.stderr

    assert "unknown suite 'nope'; available: zero-shot" in fails("--suite", "nope", "--data", str(data))
    assert "--modes: not used with --suite" in fails("--suite", "zero-shot", "--modes", "llm")
    assert "test or dev" in fails("--suite", "zero-shot", "--split", "train", "--data", str(data))
    assert "give --dataset" in fails()
    assert "--data applies only with --suite" in fails("--dataset", "conll04", "--data", str(data))
    (data / "re3d" / "types.json").unlink()
    assert "set(s) re3d not in" in fails("--suite", "zero-shot", "--data", str(data))


def test_a_suite_from_a_json_file_and_bad_definitions(data, tmp_path):
    from hybrid_ie.datasets import discover_sets

    path = tmp_path / "mini.json"
    path.write_text(json.dumps({"sets": [{"name": "wlp", "tasks": ["entities", "relations"]}],
                                "bar": [{"metric": "wlp.relations", "min": 0.5}]}))  # fmt: skip
    report = run_suite(Oracle(discover_sets(data)), suite=path, root=data)
    assert report["suite"] == "mini" and report["macro"]["f1"] is None and report["bar_passed"] is True
    with pytest.raises(InputError, match=r"bar metric\(s\) \['gum.relations'\] not measured"):
        Suite.from_dict("x", {"sets": [{"name": "gum"}], "bar": [{"metric": "gum.relations", "min": 0}]})
    with pytest.raises(InputError, match="tasks"):
        Suite.from_dict("x", {"sets": [{"name": "gum", "tasks": ["events"]}]})
    with pytest.raises(InputError, match="'macro' must average"):
        Suite.from_dict("x", {"sets": [{"name": "gum"}], "macro": {"sets": ["wlp"]}})


def test_report_names_an_averaged_checkpoint_and_a_mixture_of_all_sets():
    from hybrid_ie.benchmark.suite_report import _model_lines

    base = {"path": "m", "identity": "m@1", "config_sha": "abc", "threshold": 0.1, "relation_threshold": 0.2,
            "training_datasets": "all", "training_best": {"step": 1000}}
    assert "trained on all, best step 1000;" in _model_lines(base)[1]
    soup = _model_lines({**base, "averaged_from": 2})[1]
    assert "the average of 2 checkpoints (the first trained on all, best step 1000);" in soup
    assert "trained on conll04, ade;" in _model_lines({**base, "training_datasets": ["conll04", "ade"],
                                                       "training_best": {}})[1]
