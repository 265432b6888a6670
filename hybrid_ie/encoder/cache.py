"""Loaded encoders kept per process, so that repeated `hybrid_ie.extract(...)` calls load once.

`cached_encoder(checkpoint, quantize, device)` returns the same `JointEncoder` for the same
checkpoint folder (resolved path, plus its weights file's size and modification time, so a
checkpoint rewritten in place loads afresh), quantisation and device; the first call loads it
(with a status line, `hybrid_ie.status`). A name that is no local folder (a Hugging Face id) is
keyed by the name. `clear()` forgets them all (their memory goes when no one else holds them).
"""

from __future__ import annotations

import os
import threading

from hybrid_ie.encoder.checkpoints import resolve
from hybrid_ie.encoder.inference import WEIGHTS_NAME, JointEncoder, pick_device
from hybrid_ie.encoder.quantize import check_mode

_CACHE: dict[tuple, JointEncoder] = {}
_LOCK = threading.Lock()


def cache_key(checkpoint: str | os.PathLike | None, quantize: str = "none", device: str = "auto") -> tuple:
    """What identifies a loaded encoder: checkpoint (path, weights size and mtime), quantisation, device."""
    path = resolve(checkpoint)  # a folder, a checkpoint name found locally, or None (a hub id)
    if path is not None and path.is_dir():
        weights = path / WEIGHTS_NAME
        stat = weights.stat() if weights.exists() else None
        where: tuple = (str(path.resolve()), stat.st_size if stat else None, stat.st_mtime_ns if stat else None)
    else:
        where = (str(checkpoint),)
    return (where, check_mode(quantize), str(pick_device(device)))


def cached_encoder(
    checkpoint: str | os.PathLike | None = None, *, quantize: str = "none", device: str = "auto"
) -> JointEncoder:
    """The encoder of `checkpoint` (default: the shipped one), loaded on the first call for this
    key and shared afterwards. Do not quantise or move a shared encoder: ask for another key."""
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


def cached() -> int:
    """How many encoders are cached."""
    return len(_CACHE)


__all__ = ["cache_key", "cached", "cached_encoder", "clear"]
