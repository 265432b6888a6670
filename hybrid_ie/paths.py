"""Where the project's resources live: the package data (schemas/, prompts/), models/, the data
and cache folders.

Schemas and prompts are package data inside `hybrid_ie` (one copy, edited in place, shipped in
the wheel) and are read through `importlib.resources`, so an installed wheel finds them as an
editable checkout does. Checkpoints are found by `hybrid_ie.checkpoints` (an installed
weights package, else `models/` of a development checkout). Each folder outside the package can
be overridden with an environment variable, which is how users point the toolkit at their own
data or a shared cache.
"""

from __future__ import annotations

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

PACKAGE_DATA: Traversable = files("hybrid_ie")
SCHEMAS_DIR: Traversable = PACKAGE_DATA / "schemas"
PROMPTS_DIR: Traversable = PACKAGE_DATA / "prompts"
# The development checkout (the folder above the package); `HYBRID_IE_HOME` overrides it.
REPO_ROOT = Path(os.environ.get("HYBRID_IE_HOME", Path(__file__).resolve().parents[1]))
MODELS_DIR = REPO_ROOT / "models"


def data_dir() -> Path:
    """Benchmark data (SpERT JSON); default `../shared/data` beside the repository."""
    return Path(os.environ.get("HYBRID_IE_DATA", REPO_ROOT.parent / "shared" / "data"))


def cache_dir() -> Path:
    """LLM weights and the LLM response cache; default `~/.cache/hybrid-ie`."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybrid-ie"
    return Path(os.environ.get("HYBRID_IE_CACHE", default))
