"""The evaluation harness end to end: `hybrid-ie benchmark` with the tiny random encoder and the
loopback LLM server, on the six hand-written sentences of eval/samples/news_gold.jsonl.

The server plays an oracle: asked to extract, it answers the gold items of the chunk; asked to
verify, it drops every encoder candidate and adds the gold items. So LLM-only must score 1.0,
and every number the report gives must be reproducible from its saved predictions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.llm_server import LLMServer, RecordedRequest, Reply, client_config
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.benchmark.calibration_report import reliability
from hybrid_ie.benchmark.metering import SharedEncoder
from hybrid_ie.benchmark.report import verdict
from hybrid_ie.cli import app
from hybrid_ie.document import Document, read_jsonl
from hybrid_ie.metrics import score
from hybrid_ie.schema import load_schema

REPO = Path(__file__).resolve().parents[1]
GOLD = REPO / "eval" / "samples" / "news_gold.jsonl"
BUDGETS = "0,0.5,1"
RUNS = ("encoder", "hybrid-0", "hybrid-0.5", "hybrid-1", "llm")


def _gold_in_chunk(chunk: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The gold entities and relations (as strings) of the gold document holding `chunk`."""
    for doc in read_jsonl(GOLD):
        offset = doc.text.find(chunk)
        if offset < 0:
            continue
        inside = {e.id: e for e in doc.entities if offset <= e.start and e.end <= offset + len(chunk)}
        ents = [{"text": e.text, "type": e.label} for e in inside.values()]
        rels = [
            {"head": inside[r.head].text, "type": r.label, "tail": inside[r.tail].text}
            for r in doc.relations
            if r.head in inside and r.tail in inside
        ]
        return ents, rels
    return [], []


def oracle(request: RecordedRequest) -> dict[str, Any]:
    ents, rels = _gold_in_chunk(request.chunk_text)
    props = request.response_schema["properties"]
    if "add_entities" not in props:  # extract
        return {"entities": ents, "relations": rels}
    return {  # verify: drop every candidate, add the gold items
        "entities": ["drop"] * props["entities"].get("minItems", 0),
        "relations": ["drop"] * props["relations"].get("minItems", 0),
        "add_entities": ents[:8],
        "add_relations": rels[:8],
    }


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`hybrid-ie benchmark` over every mode and three budgets; then the same again with
    `--resume` in the same folder, and again without it in a new folder (same LLM cache)."""
    tmp = tmp_path_factory.mktemp("bench")
    encoder = tiny_encoder(seed=0, entity_temperature=1.5, relation_temperature=2.0)
    model_dir = encoder.save_pretrained(tmp / "tiny-encoder")
    out = {"first": tmp / "report", "again": tmp / "report-again"}
    with LLMServer(default=Reply.ok(oracle)) as server:
        # generous timeouts: the shared test machine can be slow to schedule the server thread
        config = client_config(
            server, cache=True, cache_path=str(tmp / "llm-cache.sqlite"), timeout_s=20.0, deadline_s=60.0
        )
        config_file = tmp / "llm.json"
        config_file.write_text(config.model_dump_json(), encoding="utf-8")

        def invoke(folder: Path, *extra: str) -> tuple[dict[str, Any], int]:
            before = len(server.requests)
            args = [
                "benchmark", "--dataset", str(GOLD), "--schema", "conll04", "--modes", "encoder,llm,hybrid",
                "--budgets", BUDGETS, "--model", str(model_dir), "--llm-config", str(config_file),
                "--calibration", str(GOLD), "--batch-size", "2", "--no-progress", "-o", str(folder), *extra,
            ]  # fmt: skip
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
            return report, len(server.requests) - before

        report, sent = invoke(out["first"])
        requests = list(server.requests)
        resumed, resumed_sent = invoke(out["first"], "--resume")
        again, again_sent = invoke(out["again"])
        rerun, rerun_sent = invoke(out["first"])  # no --resume: all from the cache + its cost ledger
    return {"rerun": rerun, "rerun_sent": rerun_sent, "out": out["first"], "report": report, "requests": requests, "sent": sent,
            "resumed": resumed, "resumed_sent": resumed_sent, "again": again, "again_sent": again_sent,
            "again_out": out["again"]}  # fmt: skip


def _run(bench: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in bench["report"]["runs"] if r["name"] == name)


def _items(doc: Document) -> tuple[list, list]:
    ents = doc.entity_map()
    return (
        sorted((e.start, e.end, e.label) for e in doc.entities),
        sorted((ents[r.head].span, ents[r.tail].span, r.label) for r in doc.relations),
    )


def test_writes_report_files_and_figures(bench: dict[str, Any]) -> None:
    out = bench["out"]
    for name in (
        "report.md",
        "report.json",
        "f1_vs_budget.png",
        "f1_vs_time.png",
        "calibration_reliability.png",
    ):
        assert (out / name).stat().st_size > 0, name
    assert (out / "f1_vs_budget.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [r["name"] for r in bench["report"]["runs"]] == list(RUNS)
    md = (out / "report.md").read_text(encoding="utf-8")
    for heading in (
        "## Verdict",
        "## Scores",
        "## Cost",
        "## Per label",
        "## Calibration",
        "## Error examples",
    ):
        assert heading in md
    assert (
        "hybrid-ie eval --gold preds/gold.jsonl --pred preds/hybrid-0.5.jsonl --schema conll04 --json" in md
    )
    calibration = bench["report"]["calibration"]
    assert calibration["documents"] == 6
    assert set(calibration["variants"]) == {"before temperature scaling", "after temperature scaling"}
    for variant in calibration["variants"].values():
        assert variant["entities"]["count"] == sum(b["count"] for b in variant["entities"]["bins"]) > 0


def test_numbers_equal_metrics_score_on_saved_predictions(bench: dict[str, Any]) -> None:
    out, symmetric = bench["out"], load_schema("conll04").symmetric_relations
    gold = list(read_jsonl(GOLD))
    for run in bench["report"]["runs"]:
        preds = list(read_jsonl(out / run["preds"]))
        assert len(preds) == len(gold)
        assert json.loads(json.dumps(score(gold, preds, symmetric=symmetric).to_dict())) == run["scores"]


def test_hybrid_ie_eval_reproduces_the_report(bench: dict[str, Any]) -> None:
    out = bench["out"]
    for run in bench["report"]["runs"]:
        args = ["eval", "--gold", str(out / "preds" / "gold.jsonl"), "--pred", str(out / run["preds"])]
        result = CliRunner().invoke(app, [*args, "--schema", "conll04", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == run["scores"], run["name"]


def test_eval_in_another_process_gives_the_same_floats(bench: dict[str, Any]) -> None:
    """A fresh process has another hash seed (set iteration order): the numbers must not move."""
    out = bench["out"]
    for seed in ("1", "2"):
        for name in ("hybrid-0.5", "llm"):
            args = [sys.executable, "-c", "from hybrid_ie.cli import app; app(prog_name='hybrid-ie')",
                    "eval", "--gold", str(out / "preds" / "gold.jsonl"),
                    "--pred", str(out / "preds" / f"{name}.jsonl"), "--schema", "conll04", "--json"]  # fmt: skip
            env = {**os.environ, "PYTHONHASHSEED": seed}
            done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=True)
            assert json.loads(done.stdout) == _run(bench, name)["scores"], (seed, name)


def test_budget_zero_equals_encoder_mode(bench: dict[str, Any]) -> None:
    out = bench["out"]
    encoder = [_items(d) for d in read_jsonl(out / "preds" / "encoder.jsonl")]
    hybrid0 = [_items(d) for d in read_jsonl(out / "preds" / "hybrid-0.jsonl")]
    assert hybrid0 == encoder
    assert _run(bench, "hybrid-0")["cost"]["llm_calls"] == 0
    assert _run(bench, "hybrid-0")["scores"] == _run(bench, "encoder")["scores"]
    assert bench["report"]["checks"]["hybrid_budget_0_equals_encoder"] is True


def test_llm_path_is_used_and_scored(bench: dict[str, Any]) -> None:
    llm = _run(bench, "llm")
    assert llm["scores"]["entities"]["strict"]["f1"] == 1.0  # the oracle answers the gold
    assert llm["scores"]["relations"]["strict"]["f1"] == 1.0
    assert llm["cost"]["llm_calls"] == llm["cost"]["chunks"] == 6
    assert llm["cost"]["schema_valid_rate"] == 1.0
    assert llm["cost"]["prompt_tokens"] > 0


def test_budgets_share_encoder_pass_and_llm_cache(bench: dict[str, Any]) -> None:
    report = bench["report"]
    chunks = _run(bench, "encoder")["cost"]["chunks"]
    assert report["meta"]["encoder"]["texts_encoded"] == chunks  # one encoder pass for all runs
    escalated = [_run(bench, n)["cost"]["escalated_chunks"] for n in ("hybrid-0", "hybrid-0.5", "hybrid-1")]
    assert escalated[0] == 0 and escalated == sorted(escalated)
    assert escalated[1] <= 0.5 * chunks
    half, full = _run(bench, "hybrid-0.5")["cost"], _run(bench, "hybrid-1")["cost"]
    for cost in (half, full):
        assert cost["llm_calls"] == cost["escalated_chunks"]
    # budget 1 re-uses budget 0.5's answers from the cache: the server saw each call once
    assert full["cache_hits"] >= half["llm_calls"]
    computed = sum(r["cost"]["llm_calls"] - r["cost"]["cache_hits"] for r in report["runs"])
    resent = sum(r["cost"]["retries"] + r["cost"]["reasks"] for r in report["runs"])
    assert len(bench["requests"]) == computed + resent
    assert full["standalone_s"] >= full["wall_s"] - full["llm_s"]


def test_verdict_and_examples_are_reported(bench: dict[str, Any]) -> None:
    report = bench["report"]
    for kind in ("entities", "relations"):
        entry = report["verdict"][kind]
        assert entry["compared"] is True
        assert entry["llm_f1"] == 1.0
        assert entry["beats_both"] is False  # nothing beats the oracle
        assert "does NOT beat" in entry["statement"]
    assert set(report["examples"]) >= {"encoder", "llm"}
    changes = report["changes_vs_encoder"]["llm"]["entities"]
    tp = {name: _run(bench, name)["scores"]["entities"]["strict"]["tp"] for name in ("encoder", "llm")}
    assert changes["fixed"] - changes["broken"] == tp["llm"] - tp["encoder"]


def test_resume_reuses_finished_runs(bench: dict[str, Any]) -> None:
    resumed = bench["resumed"]
    assert bench["resumed_sent"] == 0
    assert all(run["reused"] for run in resumed["runs"])
    for first, second in zip(bench["report"]["runs"], resumed["runs"], strict=True):
        assert second["scores"] == first["scores"]
        assert second["cost"] == first["cost"]


def test_cost_ledger_keeps_the_cost_of_cached_answers(bench: dict[str, Any]) -> None:
    assert bench["rerun_sent"] == 0
    for first, rerun in zip(bench["report"]["runs"], bench["rerun"]["runs"], strict=True):
        assert not rerun["reused"]
        assert rerun["scores"] == first["scores"]
        assert rerun["cost"]["standalone_unknown_calls"] == 0
        assert rerun["cost"]["cache_hits"] == rerun["cost"]["llm_calls"]
        for key in ("llm_calls", "prompt_tokens", "completion_tokens", "llm_standalone_s"):
            assert rerun["cost"][key] == first["cost"][key], (first["name"], key)


def test_same_seed_and_cache_give_the_same_predictions(bench: dict[str, Any]) -> None:
    assert bench["again_sent"] == 0  # every LLM answer came from the cache
    assert not any(run["reused"] for run in bench["again"]["runs"])
    for name in RUNS:
        first = [_items(d) for d in read_jsonl(bench["out"] / "preds" / f"{name}.jsonl")]
        again = [_items(d) for d in read_jsonl(bench["again_out"] / "preds" / f"{name}.jsonl")]
        assert again == first, name
    for first, again in zip(bench["report"]["runs"], bench["again"]["runs"], strict=True):
        assert again["scores"] == first["scores"]
        # answers cached by the first invocation: their stand-alone cost is not known here
        assert again["cost"]["standalone_unknown_calls"] == again["cost"]["llm_calls"]
        if again["cost"]["llm_calls"]:
            assert again["cost"]["standalone_s"] is None


def test_cli_rejects_bad_modes_and_budgets(tmp_path: Path) -> None:
    for option, value, message in (
        ("--modes", "encoder,magic", "unknown mode"),
        ("--budgets", "0,2", "budget 2.0"),
    ):
        args = [
            "benchmark",
            "--dataset",
            str(GOLD),
            "--schema",
            "conll04",
            option,
            value,
            "-o",
            str(tmp_path),
        ]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2
        assert message in result.output


def test_shared_encoder_reads_each_text_once() -> None:
    schema = load_schema("conll04")
    shared = SharedEncoder(tiny_encoder(seed=0))
    first = shared.predict(["Alice met Bob.", "Paris is big."], schema, ids=["a", "b"])
    second = shared.predict(["Paris is big.", "Rome too."], schema, ids=["c", "d"])
    assert shared.texts_encoded == 3
    assert second[0].id == "c"
    assert second[0].model_dump(exclude={"id"}) == first[1].model_dump(exclude={"id"})


def test_reliability_and_ece_by_hand() -> None:
    table = reliability([0.95, 0.95, 0.15], [1.0, 0.0, 0.0], bins=10)
    # bin [0.9, 1): mean 0.95, accuracy 0.5 -> 2/3 * 0.45; bin [0.1, 0.2): 0.15 vs 0 -> 1/3 * 0.15
    assert table["ece"] == pytest.approx(2 / 3 * 0.45 + 1 / 3 * 0.15)
    assert [b["count"] for b in table["bins"]] == [0, 1, 0, 0, 0, 0, 0, 0, 0, 2]
    assert table["bins"][9]["mean_score"] == pytest.approx(0.95)
    assert table["bins"][9]["accuracy"] == pytest.approx(0.5)


def _fake_run(name: str, mode: str, budget: float | None, ent_f1: float, rel_f1: float) -> dict[str, Any]:
    cost = {"escalation_rate": budget or 0.0, "llm_calls": 1, "prompt_tokens": 1, "completion_tokens": 1,
            "standalone_s": 1.0}  # fmt: skip
    return {"name": name, "mode": mode, "budget": budget, "cost": cost,
            "scores": {"entities": {"strict": {"f1": ent_f1}}, "relations": {"strict": {"f1": rel_f1}}}}  # fmt: skip


def test_verdict_names_the_lowest_winning_budget() -> None:
    runs = [
        _fake_run("encoder", "encoder", None, 0.80, 0.50),
        _fake_run("hybrid-0", "hybrid", 0.0, 0.80, 0.50),
        _fake_run("hybrid-0.1", "hybrid", 0.1, 0.79, 0.52),
        _fake_run("hybrid-0.3", "hybrid", 0.3, 0.78, 0.55),
        _fake_run("llm", "llm", None, 0.60, 0.30),
    ]
    out = verdict(runs, changes={}, examples={})
    assert out["relations"]["beats_both"] is True
    assert out["relations"]["best_budget"] == 0.3
    assert out["relations"]["lowest_winning_budget"] == 0.1
    assert "BEATS both" in out["relations"]["statement"]
    assert out["entities"]["beats_both"] is False
    assert "weaker than the encoder" in out["entities"]["statement"]
