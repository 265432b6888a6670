"""`hybrid-ie models list|pull` as a user sees them."""

from __future__ import annotations

from typer.testing import CliRunner

from hybrid_ie.cli import app


def test_models_list_shows_status(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_CACHE", str(tmp_path))
    result = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "qwen2.5-coder-0.5b (default)" in result.output and "qwen2.5-coder-1.5b" in result.output
    assert result.output.count("not pulled") == 2


def test_models_pull_unknown_name_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_CACHE", str(tmp_path))
    result = CliRunner().invoke(app, ["models", "pull", "gpt-17"])
    assert result.exit_code == 2
    assert "unknown local model 'gpt-17'" in result.output and "Traceback" not in result.output
