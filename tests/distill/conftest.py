"""Fixtures of the distillation tests: a tiny random base checkpoint on disk, a tiny data dir to
replay, a corpus of user documents and the loopback LLM server answering like a weak LLM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.llm_server import LLMServer, Reply, client_config
from support.tiny_data import tiny_data_dir
from support.tiny_encoder import tiny_encoder

N_DOCS = 6  # two chunks each


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


def weak_llm_answer(request) -> dict:
    """An extract answer: Boston (exact) and the organisation with its relation, "Pariss" (found
    only fuzzily, similarity 0.91) and "Atlantis" (not in the text)."""
    text = request.chunk_text
    entities, relations = [], []
    org = re.search(r"Acme\d+", text)
    if "Boston" in text:
        entities.append({"text": "Boston", "type": "Loc"})
    if org:
        entities.append({"text": org.group(0), "type": "Org"})
        relations.append({"head": org.group(0), "type": "OrgBased_In", "tail": "Boston"})
    if "Paris" in text:
        entities += [{"text": "Pariss", "type": "Loc"}, {"text": "Atlantis", "type": "Loc"}]
    return {"entities": entities, "relations": relations}


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
