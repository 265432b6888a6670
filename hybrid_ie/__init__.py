"""hybrid-ie: information extraction with a local joint encoder and LLM escalation.

    import hybrid_ie
    docs = hybrid_ie.extract(["Steve Jobs founded Apple in Cupertino."], schema="conll04")

The heavy parts (torch, the LLM client) are imported only when used.
"""

from __future__ import annotations

from typing import Any

from hybrid_ie.document import Document, Entity, Relation, read_jsonl, write_jsonl
from hybrid_ie.errors import HybridIEError, InputError, SchemaError
from hybrid_ie.schema import Schema, load_schema

__version__ = "0.1.0"

_LAZY = {
    "Extractor": ("hybrid_ie.pipeline", "Extractor"),
    "extract": ("hybrid_ie.api", "extract"),
    "distill": ("hybrid_ie.distill", "distill"),
    "Distiller": ("hybrid_ie.distill", "Distiller"),
    "JointEncoder": ("hybrid_ie.encoder", "JointEncoder"),
    "score": ("hybrid_ie.metrics", "score"),
    "read_file": ("hybrid_ie.readers", "read_file"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'hybrid_ie' has no attribute {name!r}")


__all__ = [
    "Distiller",
    "Document",
    "Entity",
    "Extractor",
    "HybridIEError",
    "InputError",
    "JointEncoder",
    "Relation",
    "Schema",
    "SchemaError",
    "distill",
    "extract",
    "load_schema",
    "read_file",
    "read_jsonl",
    "score",
    "write_jsonl",
]
