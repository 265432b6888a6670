"""Fixtures of the LLM tier tests: a fresh loopback server per test, the conll04 schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.llm_server import LLMServer

from hybrid_ie.schema import Schema, load_schema


@pytest.fixture
def server() -> Iterator[LLMServer]:
    with LLMServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def conll04() -> Schema:
    return load_schema("conll04")
