"""LLMConfig: defaults < config file (TOML/JSON) < environment < arguments; clear errors."""

from __future__ import annotations

import json

import pytest

from hybrid_ie.llm import ConfigError, LLMConfig, Price


def test_defaults_are_local_and_deterministic():
    config = LLMConfig.load(env={})
    assert config.backend == "local" and config.temperature == 0 and config.seed == 0
    assert config.generation_params() == {"temperature": 0.0, "seed": 0, "max_tokens": 512}


def test_precedence_file_env_arguments(tmp_path):
    path = tmp_path / "llm.toml"
    path.write_text(
        '[llm]\nbackend = "openai"\nmodel = "from-file"\ntimeout_s = 5\nbase_url = "http://x/v1"\n'
        '[llm.prices.from-file]\nprompt = 1.0\ncompletion = 2.0\n'
    )
    env = {"HYBRID_IE_LLM_MODEL": "from-env", "HYBRID_IE_LLM_MAX_RETRIES": "7", "HYBRID_IE_LLM_BASE_URL": ""}
    config = LLMConfig.load(path, env=env, max_retries=None, timeout_s=9.5)
    assert config.backend == "openai"  # file
    assert config.model == "from-env" and config.max_retries == 7  # env over file; None arguments ignored
    assert config.timeout_s == 9.5  # arguments over everything
    assert config.base_url is None  # an empty variable clears an optional setting
    assert config.prices == {"from-file": Price(prompt=1.0, completion=2.0)}


def test_config_file_from_the_environment_and_json(tmp_path):
    path = tmp_path / "llm.json"
    path.write_text(json.dumps({"backend": "openai", "request_format": "tools"}))
    env = {"HYBRID_IE_LLM_CONFIG": str(path), "HYBRID_IE_LLM_PRICES": '{"m": {"prompt": 3, "completion": 4}}'}
    config = LLMConfig.load(env=env)
    assert config.request_format == "tools" and config.prices["m"].completion == 4


def test_errors_name_the_source_and_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"environment.*timeout_s"):
        LLMConfig.load(env={"HYBRID_IE_LLM_TIMEOUT_S": "soon"})
    bad = tmp_path / "bad.toml"
    bad.write_text('bakend = "local"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*bakend"):
        LLMConfig.load(bad, env={})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        LLMConfig.load(broken, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        LLMConfig.load(tmp_path / "missing.toml", env={})
    with pytest.raises(ConfigError, match="PRICES"):
        LLMConfig.load(env={"HYBRID_IE_LLM_PRICES": "{"})
    with pytest.raises(ConfigError, match="request_format"):
        LLMConfig.load(env={}, request_format="xml")
