"""The review loop as a user runs it: extract -> export labelstudio -> (review) -> import
labelstudio -> eval, and a fine-tuning run on the reviewed set, with the tiny random encoder."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.document import read_jsonl
from hybrid_ie.integrations.labelstudio import region_ids

TEXTS = [
    "Ann Smith works for Acme Corp in Boston.",
    "Mary Jones lives in Paris. She works for the Red Cross.",
    "Bob 🎉 Lee visited Berlin.",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


def run(*args: str):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_extract_export_review_import_eval_and_train(tmp_path, checkpoint, monkeypatch):
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    run("extract", corpus, "--mode", "encoder", "--model", checkpoint, "--schema", "conll04", "-o", out, "--no-progress")
    docs = list(read_jsonl(out))
    assert sum(len(d.entities) for d in docs) > 0

    tasks_file, config = tmp_path / "tasks.json", tmp_path / "config.xml"
    result = run("export", "labelstudio", out, "-o", tasks_file, "--config-out", config)
    assert "schema conll04" in result.output
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert [t["data"]["doc_id"] for t in tasks] == ["d0", "d1", "d2"]
    assert tasks[0]["predictions"][0]["model_version"] == "hybrid-ie encoder | encoder joint:ckpt"
    for task, d in zip(tasks, docs, strict=True):
        entity_of = {region: entity_id for entity_id, region in region_ids(d).items()}
        for item in task["predictions"][0]["result"]:
            if item["type"] == "labels":
                entity = d.entity(entity_of[item["id"]])
                assert (entity.text, entity.label) == (item["value"]["text"], item["value"]["labels"][0])
    root = ET.fromstring(config.read_text(encoding="utf-8"))
    assert [lab.get("value") for lab in root.find("Labels")] == ["Peop", "Org", "Loc", "Other"]
    assert "Work_For" in [r.get("value") for r in root.find("Relations")]

    # The reviewer fixes the first document completely, by hand; the others stay unreviewed.
    tasks[0]["id"] = 1
    tasks[0]["annotations"] = [{"id": 10, "completed_by": 1, "result": [
        {"id": "p1", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 0, "end": 9, "text": "Ann Smith", "labels": ["Peop"]}},
        {"id": "o1", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 20, "end": 29, "text": "Acme Corp", "labels": ["Org"]}},
        {"id": "l1", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": 33, "end": 39, "text": "Boston", "labels": ["Loc"]}},
        {"from_id": "p1", "to_id": "o1", "type": "relation", "direction": "right", "labels": ["Work_For"]},
        {"from_id": "o1", "to_id": "l1", "type": "relation", "direction": "right", "labels": ["OrgBased_In"]},
    ]}]  # fmt: skip
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    reviewed = tmp_path / "reviewed.jsonl"
    data = tmp_path / "data"
    result = run("import", "labelstudio", export, "-o", reviewed, "--schema", "conll04", "--set-dir", data / "reviewed")
    assert "wrote 3 documents (1 reviewed" in result.output and "2 of 3 tasks have no annotation" in result.output
    back = list(read_jsonl(reviewed))
    assert [(e.text, e.label) for e in back[0].entities] == [("Ann Smith", "Peop"), ("Acme Corp", "Org"), ("Boston", "Loc")]
    assert [(r.head, r.tail, r.label) for r in back[0].relations] == [("T1", "T2", "Work_For"), ("T2", "T3", "OrgBased_In")]
    for before, after in zip(docs[1:], back[1:], strict=True):  # unreviewed: the predictions as they were
        assert [(e.id, e.start, e.end, e.label) for e in after.entities] == [(e.id, e.start, e.end, e.label) for e in before.entities]
        assert all(after.text[e.start : e.end] == e.text for e in after.entities)

    scored = run("eval", "--gold", reviewed, "--pred", out, "--schema", "conll04", "--json")
    report = json.loads(scored.stdout.strip().splitlines()[-1])
    assert report["documents"]["gold"] == 3 and report["documents"]["missing_in_pred"] == []
    spans = [({(e.start, e.end, e.label) for e in g.entities}, {(e.start, e.end, e.label) for e in p.entities})
             for g, p in zip(back, docs, strict=True)]  # fmt: skip
    assert report["entities"]["strict"]["tp"] == sum(len(g & p) for g, p in spans)
    assert report["entities"]["strict"]["fn"] == sum(len(g - p) for g, p in spans) >= 1

    # Fine-tune the (tiny) encoder on the reviewed set for two steps.
    train_cfg = tmp_path / "ft.json"
    train_cfg.write_text(json.dumps({
        "init_from": str(checkpoint), "datasets": ["reviewed"], "data_dir": str(data), "output_dir": str(tmp_path / "ft"),
        "dev_sets": [{"set": "reviewed", "split": "train", "metrics": ["entity"]}], "max_steps": 2, "batch_size": 2,
        "eval_every": 2, "save_every": 100, "threads": 1, "label_drop": 0.0, "synonym_prob": 0.0,
    }), encoding="utf-8")  # fmt: skip
    run("train", "--config", train_cfg)
    assert (tmp_path / "ft" / "best" / "config.json").exists()


def test_import_errors_are_one_line_naming_the_task(tmp_path):
    bad = tmp_path / "export.json"
    bad.write_text(json.dumps([{"id": 5, "data": {"text": "Ann"}, "annotations": [{"result": [
        {"id": "r", "type": "labels", "value": {"start": 0, "end": 30, "labels": ["Peop"]}}]}]}]), encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "labelstudio", str(bad), "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "export.json: task 5 (document '5'), region 'r': span [0, 30) ends beyond the text" in result.output
    bad.write_text("[{", encoding="utf-8")
    result = CliRunner().invoke(app, ["import", "labelstudio", str(bad), "-o", str(tmp_path / "r.jsonl")])
    assert result.exit_code == 2 and "not valid JSON" in result.output


def test_export_without_schema_lists_every_label_of_the_schema_used_and_region_ids_do_not_repeat(
    tmp_path, checkpoint
):
    """A custom schema file: the export (no --schema) still offers all its labels, also the ones
    nothing was predicted for, and no two regions of the project share an id (CLI in a subprocess)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    schema = {"name": "clinic", "entity_types": [{"name": n, "description": n} for n in ("person", "place", "drug")],
              "relation_types": [{"name": "lives_in", "description": "lives in"}]}  # fmt: skip
    (tmp_path / "clinic.json").write_text(json.dumps(schema), encoding="utf-8")
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "HYBRID_IE_QUIET": "1"}

    def cli(*args):
        done = subprocess.run([sys.executable, "-m", "hybrid_ie.cli", *map(str, args)], check=False, cwd=tmp_path,
                              env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done

    cli("extract", corpus, "--mode", "encoder", "--model", checkpoint, "--schema", "clinic.json", "--threshold", "0.5",
        "-o", "out.jsonl", "--no-progress")  # fmt: skip
    (tmp_path / "out.summary.json").unlink()  # the documents alone say which schema made them
    predicted = {e.label for d in read_jsonl(tmp_path / "out.jsonl") for e in d.entities}
    assert predicted and predicted != {"person", "place", "drug"}  # the test needs a label nothing was predicted for
    cli("export", "labelstudio", "out.jsonl", "-o", "tasks.json", "--config-out", "config.xml")
    root = ET.fromstring((tmp_path / "config.xml").read_text(encoding="utf-8"))
    assert [lab.get("value") for lab in root.find("Labels")] == ["person", "place", "drug"]
    assert [r.get("value") for r in root.find("Relations")] == ["lives_in"]
    tasks = json.loads((tmp_path / "tasks.json").read_text(encoding="utf-8"))
    ids = [r["id"] for t in tasks for r in t["predictions"][0]["result"] if r["type"] == "labels"]
    assert len(ids) > len(tasks) and len(set(ids)) == len(ids)
    cli("export", "labelstudio", "out.jsonl", "-o", "again.json")
    assert json.loads((tmp_path / "again.json").read_text(encoding="utf-8")) == tasks
