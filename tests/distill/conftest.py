"""Fixtures of the distillation tests: a tiny random base checkpoint on disk, a tiny data dir to
replay, a corpus of user documents and the loopback LLM server answering like a weak LLM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.llm_server import LLMServer, Reply, client_config
from support.tiny_data import tiny_data_dir
from support.tiny_encoder import tiny_encoder
from support.weak_llm import N_DOCS, weak_llm_answer


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("base") / "ckpt")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tiny_data_dir(tmp_path_factory.mktemp("data"))


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "docs.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for i in range(N_DOCS):
            text = f"Person{i} Smith works for Acme{i} in Boston. Mary{i} lives in Paris."
            handle.write(json.dumps({"id": f"d{i}", "text": text}) + "\n")
    return path


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as srv:
        srv.default = Reply.ok(weak_llm_answer)
        yield srv


@pytest.fixture
def llm_config(tmp_path, server) -> Path:
    """An LLM config file for the loopback server, with an answer cache in tmp_path."""
    path = tmp_path / "llm.json"
    config = client_config(server, cache=True, cache_path=tmp_path / "cache.sqlite")
    path.write_text(json.dumps(config.model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    return path
