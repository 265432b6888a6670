"""A scripted weak LLM for the distillation tests: what the loopback server answers to extract."""

from __future__ import annotations

import re

N_DOCS = 6  # documents of the distillation corpus fixture (two chunks each)


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
