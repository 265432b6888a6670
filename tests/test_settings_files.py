"""Settings files (hybrid_ie/settings_files.py) and `hybrid-ie distill --config`: a dataclass is
the one place the defaults are written; a file overrides them, a given option overrides the file."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.distill import DistillConfig
from hybrid_ie.errors import InputError
from hybrid_ie.settings_files import dataclass_from_settings, read_settings


def test_defaults_then_file_then_options(tmp_path):
    path = tmp_path / "distill.toml"
    path.write_text('schema = "conll04"\nsteps = 40\nreplay = 0.25\n_note = "a comment"\n', encoding="utf-8")
    config = dataclass_from_settings(DistillConfig, path, "distill", output_dir="out", steps=7, replay=None)
    assert (config.schema, config.steps, config.replay) == ("conll04", 7, 0.25)  # option > file
    assert config.batch_size == DistillConfig.batch_size and config.lr_heads == DistillConfig.lr_heads  # defaults
    json_path = tmp_path / "distill.json"
    json_path.write_text(json.dumps({"schema": "ade", "nested": True}), encoding="utf-8")
    assert dataclass_from_settings(DistillConfig, json_path, "distill", output_dir="out").nested is True


def test_errors_name_the_file_and_the_setting(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('schema = "conll04"\nstepz = 3\n', encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.toml: unknown distill settings \['stepz'\]"):
        dataclass_from_settings(DistillConfig, bad, "distill", output_dir="out")
    with pytest.raises(InputError, match="give schema"):
        dataclass_from_settings(DistillConfig, None, "distill", output_dir="out")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.json: not valid JSON"):
        read_settings(broken, "distill settings")
    with pytest.raises(InputError, match="cannot read distill settings"):
        read_settings(tmp_path / "missing.toml", "distill settings")
    (tmp_path / "list.json").write_text("[1]", encoding="utf-8")
    with pytest.raises(InputError, match="expected a table"):
        read_settings(tmp_path / "list.json", "distill settings")


def test_distill_cli_reads_its_config_and_stops_on_a_bad_one(tmp_path):
    bad = tmp_path / "distill.toml"
    bad.write_text('schema = "conll04"\nsteps = 3\nwarmup = 2\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["distill", "--config", str(bad), "-o", str(tmp_path / "m")])
    assert result.exit_code == 2 and "unknown distill settings ['warmup']" in result.output
    result = CliRunner().invoke(app, ["distill", "-o", str(tmp_path / "m")])
    assert result.exit_code == 2 and "give schema" in result.output
    assert not (tmp_path / "m").exists()
