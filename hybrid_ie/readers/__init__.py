"""Text out of document files: PDF (text layer), HTML (main text) and DOCX, plus a page map.

    from hybrid_ie.readers import read_file, page_at
    src = read_file("report.pdf")        # ReadResult(text, meta)
    src.meta   # {"file", "format", "reader", "extractor", "pages": [[start, end), ...] (PDF), "title", ...}
    page_at(src.meta["pages"], 1234)     # the 1-based page holding character 1234

One module per format (`pdf`, `html`, `docx`), each imported only when a file of its format is
read; their libraries come with the `docs` extra (``pip install hybrid-ie[docs]``). A missing
library raises `MissingExtraError` (one line naming that command). A file that cannot be turned
into text (corrupt, encrypted, a scanned PDF without a text layer, an unsupported type) raises
`ReadError`; a batch job writes it as a failed document and goes on (`hybrid_ie.batch`).

The text is what every offset of the extracted Document refers to (it is stored as the
Document's text); `meta` records where it came from.
"""

from __future__ import annotations

import bisect
import importlib
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.errors import InputError

# suffix -> (format, reader module, the import names it needs, its PyPI name)
FORMATS: dict[str, tuple[str, str, str, str]] = {
    ".pdf": ("pdf", "hybrid_ie.readers.pdf", "pypdf", "pypdf"),
    ".html": ("html", "hybrid_ie.readers.html", "bs4", "beautifulsoup4"),
    ".htm": ("html", "hybrid_ie.readers.html", "bs4", "beautifulsoup4"),
    ".xhtml": ("html", "hybrid_ie.readers.html", "bs4", "beautifulsoup4"),
    ".docx": ("docx", "hybrid_ie.readers.docx", "docx", "python-docx"),
}
SUFFIXES = tuple(FORMATS)
EXTRA_HINT = "pip install hybrid-ie[docs]"
READ_TIME_LIMIT_S = 120.0  # a PDF whose pages take longer than this to read is a ReadError


class ReadError(InputError):
    """This file cannot be turned into text (corrupt, encrypted, no text layer, unsupported)."""


class MissingExtraError(InputError):
    """The library that reads this format is not installed."""


@dataclass(frozen=True)
class ReadResult:
    """The text of a document file and where it came from (`meta`: file, format, extractor,
    and for PDFs `pages`, the [start, end) character range of each page)."""

    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def page_at(self, offset: int) -> int | None:
        return page_at(self.meta.get("pages"), offset)


def format_of(path: str | Path) -> str | None:
    """`pdf`, `html`, `docx`, or None for a suffix no reader handles."""
    entry = FORMATS.get(Path(path).suffix.lower())
    return entry[0] if entry else None


def require(path: str | Path) -> None:
    """Raise MissingExtraError (one line) when the library for this file's format is missing."""
    entry = FORMATS.get(Path(path).suffix.lower())
    if entry is None:
        return
    fmt, _module, import_name, dist = entry
    if importlib.util.find_spec(import_name) is None:
        raise MissingExtraError(
            f"{path}: reading {fmt.upper()} files needs {dist}, part of the docs extra: {EXTRA_HINT}"
        )


def read_file(path: str | Path) -> ReadResult:
    """The text of a PDF, HTML or DOCX file. Raises ReadError naming the file and the reason."""
    path = Path(path)
    entry = FORMATS.get(path.suffix.lower())
    if entry is None:
        known = ", ".join(sorted({s for s in SUFFIXES}))
        raise ReadError(f"{path}: unsupported file type {path.suffix or '(no suffix)'!r}; readers exist for {known}")
    require(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReadError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    module = importlib.import_module(entry[1])
    text, meta = module.read(data, str(path))
    return ReadResult(text, {"file": str(path), "format": entry[0], "reader": entry[1], **meta})


def join_parts(parts: Sequence[str], sep: str = "\n\n") -> tuple[str, list[list[int]]]:
    """Join text parts (e.g. pages) with `sep`; returns the text and each part's [start, end).
    An empty part adds no separator (its range is empty, where the text stands at that point)."""
    ranges, pieces, pos = [], [], 0
    for part in parts:
        if part and pos:
            pieces.append(sep)
            pos += len(sep)
        pieces.append(part)
        ranges.append([pos, pos + len(part)])
        pos += len(part)
    return "".join(pieces), ranges


def page_at(pages: Sequence[Sequence[int]] | None, offset: int) -> int | None:
    """The 1-based page whose range holds `offset` (an offset between two pages belongs to the
    earlier one); None without a page map or for an offset outside the text."""
    if not pages or offset < 0 or offset > pages[-1][1]:
        return None
    return max(1, bisect.bisect_right([p[0] for p in pages], offset))


def entity_pages(doc: Any) -> dict[str, int | None]:
    """Entity id -> the page its span starts on, for a Document read from a PDF
    (its `meta["source"]["pages"]`); empty for other documents."""
    pages = ((doc.meta or {}).get("source") or {}).get("pages")
    if not pages:
        return {}
    return {e.id: page_at(pages, e.start) for e in doc.entities}


def library_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"{dist} {version(dist)}"
    except PackageNotFoundError:  # pragma: no cover - imported but not installed as a distribution
        return dist


__all__ = [
    "EXTRA_HINT",
    "FORMATS",
    "READ_TIME_LIMIT_S",
    "SUFFIXES",
    "MissingExtraError",
    "ReadError",
    "ReadResult",
    "entity_pages",
    "format_of",
    "join_parts",
    "page_at",
    "read_file",
    "require",
]
