"""The LLM tier: a generative model for what the encoder is unsure of.

    from hybrid_ie.llm import LLMClient, LLMConfig
    client = LLMClient(LLMConfig.load(backend="openai", base_url="http://127.0.0.1:8080/v1"))
    result = client.extract("Steve Jobs founded Apple .", "conll04")
    result.entities, result.relations, result.status, result.usage

`LLMClient.extract` reads a chunk from scratch; `LLMClient.verify` judges the encoder's
candidates for it. Answers are grounded to character offsets of the chunk; a failure is an
`LLMResult` with `status="llm_failed"` and the reason, never an exception.
"""

from hybrid_ie.llm.client import LLMClient, LLMResult
from hybrid_ie.llm.config import ConfigError, LLMConfig
from hybrid_ie.llm.usage import Price, Usage

__all__ = ["ConfigError", "LLMClient", "LLMConfig", "LLMResult", "Price", "Usage"]
