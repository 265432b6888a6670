"""The encoder, routing and reconcile options are declared once (hybrid_ie/cli/options.py):
`extract` and `benchmark` both have them, spelt alike, and a value neither gives comes from the
one place its default is written (RoutingPolicy, the Extractor signature)."""

from __future__ import annotations

import click
import typer
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.cli.options import given
from hybrid_ie.pipeline import Extractor, extractor_defaults
from hybrid_ie.router import DEFAULT_BUDGET, RoutingPolicy

SHARED = {"--model", "--nested", "--flat", "--escalation", "--rank", "--reconcile", "--llm-score", "--llm-config"}


def _options(command: str) -> dict[str, click.Option]:
    group = typer.main.get_command(app)
    cmd = group.commands[command]  # type: ignore[attr-defined]
    return {flag: p for p in cmd.params for flag in (*p.opts, *p.secondary_opts)}


def test_extract_and_benchmark_share_the_declarations():
    extract, bench = _options("extract"), _options("benchmark")
    assert SHARED <= set(extract) and SHARED <= set(bench)
    for flag in SHARED:
        assert extract[flag].help == bench[flag].help and extract[flag].default is None, flag
    assert f"default {RoutingPolicy().rank}" in extract["--rank"].help
    assert f"default {extractor_defaults()['llm_score']}" in bench["--llm-score"].help


def test_defaults_come_from_the_policy_and_the_extractor():
    assert given(rank=None, nested=False, budget=0.3) == {"nested": False, "budget": 0.3}
    ex = Extractor(mode="encoder", **given(reconcile=None, llm_score=None))
    defaults = extractor_defaults()
    assert (ex.strategy, ex.llm_score, ex.nested) == (defaults["reconcile"], defaults["llm_score"], defaults["nested"])
    assert ex.options["threshold"] is None and ex.options["policy"] == RoutingPolicy(budget=DEFAULT_BUDGET)


def test_bad_values_of_shared_options_are_one_line_errors(tmp_path):
    inputs = tmp_path / "in.jsonl"
    inputs.write_text('{"id": "a", "text": "Ann met Bob."}\n', encoding="utf-8")
    for command, option, value, message in (
        (["extract", str(inputs), "-o", str(tmp_path / "o.jsonl")], "--rank", "random", "rank must be one of"),
        (["extract", str(inputs), "-o", str(tmp_path / "o.jsonl")], "--escalation", "ask", "escalation must be"),
    ):
        result = CliRunner().invoke(app, [*command, option, value, "--no-progress"])
        assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_benchmark_and_extract_leave_their_defaults_to_the_one_place_they_are_written():
    from hybrid_ie.benchmark import BenchmarkConfig
    from hybrid_ie.engines import DEFAULT_ENGINE
    from hybrid_ie.engines.ray import RayOptions
    from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
    from hybrid_ie.tiers import ENCODER_BATCH_SIZE

    bench, extract = _options("benchmark"), _options("extract")
    config_fields = {"--budgets", "--seed", "--batch-size", "--calibration", "--examples", "--resume", "--progress",
                     "--capture"}  # fmt: skip
    assert all(bench[flag].default is None for flag in config_fields)
    config = BenchmarkConfig("conll04:test", "out")
    assert (config.batch_size, config.nested) == (DEFAULT_BATCH_SIZE, extractor_defaults()["nested"])
    assert extract["--batch-size"].default == DEFAULT_BATCH_SIZE and extract["--engine"].default == DEFAULT_ENGINE
    assert f"default {RayOptions().workers})" in extract["--workers"].help
    assert extractor_defaults()["encoder_batch_size"] == ENCODER_BATCH_SIZE
    assert _options("average")["--half"].default is None
