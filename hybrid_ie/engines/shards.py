"""The output of a sharded batch job: a folder of ``part-NNNNN.jsonl`` (or ``.parquet``) files.

Each shard is written whole to ``part-NNNNN.<fmt>.tmp`` and then renamed (`os.replace`, atomic on
one file system), so a killed job leaves only complete shards and perhaps a ``.tmp`` file, which
`clean_partial` removes before a resume. A JSONL shard holds one Document per line, exactly as the
local engine writes them; a Parquet shard has the columns ``id``, ``text``, ``error`` and
``document`` (the Document's JSON line, lossless).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import PARQUET_EXTRA

FORMATS = ("jsonl", "parquet")
PREFIX = "part-"
_SHARD_RE = re.compile(rf"^{PREFIX}(\d+)\.(jsonl|parquet)$")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"output format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    return fmt


def shard_files(folder: Path) -> list[Path]:
    """The complete shards of a folder, in index order."""
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _SHARD_RE.match(p.name))]
    return [p for _, p in sorted(found)]


def clean_partial(folder: Path) -> int:
    """Remove the ``.tmp`` shards a killed job left; returns how many."""
    stale = list(folder.glob(f"{PREFIX}*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink()
    return len(stale)


def _parquet() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(PARQUET_EXTRA.replace("reading", "writing or reading")) from exc
    return pa, pq


def read_shard(path: Path) -> Iterator[dict[str, Any]]:
    """The documents of one shard (Document dicts)."""
    try:
        if path.suffix == ".parquet":
            _, pq = _parquet()
            lines = pq.read_table(path, columns=["document"]).column("document").to_pylist()
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            if line.strip():
                yield json.loads(line)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: a corrupt shard; cannot resume ({exc})") from exc


def read_shards(folder: Path) -> Iterator[dict[str, Any]]:
    for path in shard_files(folder):
        yield from read_shard(path)


class ShardWriter:
    """Collects Document JSON lines and writes a shard every `size` documents (and at `close`)."""

    def __init__(self, folder: Path, fmt: str = "jsonl", size: int = 1000) -> None:
        if size < 1:
            raise InputError(f"shard size must be at least 1, got {size}")
        self.folder, self.fmt, self.size = folder, check_format(fmt), size
        existing = shard_files(folder)
        self.next_index = int(_SHARD_RE.match(existing[-1].name).group(1)) + 1 if existing else 0
        self.lines: list[str] = []
        self.written: list[Path] = []
        if fmt == "parquet":
            _parquet()  # a missing pyarrow fails before any work

    def add(self, line: str) -> None:
        """Add one Document JSON line (no newline)."""
        self.lines.append(line)
        if len(self.lines) >= self.size:
            self.flush()

    def flush(self) -> None:
        if not self.lines:
            return
        final = self.folder / f"{PREFIX}{self.next_index:05d}.{self.fmt}"
        tmp = final.with_name(final.name + ".tmp")
        if self.fmt == "parquet":
            pa, pq = _parquet()
            docs = [json.loads(line) for line in self.lines]
            table = pa.table({
                "id": [d["id"] for d in docs], "text": [d["text"] for d in docs],
                "error": [d.get("error") for d in docs], "document": self.lines,
            })  # fmt: skip
            pq.write_table(table, tmp)
        else:
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write("".join(line + "\n" for line in self.lines))
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, final)
        self.written.append(final)
        self.next_index += 1
        self.lines = []

    close = flush


__all__ = ["FORMATS", "ShardWriter", "check_format", "clean_partial", "read_shard", "read_shards", "shard_files"]
