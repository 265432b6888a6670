"""The module-level API: `hybrid_ie.extract(...)`, one call that builds an `Extractor` and runs it,
with the encoders it loads kept per process so that repeated calls load each one once.

    import hybrid_ie
    doc = hybrid_ie.extract("Steve Jobs founded Apple in Cupertino.")     # -> Document
    docs = hybrid_ie.extract(texts, schema="conll04", mode="encoder")    # -> list of Documents

`cached_encoder(checkpoint, quantize, device)` returns the same `JointEncoder` for the same
checkpoint folder (resolved path, plus its weights file's size and modification time, so a
checkpoint rewritten in place loads afresh), quantisation and device; the first call loads it
(with a status line, `hybrid_ie.status`). A name that is no local folder (a Hugging Face id) is
keyed by the name. `clear()` forgets them all (their memory goes when no one else holds them).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from typing import Any

from hybrid_ie.checkpoints import WEIGHTS_NAME, resolve
from hybrid_ie.document import Document
from hybrid_ie.pipeline import Extractor, extractor_defaults
from hybrid_ie.schema import SchemaLike

DEFAULTS = extractor_defaults()
_CACHE: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def extract(
    texts: str | Iterable[str | dict | Document],
    schema: SchemaLike = DEFAULTS["schema"],
    mode: str = DEFAULTS["mode"],
    **options: Any,
) -> Document | list[Document]:
    """One call: `extract("text")` -> Document; `extract([texts])` -> list of Documents.
    `options` go to `Extractor` (encoder, llm, policy, reconcile, threshold, ...), whose defaults
    these are. The encoder of a checkpoint folder (or of the shipped one) is loaded once per
    process and quantisation (`cached_encoder`), so later calls start at once, whatever the mode
    (``auto`` included). The mode is resolved first: ``hybrid`` without a usable LLM fails before
    a model loads."""
    extractor = Extractor(schema=schema, mode=mode, **options)
    encoder = options.get("encoder")
    if extractor.mode != "llm" and (encoder is None or isinstance(encoder, (str, os.PathLike))):
        extractor._encoder = cached_encoder(encoder, quantize=extractor.quantize)
    if isinstance(texts, str):
        return extractor.extract(texts)
    return list(extractor.extract_many(texts))


def cache_key(checkpoint: str | os.PathLike | None, quantize: str, device: str) -> tuple:
    """What identifies a loaded encoder: checkpoint (path, weights size and mtime), quantisation, device."""
    from hybrid_ie.encoder.inference import pick_device
    from hybrid_ie.encoder.quantize import check_mode

    path = resolve(checkpoint)  # a folder, a checkpoint name found locally, or None (a hub id)
    if path is not None and path.is_dir():
        weights = path / WEIGHTS_NAME
        stat = weights.stat() if weights.exists() else None
        where: tuple = (str(path.resolve()), stat.st_size if stat else None, stat.st_mtime_ns if stat else None)
    else:
        where = (str(checkpoint),)
    return (where, check_mode(quantize), str(pick_device(device)))


def cached_encoder(checkpoint: str | os.PathLike | None = None, *, quantize: str = "none", device: str = "auto") -> Any:
    """The `JointEncoder` of `checkpoint` (default: the shipped one), loaded on the first call for
    this key and shared afterwards. Do not quantise or move a shared encoder: ask for another key."""
    from hybrid_ie.encoder import JointEncoder

    key = cache_key(checkpoint, quantize, device)
    with _LOCK:
        encoder = _CACHE.get(key)
        if encoder is None:
            encoder = JointEncoder.from_pretrained(checkpoint, device=device, quantize=quantize)
            _CACHE[key] = encoder
    return encoder


def clear() -> None:
    """Forget every cached encoder."""
    with _LOCK:
        _CACHE.clear()


__all__ = ["cache_key", "cached_encoder", "clear", "extract"]
