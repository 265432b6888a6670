"""DOCX -> text, with python-docx (the `docs` extra).

The body is read in document order: each non-empty paragraph is a paragraph of the text
(separated by a blank line); a table reads one cell per line, row after row, and `meta["cells"]`
holds each cell's [start, end) range (a batch job cuts chunks there, so no entity spans two cells).
Page headers and footers are left out (page furniture). A file that is not a DOCX package (a
corrupt file, a legacy .doc, or a password-protected document, which Word stores as an OLE file)
raises `ReadError`.
"""

from __future__ import annotations

import io
from typing import Any

from hybrid_ie.readers import ReadError, library_version

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        seen = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell appears once per grid column it spans
                continue
            seen.add(id(cell._tc))
            value = " ".join(cell.text.split())
            if value:
                lines.append(value)
    return lines


def read(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    import docx
    from docx.table import Table

    if data.startswith(OLE_MAGIC):
        raise ReadError(f"{where}: not a DOCX package (a password-protected document or a legacy .doc)")
    try:
        document = docx.Document(io.BytesIO(data))
        blocks, cells, pos = [], [], 0
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                lines = _table_lines(item)
                if not lines:
                    continue
                pos += 2 if blocks else 0
                for line in lines:
                    cells.append([pos, pos + len(line)])
                    pos += len(line) + 1
                pos -= 1
                blocks.append("\n".join(lines))
            else:
                text = item.text.replace("\r", "").strip()
                if text:
                    pos += (2 if blocks else 0) + len(text)
                    blocks.append(text)
        title = document.core_properties.title
    except Exception as exc:  # zip, XML and package errors all mean: not a readable DOCX
        raise ReadError(f"{where}: corrupt or not a DOCX file ({type(exc).__name__}: {exc})") from exc
    meta: dict[str, Any] = {"extractor": library_version("python-docx")}
    if title:
        meta["title"] = title
    if cells:
        meta["cells"] = cells
    return "\n\n".join(blocks), meta
