"""Where the project's resources live: schemas/, prompts/, models/, the data and cache folders.

The package is installed editable from the repository, so resources are found next to it. Each
location can be overridden with an environment variable, which is how users point the toolkit at
their own data or a shared cache.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(os.environ.get("HYBRID_IE_HOME", Path(__file__).resolve().parents[1]))
SCHEMAS_DIR = REPO_ROOT / "schemas"
PROMPTS_DIR = REPO_ROOT / "prompts"
MODELS_DIR = REPO_ROOT / "models"


def data_dir() -> Path:
    """Benchmark data (SpERT JSON); default `../shared/data` beside the repository."""
    return Path(os.environ.get("HYBRID_IE_DATA", REPO_ROOT.parent / "shared" / "data"))


def cache_dir() -> Path:
    """LLM weights and the LLM response cache; default `~/.cache/hybrid-ie`."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hybrid-ie"
    return Path(os.environ.get("HYBRID_IE_CACHE", default))
