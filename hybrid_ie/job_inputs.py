"""The inputs of a batch job, listed and checked before any extraction starts.

Inputs (`collect_inputs`): ``.txt`` files (id = the file name without its suffix), document
files read by `hybrid_ie.readers` (``.pdf``, ``.html`` / ``.htm`` / ``.xhtml``, ``.docx``; same
ids), Parquet files with ``text`` and optional ``id`` columns (pyarrow: the ``ray`` extra),
folders (their files of those kinds, recursively, in path order) and JSONL files of
``{"id", "text"}`` objects (an object without ``id`` gets ``<file stem>-<line>``). Every input is
listed and checked before any extraction starts, so a bad input fails fast: unreadable files,
invalid UTF-8 (the file and the byte offset are named; ``on_bad_utf8="replace"`` replaces the
bytes with U+FFFD and warns instead), malformed JSONL lines, duplicate ids, a document format
whose library is missing (one line naming ``pip install hybrid-ie[docs]``). An empty text is
valid (empty result). Document files are read lazily, as their batch fills (`InputText.loaded`),
so one slow page never holds up the start of a job. A document file that cannot be turned into
text (corrupt, encrypted, a scanned PDF without a text layer, a file type no reader handles, a
file over `MAX_DOCUMENT_BYTES`) is not fatal: it becomes a failed document (``error`` =
``read_failed: <reason>``, empty text) and a warning in the job summary.

A document read from a file carries ``meta["source"]``: the file, its format, the extractor
(library and version) and, for PDFs, ``pages`` (each page's [start, end) range in the text);
each ``meta["route"]`` entry then also names the ``page`` its chunk starts on (and ``page_end``
when it runs on over a page break); `hybrid_ie.readers.page_at` / `entity_pages` map any offset
or entity to its page.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_ie.document import Document, json_line
from hybrid_ie.errors import InputError
from hybrid_ie.readers import SUFFIXES as DOCUMENT_SUFFIXES
from hybrid_ie.readers import ReadError, format_of, page_at, read_file, require

MAX_DOCUMENT_BYTES = 200_000_000  # a document file past this becomes a failed document, unread
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TEXT_SUFFIXES = (".txt",)
TEXT_READER = "utf-8 text"  # meta["source"]["reader"] of a .txt file
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
PARQUET_EXTRA = "reading Parquet needs pyarrow: pip install hybrid-ie[ray]"
BAD_UTF8_POLICIES = ("error", "replace")
ON_BAD_UTF8 = "error"  # the default policy


@dataclass(frozen=True)
class InputText:
    id: str
    text: str
    where: str  # file, or file:line, for messages
    meta: dict[str, Any] | None = None  # a document file's source (file, format, extractor, pages)
    error: str | None = None  # set when the file could not be read: written as a failed document
    path: Path | None = None  # a document file not read yet (`loaded` reads it)

    def loaded(self, warnings: list[str] | None = None) -> InputText:
        """This input with its document file read (a file that cannot be read, or is larger
        than `MAX_DOCUMENT_BYTES`, becomes a failed input, and a line in `warnings`); others
        are returned as they are."""
        if self.path is None:
            return self
        item = _read_document(self.path, self.id)
        if item.error is not None and warnings is not None:
            warnings.append(f"{item.where}: not read ({item.error.removeprefix('read_failed: ')}); "
                            "written as a failed document")  # fmt: skip
        return item


def _decode(raw: bytes, where: str, on_bad_utf8: str, warnings: list[str]) -> str:
    """UTF-8 text of `raw`; invalid bytes raise InputError naming the byte offset (and line),
    or are replaced (with a warning) when `on_bad_utf8 == "replace"`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        at = f"byte {exc.start}" + (f" (line {line})" if b"\n" in raw else "")
        if on_bad_utf8 != "replace":
            raise InputError(
                f"{where}: invalid UTF-8 at {at} (use --on-bad-utf8 replace to replace bad bytes)"
            ) from exc
        warnings.append(f"{where}: invalid UTF-8 from {at} replaced with U+FFFD")
        return raw.decode("utf-8", errors="replace")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _without_controls(text: str, where: str, warnings: list[str]) -> str:
    """`text` with control characters (NUL and the other C0 controls but tab, newline and
    carriage return) replaced by spaces, so none ends up inside an entity; a warning says so."""
    found = CONTROL_RE.findall(text)
    if not found:
        return text
    warnings.append(f"{where}: {len(found)} control character(s) (e.g. {found[0]!r}) replaced with spaces")
    return CONTROL_RE.sub(" ", text)


def _text_file(path: Path, doc_id: str, on_bad_utf8: str, warnings: list[str]) -> Iterator[InputText]:
    text = _decode(_read_bytes(path), str(path), on_bad_utf8, warnings).removeprefix("\ufeff")
    meta = {"file": str(path), "format": "txt", "reader": TEXT_READER}
    yield InputText(doc_id, _without_controls(text, str(path), warnings), str(path), meta=meta)


def _jsonl_file(path: Path, on_bad_utf8: str, warnings: list[str]) -> Iterator[InputText]:
    text = _decode(_read_bytes(path), str(path), on_bad_utf8, warnings).removeprefix("\ufeff")
    for lineno, line in enumerate(text.split("\n"), start=1):
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        obj = json_line(line, where)
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f'{where}: expected an object with a "text" string, e.g. {{"id": "d1", "text": "..."}}')
        doc_id = obj.get("id", f"{path.stem}-{lineno}")
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise InputError(f'{where}: "id" must be a string or an integer')
        yield InputText(str(doc_id), _without_controls(obj["text"], where, warnings), where)


def _parquet_file(path: Path) -> Iterator[InputText]:
    """Rows of a Parquet file with a string ``text`` column and an optional ``id`` column
    (string or integer; a row without one gets ``<file stem>-<row>``, rows counted from 1)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(f"{path}: {PARQUET_EXTRA}") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    if "text" not in table.column_names:
        raise InputError(f'{path}: expected a "text" column, found {", ".join(table.column_names) or "none"}')
    ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * table.num_rows
    for row, (doc_id, text) in enumerate(zip(ids, table.column("text").to_pylist(), strict=True), start=1):
        where = f"{path}:row {row}"
        if not isinstance(text, str):
            raise InputError(f'{where}: "text" must be a string, got {type(text).__name__}')
        if doc_id is None:
            doc_id = f"{path.stem}-{row}"
        elif not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise InputError(f'{where}: "id" must be a string or an integer')
        yield InputText(str(doc_id), text, where)


def _document_file(path: Path, doc_id: str) -> Iterator[InputText]:
    """A document file, listed now and read when its batch is due (`InputText.loaded`)."""
    yield InputText(doc_id, "", str(path), path=path)


def _read_document(path: Path, doc_id: str) -> InputText:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ReadError(f"{path}: {size:,} bytes, over the reader limit of {MAX_DOCUMENT_BYTES:,}")
        result = read_file(path)
    except (ReadError, OSError) as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        meta = {"file": str(path), "format": format_of(path) or path.suffix.lower().lstrip(".")}
        return InputText(doc_id, "", str(path), meta=meta, error=f"read_failed: {reason}")
    return InputText(doc_id, result.text, str(path), meta=result.meta)


FOLDER_SUFFIXES = TEXT_SUFFIXES + DOCUMENT_SUFFIXES + PARQUET_SUFFIXES


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES)
        if not files:
            raise InputError(f"{path}: folder holds no {', '.join(FOLDER_SUFFIXES)} files")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return [path]  # a type no reader handles becomes a failed document (`_document_file`)


def _file_ids(paths: Sequence[Path]) -> dict[Path, str]:
    """The id of each one-document file: its name without the suffix; files whose names clash
    (``a/report.pdf`` and ``b/report.pdf``) get their path below the folder they share instead
    (``a/report``, ``b/report``; ``report.pdf`` and ``report.html`` beside each other keep their
    suffixes)."""
    stems: dict[str, list[Path]] = {}
    for path in paths:
        stems.setdefault(path.name.removesuffix(path.suffix), []).append(path)
    ids = {}
    for stem, group in stems.items():
        if len(set(group)) == 1:
            ids[group[0]] = stem
            continue
        common = Path(os.path.commonpath([p.resolve().parent for p in group]))
        relative = {path: path.resolve().relative_to(common) for path in group}
        named = {path: rel.with_name(rel.name.removesuffix(path.suffix)).as_posix() for path, rel in relative.items()}
        if len(set(named.values())) < len(named):  # same folder, other suffixes: keep the suffix
            named = {path: rel.as_posix() for path, rel in relative.items()}
        ids.update(named)
    return ids


def collect_inputs(paths: Sequence[str | Path], on_bad_utf8: str = ON_BAD_UTF8) -> tuple[list[InputText], list[str]]:
    """Read and check every input; returns (texts in input order, warnings)."""
    if on_bad_utf8 not in BAD_UTF8_POLICIES:
        raise InputError(f"on_bad_utf8 must be one of {BAD_UTF8_POLICIES}, got {on_bad_utf8!r}")
    if not paths:
        raise InputError("no input given")
    texts: list[InputText] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    files = [path for given in paths for path in _expand(Path(given))]
    for suffix in sorted({p.suffix.lower() for p in files} & set(DOCUMENT_SUFFIXES)):
        require(next(p for p in files if p.suffix.lower() == suffix))  # a missing extra fails fast
    file_ids = _file_ids([p for p in files if p.suffix.lower() not in JSONL_SUFFIXES + PARQUET_SUFFIXES])
    for path in files:
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            items = _jsonl_file(path, on_bad_utf8, warnings)
        elif suffix in PARQUET_SUFFIXES:
            items = _parquet_file(path)
        elif suffix in TEXT_SUFFIXES:
            items = _text_file(path, file_ids[path], on_bad_utf8, warnings)
        else:
            items = _document_file(path, file_ids[path])
        for item in items:
            if item.id in seen:
                raise InputError(f"{item.where}: duplicate document id {item.id!r} (also in {seen[item.id]})")
            seen[item.id] = item.where
            texts.append(item)
    return texts, warnings


def cell_breaks(item: InputText) -> list[int]:
    """The hard chunk boundaries of an input: both ends of each table cell its reader found."""
    return [offset for cell in (item.meta or {}).get("cells") or () for offset in cell]


def with_source(doc: Document, item: InputText) -> Document:
    """Record where a document file's text came from (its cell ranges left out: they only cut
    chunks); route entries get their chunk's page."""
    if item.meta is None:
        return doc
    doc.meta["source"] = {k: v for k, v in item.meta.items() if k != "cells"}
    pages = item.meta.get("pages")
    if pages:
        for entry in doc.meta.get("route") or []:
            entry["page"] = page_at(pages, entry["start"])
            last = page_at(pages, max(entry["start"], entry["end"] - 1))
            if last != entry["page"]:
                entry["page_end"] = last  # a sentence that runs on over a page break
    return doc


def read_failure(item: InputText) -> Document:
    """The failed Document of an input whose file could not be read (empty text, ``error``)."""
    return Document(id=item.id, text="", meta={"source": item.meta or {}}, error=item.error)


__all__ = [
    "BAD_UTF8_POLICIES",
    "CONTROL_RE",
    "FOLDER_SUFFIXES",
    "JSONL_SUFFIXES",
    "MAX_DOCUMENT_BYTES",
    "ON_BAD_UTF8",
    "PARQUET_EXTRA",
    "PARQUET_SUFFIXES",
    "TEXT_READER",
    "TEXT_SUFFIXES",
    "InputText",
    "cell_breaks",
    "collect_inputs",
    "read_failure",
    "with_source",
]
