"""Settings files: a TOML or JSON table of settings, read with errors that name the file.

`read_settings` returns the table (the fields at top level, or under the one `table` named, e.g.
`[llm]`); `dataclass_from_settings` builds a settings dataclass from a file and the options given
on a command line, so the dataclass stays the one place its defaults are written: a field is the
option's value when one was given (not None), else the file's, else the dataclass default. Keys
starting with "_" are comments.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

from hybrid_ie.errors import HybridIEError, InputError

T = TypeVar("T")


def read_settings(
    path: str | Path, what: str, *, table: str | None = None, error: type[HybridIEError] = InputError
) -> dict[str, Any]:
    """The settings in `path` (`.json`, else TOML) as a dict; `error` (naming the file and `what`
    it should hold) when it cannot be read or is no table."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot read {what} ({exc.strerror or exc})") from exc
    is_json = path.suffix.lower() == ".json"
    try:
        data = json.loads(raw) if is_json else tomllib.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{path}: not valid {'JSON' if is_json else 'TOML'} ({exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: expected a table/object of settings")
    if table is not None and isinstance(data.get(table), dict):
        data = data[table]
    return data


def dataclass_from_settings(cls: type[T], path: str | Path | None, what: str, **options: Any) -> T:
    """`cls` from the settings file `path` (optional) and the given `options` (None = not given)."""
    values = {}
    if path is not None:
        values = {k: v for k, v in read_settings(path, what).items() if not k.startswith("_")}
        unknown = sorted(set(values) - {f.name for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
        if unknown:
            raise InputError(f"{path}: unknown {what} settings {unknown}")
    values.update({k: v for k, v in options.items() if v is not None})
    missing = [f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in values]  # fmt: skip
    if missing:
        raise InputError(f"{what}: give {', '.join(missing)} (an option, or a key of the settings file)")
    return cls(**values)


__all__ = ["dataclass_from_settings", "read_settings"]
