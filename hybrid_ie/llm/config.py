"""LLM tier configuration: arguments > environment > config file > defaults (pydantic-settings).

    LLMConfig.load()                                  # defaults, file from $HYBRID_IE_LLM_CONFIG, env
    LLMConfig.load("llm.toml", model="gpt-4o-mini")  # a file, then env, then these arguments

Environment variables are `HYBRID_IE_LLM_<FIELD>` (e.g. `HYBRID_IE_LLM_BACKEND=openai`,
`HYBRID_IE_LLM_MODEL`, `HYBRID_IE_LLM_BASE_URL`, `HYBRID_IE_LLM_TIMEOUT_S`); `prices` takes JSON.
A config file is TOML or JSON holding the fields at top level or under an `llm` table.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from hybrid_ie.errors import HybridIEError
from hybrid_ie.llm.usage import Price
from hybrid_ie.paths import cache_dir
from hybrid_ie.settings_files import read_settings

ENV_PREFIX = "HYBRID_IE_LLM_"
CONFIG_ENV = ENV_PREFIX + "CONFIG"
# the smallest local model whose hybrid F1 matches the larger one's (eval/bench_llm.py measures)
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"

class ConfigError(HybridIEError):
    """The LLM configuration (file, environment or arguments) is invalid."""


class LLMConfig(BaseModel):
    """Everything the LLM client needs: backend, model, request format, retry policy, cache."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    backend: Literal["local", "openai"] = "local"
    model: str = DEFAULT_LOCAL_MODEL
    # openai backend
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    # How the response schema is sent: "json_schema" (OpenAI structured outputs),
    # "json_object_schema" (llama.cpp server: response_format json_object + schema via
    # extra_body) or "tools" (a forced function call). The local backend always constrains
    # with a grammar built from the schema.
    request_format: Literal["json_schema", "json_object_schema", "tools"] = "json_schema"
    timeout_s: float = Field(60.0, gt=0, description="one HTTP request")
    deadline_s: float = Field(300.0, gt=0, description="one call, all retries and re-asks included")
    max_retries: int = Field(4, ge=0, description="transport retries: timeouts, 429, 5xx, resets")
    backoff_s: float = Field(1.0, ge=0, description="first backoff; doubles with jitter")
    backoff_max_s: float = Field(20.0, ge=0)
    max_reasks: int = Field(2, ge=0, description="validation failures asked again")
    max_concurrency: int = Field(4, ge=1)
    max_answer_bytes: int = Field(1_000_000, ge=1024, description="an answer body past this is not read further")
    # generation (deterministic)
    temperature: float = Field(0.0, ge=0)
    seed: int = 0
    max_tokens: int = Field(512, ge=16)
    # local backend
    n_ctx: int = Field(4096, ge=512)
    n_threads: int | None = Field(None, ge=1)
    # prompts: the LLM reads and writes the types' natural-language labels ("person") or names ("Peop")
    label_style: Literal["verbose", "name"] = "verbose"
    few_shot: bool = True
    max_candidates: int = Field(24, ge=1, description="verify: candidates listed per kind")
    # cache and cost
    cache: bool = True
    cache_path: Path | None = None
    prices: dict[str, Price] = Field(default_factory=dict, description="USD per 1M tokens by model")

    @property
    def resolved_cache_path(self) -> Path:
        return self.cache_path or cache_dir() / "llm-cache.sqlite"

    def generation_params(self) -> dict[str, Any]:
        """The parameters that change an answer (part of every cache key)."""
        return {"temperature": self.temperature, "seed": self.seed, "max_tokens": self.max_tokens}

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: Any) -> LLMConfig:
        """Defaults, then the config file (`path` or $HYBRID_IE_LLM_CONFIG), then the environment
        (`HYBRID_IE_LLM_<FIELD>`), then `overrides` (arguments whose value is None are ignored);
        pydantic-settings merges them in that order."""
        path = path or os.environ.get(CONFIG_ENV) or None
        file_values = read_settings(path, "LLM config", table="llm", error=ConfigError) if path else {}
        source = str(path) if path else "defaults"
        if {ENV_PREFIX + name.upper() for name in cls.model_fields} & {name.upper() for name in os.environ}:
            source += " + environment"
        arguments = {k: v for k, v in overrides.items() if v is not None}
        try:
            settings = _settings_over(file_values)(**arguments)
        except SettingsError as exc:
            field = re.search(r'field "(\w+)"', str(exc))
            name = ENV_PREFIX + field.group(1).upper() if field else "environment"
            raise ConfigError(f"{name}: not valid JSON ({exc.__cause__ or exc})") from exc
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(x) for x in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise ConfigError(f"invalid LLM configuration ({source}): {problems}") from exc
        return cls.model_validate(dict(settings))


LLM_WAYS_OUT = (
    "install and pull the local LLM (pip install 'hybrid-ie[local]' && hybrid-ie models pull "
    f"{DEFAULT_LOCAL_MODEL}) or set an openai-compatible one (--llm-config / HYBRID_IE_LLM_*), "
    "or use --mode encoder"
)


def llm_problem(config: LLMConfig) -> str | None:
    """Why this configuration cannot make an LLM client, found without loading a model or
    calling a server (None: it can): the local backend needs llama-cpp-python and a pulled model
    (or a GGUF file); the openai backend needs an API key or a `base_url`."""
    if config.backend == "openai":
        if not config.base_url and not os.environ.get(config.api_key_env):
            return f"the openai backend needs an API key in ${config.api_key_env} (or a base_url of a local server)"
        return None
    import importlib.util

    from hybrid_ie.llm.local import LOCAL_MODELS, is_pulled

    if importlib.util.find_spec("llama_cpp") is None:
        return "the local LLM backend needs llama-cpp-python, which is not installed"
    spec = LOCAL_MODELS.get(config.model)
    if spec is not None and not is_pulled(spec):
        return f"the local model {config.model!r} is not pulled"
    if spec is None and not Path(config.model).expanduser().is_file():
        return f"the local model {config.model!r} is neither a known model nor a GGUF file"
    return None


class _FromEnvironment(LLMConfig, BaseSettings):
    """LLMConfig as pydantic-settings reads it: `HYBRID_IE_LLM_<FIELD>` variables (a dict field
    takes JSON; an empty variable clears an optional setting)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_parse_none_str="", extra="forbid")


def _settings_over(file_values: dict[str, Any]) -> type[_FromEnvironment]:
    """The settings class whose sources rank arguments > environment > config file > defaults."""

    class Settings(_FromEnvironment):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, InitSettingsSource(settings_cls, file_values)

    return Settings
