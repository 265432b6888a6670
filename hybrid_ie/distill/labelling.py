"""Which chunks the LLM labels, and the labelling loop.

Chunks are made exactly as the pipeline makes them (`pipeline.chunk_text`), and each is asked
with the same client call as ``hybrid-ie extract --mode llm`` (`LLMClient.extract(chunk text,
schema)`), so the answers cached by such a run (`hybrid_ie.llm.cache`: the key covers the
messages, the response schema, the schema and the generation parameters) are hits here, and a
killed distillation asks nothing again for the chunks it had done. With ``verify`` the LLM
judges the encoder's candidates for the chunk instead (``LLMClient.verify``).

The sample: with a limit, `limit` chunks drawn uniformly without replacement with a seeded
generator, kept in input order; without one, every non-empty chunk.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from hybrid_ie.distill.silver import SilverSettings, SilverStats, silver_from_answer
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.pipeline import MAX_CHUNK_WORDS, chunk_text
from hybrid_ie.schema import Schema
from hybrid_ie.tiers import llm_workers


@dataclass(frozen=True)
class ChunkRef:
    """One chunk of an input document: its id, start offset in the document, index and text."""

    doc: str
    start: int
    index: int
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}#{self.index}"


def document_chunks(texts: Iterable[Any], max_chunk_words: int = MAX_CHUNK_WORDS) -> list[ChunkRef]:
    """The non-empty chunks of readable inputs (`batch.InputText` or ``{"id", "text"}``)."""
    out = []
    for item in texts:
        doc_id, text = (item["id"], item["text"]) if isinstance(item, dict) else (item.id, item.text)
        if getattr(item, "error", None):
            continue
        for c in chunk_text(text, max_chunk_words):
            if c.text.strip():
                out.append(ChunkRef(str(doc_id), c.start, c.index, c.text))
    return out


def sample_chunks(chunks: Sequence[ChunkRef], limit: int | None, seed: int = 13) -> list[ChunkRef]:
    """`limit` chunks drawn with `random.Random(seed)`, in input order (all of them without a limit)."""
    if limit is not None and limit < 0:
        raise InputError(f"--limit must be >= 0, got {limit}")
    if limit is None or limit >= len(chunks):
        return list(chunks)
    picked = sorted(random.Random(seed).sample(range(len(chunks)), limit))
    return [chunks[i] for i in picked]


def label_chunks(
    chunks: Sequence[ChunkRef],
    schema: Schema,
    llm: Any,
    settings: SilverSettings,
    *,
    encoder: Any = None,
    verify: bool = False,
    nested: bool = False,
    progress: bool = True,
) -> tuple[list[Document], SilverStats, Any]:
    """Ask the LLM about every chunk; returns (silver Documents, statistics, summed `Usage`).
    `encoder` (optional for extract, needed for verify): its predictions mark agreement."""
    from tqdm.auto import tqdm

    from hybrid_ie.llm import Usage

    if verify and encoder is None:
        raise InputError("verify needs the encoder's candidates: give an encoder")
    predicted: list[Document | None] = [None] * len(chunks)
    if encoder is not None and chunks:
        predicted = list(encoder.predict([c.text for c in chunks], schema, ids=[c.id for c in chunks], nested=nested))

    def ask(i: int) -> Any:
        c = chunks[i]
        return llm.verify(c.text, schema, predicted[i]) if verify else llm.extract(c.text, schema)

    stats, usage, docs = SilverStats(), Usage(calls=0), []
    workers = llm_workers(llm)
    bar = tqdm(total=len(chunks), desc="label", unit="chunk", disable=not progress)
    with bar, ThreadPoolExecutor(max_workers=workers) as pool:
        for i, result in enumerate(pool.map(ask, range(len(chunks)))):
            c = chunks[i]
            usage = usage + result.usage
            doc = silver_from_answer(c.id, c.text, result, schema, settings, encoder_doc=predicted[i],
                                     origin={"doc": c.doc, "start": c.start}, stats=stats, nested=nested)  # fmt: skip
            if doc is not None:
                docs.append(doc)
            bar.set_postfix(tokens=usage.total_tokens, cached=usage.cache_hits, kept=stats.entities, refresh=False)
            bar.update()
    return docs, stats, usage


__all__ = ["ChunkRef", "document_chunks", "label_chunks", "sample_chunks"]
