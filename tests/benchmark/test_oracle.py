"""The oracle LLMs (hybrid_ie/benchmark/oracle.py): seeded noise at the rates asked for, answers in
every request format through the real LLM client, `hybrid-ie benchmark --llm oracle...` labelled
as reading the gold, and nothing but the harness knowing of it."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

import hybrid_ie
from hybrid_ie.benchmark.oracle import OracleServer, oracle_llm, parse_oracle
from hybrid_ie.cli import app
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.errors import HybridIEError, InputError
from hybrid_ie.llm import LLMConfig
from hybrid_ie.llm.prompts import extract_messages
from hybrid_ie.llm.responses import LabelSet, extraction_model
from hybrid_ie.schema import load_schema

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "eval" / "samples" / "news_gold.jsonl"
SCHEMA = load_schema("conll04")


def _sentence(i: int) -> Document:
    """'Ann{i} of Acme{i} met Bob{i} in Rome{i} .': 4 entities, 3 relations, every text unique."""
    text = f"Ann{i} of Acme{i} met Bob{i} in Rome{i} ."
    names = [(f"Ann{i}", "Peop"), (f"Acme{i}", "Org"), (f"Bob{i}", "Peop"), (f"Rome{i}", "Loc")]
    ents = []
    for n, (word, label) in enumerate(names):
        start = text.index(word + " ")
        ents.append(make_entity(text, start, start + len(word), label, id=f"T{n + 1}"))
    rels = [Relation(head="T1", tail="T2", label="Work_For"), Relation(head="T3", tail="T4", label="Live_In"),
            Relation(head="T2", tail="T4", label="OrgBased_In")]  # fmt: skip
    return Document(id=f"s{i}", text=text, entities=ents, relations=rels)


def _ask_raw(server: OracleServer, text: str) -> dict[str, Any]:
    """One extract request as the client builds it, straight over HTTP: the oracle's raw JSON."""
    labels = LabelSet.of(SCHEMA)
    body = {
        "model": "oracle",
        "messages": extract_messages(text, SCHEMA, labels),
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "Extraction", "schema": extraction_model(labels).model_json_schema()}},
    }  # fmt: skip
    request = urllib.request.Request(server.base_url + "/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(json.loads(response.read())["choices"][0]["message"]["content"])


def _answers(p: float, seed: int, docs: list[Document]) -> list[dict[str, Any]]:
    with OracleServer(docs, SCHEMA, p=p, seed=seed) as server:
        return [_ask_raw(server, d.text) for d in docs]


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_noise_rates_are_close_to_p_over_many_items(p: float) -> None:
    docs = [_sentence(i) for i in range(400)]  # 1,600 entities, 1,200 relations
    labels = LabelSet.of(SCHEMA)
    counts = {kind: dict.fromkeys(("gold", "dropped", "swapped", "kept", "spurious"), 0)
              for kind in ("entities", "relations")}  # fmt: skip
    for doc, answer in zip(docs, _answers(p, 0, docs), strict=True):
        ents = doc.entity_map()
        gold = {
            "entities": {e.text: labels.entity(e.label) for e in doc.entities},
            "relations": {(ents[r.head].text, ents[r.tail].text): labels.relation(r.label) for r in doc.relations},
        }
        said = {
            "entities": {e["text"]: e["type"] for e in answer["entities"]},
            "relations": {(r["head"], r["tail"]): r["type"] for r in answer["relations"]},
        }
        for kind, c in counts.items():
            for key, label in gold[kind].items():
                c["gold"] += 1
                if key not in said[kind]:
                    c["dropped"] += 1
                else:
                    c["kept"] += 1
                    c["swapped"] += said[kind][key] != label
            c["spurious"] += len(set(said[kind]) - set(gold[kind]))
    for kind, c in counts.items():
        assert c["dropped"] / c["gold"] == pytest.approx(p, abs=0.045), (kind, c)
        assert c["swapped"] / c["kept"] == pytest.approx(p, abs=0.045), (kind, c)
        assert c["spurious"] / c["gold"] == pytest.approx(p, abs=0.045), (kind, c)


def test_noise_is_seeded_per_chunk() -> None:
    docs = [_sentence(i) for i in range(40)]
    first, again, other = _answers(0.3, 5, docs), _answers(0.3, 5, docs), _answers(0.3, 6, docs)
    assert first == again
    assert first != other
    exact = _answers(0.0, 5, docs)
    assert all(len(a["entities"]) == 4 and len(a["relations"]) == 3 for a in exact)


def test_oracle_spec_is_checked() -> None:
    assert parse_oracle("oracle") == 0.0
    assert parse_oracle("oracle:0.25") == 0.25
    for bad in ("oracle:", "oracle:x", "oracle:1.5", "gpt-4o", "oracles"):
        with pytest.raises(InputError):
            parse_oracle(bad)


@pytest.mark.parametrize("request_format", ["json_schema", "json_object_schema", "tools"])
def test_exact_oracle_through_the_real_client_in_every_request_format(request_format: str) -> None:
    docs = [_sentence(1), _sentence(2)]
    with oracle_llm("oracle", docs, SCHEMA, request_format=request_format) as (client, identity, server):
        assert identity["reads_gold"] is True
        got = client.extract(docs[0].text, SCHEMA)
        assert got.status == "ok", got.error
        assert sorted((e.start, e.end, e.label) for e in got.entities) == sorted(
            (e.start, e.end, e.label) for e in docs[0].entities)  # fmt: skip
        assert len(got.relations) == 3
        # verify: the encoder found Ann as Org, Acme right and a wrong span "met"; the oracle
        # relabels Ann, confirms Acme, drops "met" and adds Bob and Rome and (the verify answer
        # of a 9-word chunk takes at most 2 additions per list) 2 of the 3 relations
        text = docs[1].text
        met, acme = text.index("met"), text.index("Acme")
        cands = Document(id="c", text=text, entities=[
            make_entity(text, 0, 4, "Org", id="T1"), make_entity(text, acme, acme + 5, "Org", id="T2"),
            make_entity(text, met, met + 3, "Loc", id="T3")])  # fmt: skip
        got = client.verify(text, SCHEMA, cands)
        assert got.status == "ok", got.error
        assert sorted((e.start, e.end, e.label) for e in got.entities) == sorted(
            (e.start, e.end, e.label) for e in docs[1].entities)  # fmt: skip
        assert len(got.relations) == 2
        assert server.stats()["unmatched_chunks"] == 0


def test_benchmark_runs_oracles_and_labels_them_as_reading_gold(tmp_path: Path) -> None:
    model_dir = tiny_encoder(seed=0).save_pretrained(tmp_path / "tiny")
    out = tmp_path / "report"
    args = ["benchmark", "--dataset", str(GOLD), "--schema", "conll04", "--modes", "encoder,hybrid,llm",
            "--llm", "oracle,oracle:0.5", "--budgets", "0.5,1", "--model", str(model_dir), "--calibration", "none",
            "--batch-size", "2", "--threads", "1", "--llm-score", "0.9", "--no-progress", "-o", str(out)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    names = [r["name"] for r in report["runs"]]
    assert names == ["encoder", "hybrid-0.5@oracle", "hybrid-1@oracle", "llm@oracle",
                     "hybrid-0.5@oracle:0.5", "hybrid-1@oracle:0.5", "llm@oracle:0.5"]  # fmt: skip
    for run in report["runs"][1:]:
        assert "reads gold" in run["label"]
    exact = next(r for r in report["runs"] if r["name"] == "llm@oracle")
    assert exact["scores"]["entities"]["strict"]["f1"] == 1.0
    assert exact["scores"]["relations"]["strict"]["f1"] == 1.0
    assert report["meta"]["oracles"]["oracle"]["unmatched_chunks"] == 0
    assert report["meta"]["reconcile"] == "vote (llm_score 0.9)"
    assert report["checks"]["capture_escalates_the_chunks_of_the_hybrid_runs"] is True
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| hybrid-0.5 (oracle:0.5 — reads gold) |" in md
    assert "## Oracle LLMs (evaluation only: they read the gold)" in md
    assert "## Router error capture" in md and (out / "error_capture.png").exists()


def test_benchmark_rejects_bad_oracle_options(tmp_path: Path) -> None:
    base = ["benchmark", "--dataset", str(GOLD), "--schema", "conll04", "--no-progress", "-o", str(tmp_path)]
    result = CliRunner().invoke(app, [*base, "--llm", "oracle:2"])
    assert result.exit_code == 2 and "noise level" in result.output
    result = CliRunner().invoke(app, [*base, "--llm", "oracle", "--llm-config", str(tmp_path / "x.toml")])
    assert result.exit_code == 2 and "give one of them" in result.output


def test_only_the_harness_knows_the_oracle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The oracle is built by the benchmark alone: `extract` has no `--llm`, an `oracle` backend is
    no backend of the LLM configuration, and its module, the pipeline and distill never name it."""
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "text": "Ann met Bob."}\n', encoding="utf-8")
    base = ["extract", str(inputs), "-o", str(tmp_path / "out.jsonl"), "--mode", "hybrid", "--no-progress"]
    result = CliRunner().invoke(app, [*base, "--llm", "oracle:0.1"])
    assert result.exit_code == 2 and "an option of benchmark" in result.output
    result = CliRunner().invoke(app, base, env={"HYBRID_IE_LLM_BACKEND": "oracle"})
    assert result.exit_code == 2 and "invalid LLM configuration" in result.output and "backend" in result.output
    assert not (tmp_path / "out.jsonl").exists()
    monkeypatch.setenv("HYBRID_IE_LLM_BACKEND", "oracle")
    with pytest.raises(HybridIEError, match="backend"):
        LLMConfig.load()
    package = Path(hybrid_ie.__file__).parent
    for path in [package / "llm" / "config.py", package / "pipeline.py", *(package / "distill").glob("*.py")]:
        assert "oracle" not in path.read_text(encoding="utf-8").lower(), path


def test_benchmark_hybrid_runs_measure_competence_on_labelled_examples(tmp_path: Path) -> None:
    """`--labelled-examples`: the hybrid runs read them first (the oracle knows their gold too),
    under the competence escalation; examples that are evaluated texts, or another escalation,
    are refused."""
    lines = GOLD.read_text(encoding="utf-8").splitlines()
    (tmp_path / "examples.jsonl").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    (tmp_path / "eval.jsonl").write_text("\n".join(lines[2:]) + "\n", encoding="utf-8")
    model_dir = tiny_encoder(seed=0).save_pretrained(tmp_path / "tiny")
    base = ["benchmark", "--schema", "conll04", "--modes", "encoder,hybrid", "--llm", "oracle", "--budgets", "1",
            "--model", str(model_dir), "--calibration", "none", "--threads", "1", "--no-progress"]  # fmt: skip
    out = tmp_path / "report"
    result = CliRunner().invoke(app, [*base, "--dataset", str(tmp_path / "eval.jsonl"), "-o", str(out),
                                      "--labelled-examples", str(tmp_path / "examples.jsonl")])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["meta"]["oracles"]["oracle"]["unmatched_chunks"] == 0
    hybrid = next(r for r in report["runs"] if r["name"] == "hybrid-1@oracle")
    assert hybrid["scores"]["entities"]["strict"]["f1"] == 1.0  # measured: the exact oracle owns every label
    refused = CliRunner().invoke(app, [*base, "--dataset", str(GOLD), "-o", str(tmp_path / "r2"),
                                       "--labelled-examples", str(tmp_path / "examples.jsonl")])  # fmt: skip
    assert refused.exit_code == 2 and "texts of the evaluated documents" in refused.output
    other = CliRunner().invoke(app, [*base, "--dataset", str(tmp_path / "eval.jsonl"), "-o", str(tmp_path / "r3"),
                                     "--labelled-examples", str(tmp_path / "examples.jsonl"), "--escalation", "verify"])
    assert other.exit_code == 2 and "only by the 'competence' escalation" in other.output
