"""Document readers: PDF text layers with a page map, HTML main text without boilerplate, DOCX
paragraphs and tables, and a clear ReadError for each kind of unreadable file."""

from __future__ import annotations

import subprocess
import sys

import pytest
from support.documents import pdf_bytes, write_docx, write_encrypted_pdf, write_pdf

from hybrid_ie.document import Document, make_entity
from hybrid_ie.errors import InputError
from hybrid_ie.readers import (
    MissingExtraError,
    ReadError,
    entity_pages,
    format_of,
    join_parts,
    page_at,
    read_file,
    require,
)

pytest.importorskip("pypdf")
pytest.importorskip("bs4")
pytest.importorskip("docx")

PAGE_1 = "Tim Cook (the CEO) spoke in Cupertino.\nHe met Ann Smith of Acme Corp."
PAGE_2 = "Apple is based in Cupertino, California."

HTML = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>Acme news</title>
<style>.menu { color: red } body { stylefoo: 1 }</style><script>var trackerfoo = "scriptfoo";</script></head>
<body class="layout has-sidebar">
<header><a href="/">Logo</a><nav><ul><li><a href="/">Home</a></li><li><a href="/about">Aboutfoo</a></li></ul></nav></header>
<div class="cookie-banner">We use cookiefoo. <button>Accept</button></div>
<main><article><header><h1>Acme opens an office in Paris</h1></header>
<p>Ann   Smith, the chief executive of <b>Acme</b> Corp,
spoke in Paris on Tuesday.</p><!-- a comment -->
<ul><li>first point</li><li>second point</li></ul>
<table><tr><th>City</th><th>Staff</th></tr><tr><td>Paris</td><td>12</td></tr></table>
<div class="share-buttons">Sharefoo on Twitter</div><script>scriptfoo()</script>
</article><aside>Related: sidebarfoo</aside></main>
<footer>Copyright footerfoo</footer><noscript>noscriptfoo</noscript></body></html>"""

MAIN_TEXT = (
    "Acme opens an office in Paris\n\nAnn Smith, the chief executive of Acme Corp, spoke in Paris on Tuesday."
    "\n\nfirst point\nsecond point\n\nCity\nStaff\nParis\n12"
)


def test_a_two_page_pdf_gives_its_text_layer_and_a_page_map(tmp_path):
    result = read_file(write_pdf(tmp_path / "report.pdf", [PAGE_1, PAGE_2]))
    assert result.text == PAGE_1 + "\n\n" + PAGE_2
    assert result.meta["file"] == str(tmp_path / "report.pdf")
    assert result.meta["format"] == "pdf" and result.meta["extractor"].startswith("pypdf ")
    pages = result.meta["pages"]
    assert [result.text[s:e] for s, e in pages] == [PAGE_1, PAGE_2]
    assert result.page_at(result.text.index("Ann Smith")) == 1
    assert result.page_at(result.text.index("California")) == 2
    assert page_at(pages, len(PAGE_1) + 1) == 1  # between the pages: the earlier one
    assert page_at(pages, len(result.text) + 1) is None and page_at(None, 0) is None


def test_pages_without_text_are_listed_and_keep_an_empty_range(tmp_path):
    result = read_file(write_pdf(tmp_path / "mixed.pdf", [PAGE_1, None, PAGE_2]))
    assert result.text == PAGE_1 + "\n\n" + PAGE_2
    assert result.meta["pages_without_text"] == [2]
    assert [result.text[s:e] for s, e in result.meta["pages"]] == [PAGE_1, "", PAGE_2]
    assert result.page_at(result.text.index("Apple")) == 3


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: write_pdf(p, [None, None]), r"no text layer on any of its 2 pages \(a scanned PDF\?\); run OCR"),
        (lambda p: write_encrypted_pdf(p, [PAGE_1], user_password="secret"), r"encrypted PDF that needs a password"),
        (lambda p: p.write_bytes(pdf_bytes([PAGE_1])[:300]), r"corrupt or unreadable PDF"),
        (lambda p: p.write_bytes(b"%PDF-1.7\n\x00\x01 garbage"), r"corrupt or unreadable PDF"),
        (lambda p: p.write_text("<html>not a pdf</html>"), r"not a PDF file \(no %PDF header\)"),
    ],
    ids=["scanned", "encrypted", "truncated", "garbage", "not-a-pdf"],
)
def test_unreadable_pdfs_raise_a_read_error_naming_the_file(tmp_path, make, message):
    path = tmp_path / "bad.pdf"
    make(path)
    with pytest.raises(ReadError, match=message) as info:
        read_file(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_a_pdf_with_only_an_owner_password_is_read(tmp_path, algorithm):
    if algorithm.startswith("AES"):
        pytest.importorskip("cryptography")  # pypdf[crypto], part of the docs extra
    path = write_encrypted_pdf(tmp_path / "locked.pdf", [PAGE_2], user_password="", algorithm=algorithm)
    assert read_file(path).text == PAGE_2


def test_html_main_text_without_scripts_styles_or_navigation(tmp_path):
    path = tmp_path / "page.html"
    path.write_text(HTML, encoding="utf-8")
    result = read_file(path)
    assert result.text == MAIN_TEXT
    assert result.meta["title"] == "Acme news" and result.meta["format"] == "html"
    assert result.meta["extractor"].startswith("beautifulsoup4 ")
    for leaked in ("foo", "Home", "Logo", "Accept", "comment", "Copyright"):
        assert leaked not in result.text


def test_html_without_semantic_tags_drops_boilerplate_by_class_and_id(tmp_path):
    page = ("<html><body><div id='top-menu'>Home | Aboutfoo</div><div class='wrapper with-sidebar'>"
            "<div class='post'><p>Mary lives in Paris.</p><p>She works for Acme.</p></div>"
            "<div class='sidebar'>Trendingfoo</div></div><div role='contentinfo'>Footerfoo</div>"
            "<div hidden>Hiddenfoo</div></body></html>")  # fmt: skip
    path = tmp_path / "soup.htm"
    path.write_bytes(page.encode("utf-8"))
    assert read_file(path).text == "Mary lives in Paris.\n\nShe works for Acme."


def test_html_drops_css_hidden_text_and_reads_cells_as_lines(tmp_path):
    page = ("<html><body><p>Mary lives in Paris.</p><p style='display: none'>Hidden Boris</p>"
            "<div style='color:red; visibility:hidden'>Ghost Ivan</div><span hidden>Secret Olga</span>"
            "<p style='display:block'>Shown Tim.</p><table><tr><td>Apple</td><td>Inc</td></tr>"
            "<tr><td>Berlin</td><td>GmbH</td></tr></table></body></html>")  # fmt: skip
    path = tmp_path / "h.html"
    path.write_text(page, encoding="utf-8")
    result = read_file(path)
    assert result.text == "Mary lives in Paris.\n\nShown Tim.\n\nApple\nInc\nBerlin\nGmbH"
    assert result.meta["reader"] == "hybrid_ie.readers.html"
    assert [result.text[s:e] for s, e in result.meta["cells"]] == ["Apple", "Inc", "Berlin", "GmbH"]


def test_no_entity_spans_two_table_cells(tmp_path):
    from support.tiny_encoder import tiny_encoder

    from hybrid_ie.batch import extract_inputs
    from hybrid_ie.job_inputs import collect_inputs
    from hybrid_ie.pipeline import Extractor

    rows = "".join(f"<tr><td>Mary Smith {i}</td><td>Acme Corp {i}</td><td>Paris</td></tr>" for i in range(4))
    html_path = tmp_path / "t.html"
    html_path.write_text(f"<html><body><p>Staff list.</p><table>{rows}</table></body></html>", encoding="utf-8")
    docx_path = write_docx(tmp_path / "t.docx", ["Staff list."], table=[["Mary Smith", "Acme Corp"], ["Ann Lee", "Paris"]])
    texts, _ = collect_inputs([html_path, docx_path])
    extractor = Extractor("conll04", encoder=tiny_encoder(seed=0), mode="encoder", threshold=0.0, nested=True)
    docs = list(extract_inputs(texts, extractor))
    for doc, item in zip(docs, texts, strict=True):
        cells = item.loaded().meta["cells"]
        assert len(cells) >= 4 and doc.entities
        for ent in doc.entities:  # inside one cell, or outside the table
            inside = [c for c in cells if c[0] <= ent.start < c[1]]
            assert not inside or ent.end <= inside[0][1], (ent, doc.text)
            assert "\n" not in ent.text


@pytest.mark.parametrize("shape", ["nested", "siblings"])
def test_html_is_read_in_linear_time(tmp_path, shape):
    """Five times the elements take about five times as long (a quadratic reader: 25 times;
    main took 488 s for 20,000 nested divs, 41 s for 20,000 siblings)."""
    import time

    def seconds(n: int) -> tuple[float, str]:
        body = "<div>x " * n + "</div>" * n if shape == "nested" else "<div>x</div>" * n
        path = tmp_path / f"{n}.html"
        path.write_text(f"<html><head><meta charset='utf-8'></head><body>{body}<p>Mary lives in Paris.</p></body></html>",
                        encoding="utf-8")  # fmt: skip
        started = time.perf_counter()
        text = read_file(path).text
        return time.perf_counter() - started, text

    seconds(500)  # imports and caches
    small, _ = seconds(4_000)
    big, text = seconds(20_000)
    assert big < 12 * small + 0.5, (small, big)
    assert text.endswith("Mary lives in Paris.") and text.count("x") == 20_000


def test_a_pdf_that_reads_too_slowly_is_a_read_error(tmp_path, monkeypatch):
    import hybrid_ie.readers.pdf as pdf_reader

    monkeypatch.setattr(pdf_reader, "READ_TIME_LIMIT_S", -1.0)
    with pytest.raises(ReadError, match=r"reading took over -1 s \(stopped at page 1\)"):
        read_file(write_pdf(tmp_path / "slow.pdf", [PAGE_1, PAGE_2]))


def test_html_encoding_from_the_meta_tag(tmp_path):
    path = tmp_path / "latin.html"
    path.write_bytes('<html><head><meta charset="iso-8859-1"></head><body><p>Café in Zürich.</p></body></html>'.encode("latin-1"))
    assert read_file(path).text == "Café in Zürich."


def test_docx_paragraphs_and_tables_in_order(tmp_path):
    path = write_docx(tmp_path / "letter.docx", ["Dear Ann", "Tim Cook works for Apple in Cupertino."],
                      table=[["Name", "City"], ["Ann Smith", "Paris"]], title="Letter")  # fmt: skip
    result = read_file(path)
    assert result.text == "Dear Ann\n\nTim Cook works for Apple in Cupertino.\n\nName\nCity\nAnn Smith\nParis\n\nThe end."
    assert result.meta["reader"] == "hybrid_ie.readers.docx"
    assert [result.text[s:e] for s, e in result.meta["cells"]] == ["Name", "City", "Ann Smith", "Paris"]
    assert result.meta["title"] == "Letter" and result.meta["extractor"].startswith("python-docx ")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"PK\x03\x04 truncated zip", r"corrupt or not a DOCX file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, r"password-protected document or a legacy \.doc"),
    ],
)
def test_unreadable_docx_raise_a_read_error(tmp_path, data, message):
    path = tmp_path / "bad.docx"
    path.write_bytes(data)
    with pytest.raises(ReadError, match=message):
        read_file(path)


def test_unsupported_types_and_missing_files(tmp_path):
    path = tmp_path / "notes.odt"
    path.write_bytes(b"x")
    with pytest.raises(ReadError, match=r"notes\.odt: unsupported file type '\.odt'; readers exist for"):
        read_file(path)
    with pytest.raises(ReadError, match="cannot read"):
        read_file(tmp_path / "absent.pdf")
    assert format_of("A.PDF") == "pdf" and format_of("a.htm") == "html" and format_of("a.txt") is None


def test_a_missing_extra_is_one_line_naming_the_pip_command(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pypdf" else real(name, *a))
    with pytest.raises(MissingExtraError) as info:
        require(tmp_path / "report.pdf")
    message = str(info.value)
    assert isinstance(info.value, InputError) and not isinstance(info.value, ReadError)
    assert "pip install hybrid-ie[docs]" in message and "pypdf" in message and "\n" not in message
    require(tmp_path / "page.html")  # other formats are unaffected


def test_importing_the_package_loads_no_reader_library():
    code = ("import sys, hybrid_ie, hybrid_ie.readers, hybrid_ie.batch; "
            "print(sorted(m for m in ('pypdf', 'bs4', 'docx') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_join_parts_and_entity_pages():
    text, ranges = join_parts(["ab", "", "cd"])
    assert text == "ab\n\ncd" and ranges == [[0, 2], [2, 2], [4, 6]]

    doc = Document(id="d", text=text, entities=[make_entity(text, 4, 6, "x", id="T1")], meta={"source": {"pages": ranges}})
    assert entity_pages(doc) == {"T1": 3}
    assert entity_pages(Document(id="e", text="ab")) == {}
