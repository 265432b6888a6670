"""PDF -> text of its text layer, page by page, with pypdf (the `docs` extra).

Pages are joined with a blank line; `meta["pages"]` holds each page's [start, end) character
range in the text (page n is `pages[n - 1]`), `meta["pages_without_text"]` the 1-based pages that
had no text (figures, scanned pages). A PDF with no text on any page (a scan: run OCR first), a
PDF that needs a password, and a file pypdf cannot parse raise `ReadError`. A PDF encrypted with
an empty user password (only an owner password restricting printing or copying) is read; AES
encryption needs `cryptography` (installed by the extra).
"""

from __future__ import annotations

import io
import logging
import time
from typing import Any

from hybrid_ie.readers import READ_TIME_LIMIT_S, ReadError, join_parts, library_version


def _open(data: bytes, where: str) -> Any:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise ReadError(f"{where}: not a PDF file (no %PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ReadError(f"{where}: encrypted PDF that needs a password; decrypt it first (e.g. qpdf --decrypt)")
        _ = len(reader.pages)
    except ReadError:
        raise
    except DependencyError as exc:
        raise ReadError(f"{where}: encrypted PDF; reading it needs {exc}") from exc
    except FileNotDecryptedError as exc:
        raise ReadError(f"{where}: encrypted PDF that needs a password ({exc})") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise ReadError(f"{where}: corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    return reader


def _title(reader: Any) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:  # noqa: BLE001 - a broken info dictionary only loses the title
        return None
    title = str(title).strip() if title else ""
    return title or None


def read(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # warnings about sloppy files are not errors
    reader = _open(data, where)
    texts = []
    started = time.monotonic()
    for number, page in enumerate(reader.pages, start=1):
        if time.monotonic() - started > READ_TIME_LIMIT_S:
            raise ReadError(f"{where}: reading took over {READ_TIME_LIMIT_S:g} s (stopped at page {number})")
        try:
            raw = page.extract_text() or ""
        except Exception as exc:  # pypdf raises many kinds on broken content streams
            raise ReadError(f"{where}: page {number}: cannot extract text ({type(exc).__name__}: {exc})") from exc
        texts.append(raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "").strip())
    if not texts:
        raise ReadError(f"{where}: the PDF has no pages")
    empty = [i for i, t in enumerate(texts, start=1) if not t]
    if len(empty) == len(texts):
        raise ReadError(
            f"{where}: no text layer on any of its {len(texts)} pages (a scanned PDF?); run OCR first (e.g. ocrmypdf)"
        )
    text, pages = join_parts(texts)
    meta: dict[str, Any] = {"extractor": library_version("pypdf"), "pages": pages}
    if empty:
        meta["pages_without_text"] = empty
    title = _title(reader)
    if title:
        meta["title"] = title
    return text, meta
