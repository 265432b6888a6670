"""End to end with the real local model (slow; skipped when llama_cpp or the model is missing)."""

from __future__ import annotations

import importlib.util

import pytest

from hybrid_ie.datasets import load_dataset
from hybrid_ie.document import Document
from hybrid_ie.llm import LLMClient, LLMConfig
from hybrid_ie.llm.config import DEFAULT_LOCAL_MODEL
from hybrid_ie.llm.local import get_local_model, is_pulled

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def client():
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install 'hybrid-ie[local]')")
    if not is_pulled(get_local_model(DEFAULT_LOCAL_MODEL)):
        pytest.skip(f"local model not pulled: run `hybrid-ie models pull {DEFAULT_LOCAL_MODEL}`")
    return LLMClient(LLMConfig(backend="local", model=DEFAULT_LOCAL_MODEL, cache=False))


def test_three_sentences_end_to_end(client, conll04):
    gold = load_dataset("conll04", "test")[:3]
    found = 0
    for doc in gold:
        result = client.extract(doc.text, conll04)
        assert result.status == "ok", result.error
        assert result.schema_valid  # the grammar constrains the output to the schema
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
        assert all(e.label in conll04.entity_labels for e in result.entities)
        Document(id=doc.id, text=doc.text, entities=result.entities, relations=result.relations)  # offsets hold
        gold_spans = {(e.start, e.end, e.label) for e in doc.entities}
        found += sum((e.start, e.end, e.label) in gold_spans for e in result.entities)
    assert found >= 1

    candidates = Document(id="c", text=gold[1].text, entities=gold[1].entities)
    verified = client.verify(gold[1].text, conll04, candidates)
    assert verified.status == "ok", verified.error
    assert verified.usage.completion_tokens > 0
