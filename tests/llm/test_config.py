"""LLMConfig: defaults < config file (TOML/JSON) < environment < arguments; clear errors."""

from __future__ import annotations

import json
import os

import pytest

from hybrid_ie.llm import ConfigError, LLMConfig, Price


@pytest.fixture
def env(monkeypatch):
    """Sets HYBRID_IE_LLM_* variables for one test, the machine's own cleared first."""
    for name in list(os.environ):
        if name.upper().startswith("HYBRID_IE_LLM_"):
            monkeypatch.delenv(name)

    def set_env(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)

    return set_env


def test_defaults_are_local_and_deterministic(env):
    config = LLMConfig.load()
    assert config.backend == "local" and config.temperature == 0 and config.seed == 0
    assert config.generation_params() == {"temperature": 0.0, "seed": 0, "max_tokens": 512}


def test_precedence_file_env_arguments(tmp_path, env):
    path = tmp_path / "llm.toml"
    path.write_text(
        '[llm]\nbackend = "openai"\nmodel = "from-file"\ntimeout_s = 5\nbase_url = "http://x/v1"\n'
        '[llm.prices.from-file]\nprompt = 1.0\ncompletion = 2.0\n'
    )
    env({"HYBRID_IE_LLM_MODEL": "from-env", "HYBRID_IE_LLM_MAX_RETRIES": "7", "HYBRID_IE_LLM_BASE_URL": ""})
    config = LLMConfig.load(path, max_retries=None, timeout_s=9.5)
    assert config.backend == "openai"  # file
    assert config.model == "from-env" and config.max_retries == 7  # env over file; None arguments ignored
    assert config.timeout_s == 9.5  # arguments over everything
    assert config.base_url is None  # an empty variable clears an optional setting
    assert config.prices == {"from-file": Price(prompt=1.0, completion=2.0)}


def test_config_file_from_the_environment_and_json(tmp_path, env):
    path = tmp_path / "llm.json"
    path.write_text(json.dumps({"backend": "openai", "request_format": "tools"}))
    env({"HYBRID_IE_LLM_CONFIG": str(path), "HYBRID_IE_LLM_PRICES": '{"m": {"prompt": 3, "completion": 4}}'})
    config = LLMConfig.load()
    assert config.request_format == "tools" and config.prices["m"].completion == 4


def test_errors_name_the_source_and_the_field(tmp_path, env, monkeypatch):
    env({"HYBRID_IE_LLM_TIMEOUT_S": "soon"})
    with pytest.raises(ConfigError, match=r"environment.*timeout_s"):
        LLMConfig.load()
    monkeypatch.delenv("HYBRID_IE_LLM_TIMEOUT_S")
    bad = tmp_path / "bad.toml"
    bad.write_text('bakend = "local"\n')
    with pytest.raises(ConfigError, match=r"bad\.toml.*bakend"):
        LLMConfig.load(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match=r"broken\.json: not valid JSON"):
        LLMConfig.load(broken)
    with pytest.raises(ConfigError, match="cannot read"):
        LLMConfig.load(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="request_format"):
        LLMConfig.load(request_format="xml")
    env({"HYBRID_IE_LLM_PRICES": "{"})
    with pytest.raises(ConfigError, match="PRICES: not valid JSON"):
        LLMConfig.load()
