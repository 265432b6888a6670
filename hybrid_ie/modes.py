"""The extraction modes and how the default one is chosen.

- ``encoder``: the joint encoder alone; ``llm``: the LLM alone; ``hybrid``: the encoder, with
  the uncertain chunks escalated to the LLM (`hybrid_ie.pipeline`).
- ``auto`` (`DEFAULT_MODE`, the default of `hybrid_ie.extract`, `Extractor`, ``hybrid-ie
  extract`` and the spaCy component): ``hybrid`` when an LLM can be made, else ``encoder``,
  with a note saying why. A fresh install (no local LLM, no server configured) then extracts
  with the encoder instead of failing after the encoder pass; ``make demo``'s set-up runs hybrid.
- ``hybrid`` or ``llm`` asked for without a usable LLM fails at once, with one line naming the
  ways out, before a model is loaded or an input read.
"""

from __future__ import annotations

from typing import Any

MODES = ("encoder", "llm", "hybrid")
AUTO_MODE = "auto"
DEFAULT_MODE = AUTO_MODE


def resolve_mode(mode: str, llm: Any) -> tuple[str, str | None]:
    """(the mode to run, a note saying why when ``auto`` chose ``encoder``).

    `llm` is what the Extractor was given: a client (anything with ``extract``: usable), an
    `LLMConfig`, or None (`LLMConfig.load()`); a configuration is usable when
    `hybrid_ie.llm.config.llm_problem` finds nothing (no model is loaded, no server called)."""
    if mode == "encoder" or (llm is not None and hasattr(llm, "extract")):
        return ("hybrid" if mode == AUTO_MODE else mode), None
    from hybrid_ie.llm.config import LLM_WAYS_OUT, ConfigError, LLMConfig, llm_problem

    config = llm if llm is not None else LLMConfig.load()
    problem = llm_problem(config)
    if mode == AUTO_MODE:
        if problem is None:
            return "hybrid", None
        return "encoder", f"mode auto chose encoder: {problem} (for hybrid: {LLM_WAYS_OUT.rsplit(', or ', 1)[0]})"
    if problem is not None:
        raise ConfigError(f"mode {mode} needs an LLM: {problem}; {LLM_WAYS_OUT}")
    return mode, None


__all__ = ["AUTO_MODE", "DEFAULT_MODE", "MODES", "resolve_mode"]
