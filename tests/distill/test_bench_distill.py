"""eval/bench_distill.py end to end on tiny data: tiny encoder, loopback LLM, tiny data dir; a
re-run is free (no LLM request, no training)."""

from __future__ import annotations

import importlib.util
import json

from support.tiny_data import zero_shot_data_dir

from hybrid_ie.paths import REPO_ROOT


def load_script():
    spec = importlib.util.spec_from_file_location("bench_distill", REPO_ROOT / "eval" / "bench_distill.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bench_distill_runs_every_row_and_reruns_for_free(tmp_path, base, llm_config, server, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_DATA", str(zero_shot_data_dir(tmp_path / "data")))
    out = tmp_path / "report"
    argv = ["--set", "wlp", "--train", "3", "--subset", "2", "--llm-config", str(llm_config), "--base", str(base),
            "--steps", "2", "--replay", "0", "--out", str(out)]  # fmt: skip
    bench = load_script()
    assert bench.main(argv) == 0
    report = json.loads((out / "report.json").read_text())
    names = [r["row"] for r in report["rows"]]
    assert names == ["encoder before", "llm only", "hybrid before", "distill", "encoder after", "hybrid after",
                     "conll04 before", "conll04 after"]  # fmt: skip
    rows = {r["row"]: r for r in report["rows"]}
    assert rows["llm only"]["llm_calls"] == 2 and rows["encoder before"]["llm_calls"] == 0
    assert rows["distill"]["llm_calls"] == 3 and (out / "model" / "distill.json").exists()
    asked = len(server.requests)
    assert bench.main(argv) == 0
    assert len(server.requests) == asked
