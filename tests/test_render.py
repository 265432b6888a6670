"""HTML rendering: well-nested markup for nested and crossing spans, provenance, legend, and a
headless-chromium screenshot (skipped when chromium is not installed)."""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from hybrid_ie.document import Document, Relation, make_entity, write_jsonl
from hybrid_ie.render import render_file, render_html, render_text

TEXT = "The University of Texas at Austin hired Jane Doe in Austin ."


def sample_docs() -> list[Document]:
    def ent(s, e, label, i, source, score):
        return make_entity(TEXT, s, e, label, id=f"T{i}", score=score, source=source)

    uni = TEXT.index("University")
    austin1 = TEXT.index("Austin")
    jane = TEXT.index("Jane")
    austin2 = TEXT.rindex("Austin")
    entities = [
        ent(uni, austin1 + 6, "Org", 1, "both", 0.93),  # University of Texas at Austin
        ent(TEXT.index("Texas"), TEXT.index("Texas") + 5, "Loc", 2, "llm", None),  # nested inside
        ent(austin1, austin1 + 6, "Loc", 3, "encoder", 0.61),  # nested inside
        ent(jane, jane + 8, "Peop", 4, "encoder", 0.97),
        ent(austin2, austin2 + 6, "Loc", 5, "llm", 0.8),
    ]
    relations = [
        Relation(head="T4", tail="T1", label="Work_For", score=0.7, source="both"),
        Relation(head="T1", tail="T3", label="OrgBased_In", score=None, source="llm"),
    ]
    route = [{"start": 0, "end": len(TEXT), "escalated": True, "reasons": ["overlap"], "uncertainty": 0.9}]
    doc = Document(id="news-1", text=TEXT, entities=entities, relations=relations, meta={"route": route})
    failed = Document(id="news-2 <b>", text="Nothing <here> & there.", error="llm_failed: HTTP 500 after 3 retries")
    return [doc, failed]


class _Nesting(HTMLParser):
    """Checks that every tag closes in order (the markup is well nested)."""

    VOID = frozenset({"meta", "br", "img", "link", "input", "hr"})

    def __init__(self):
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def assert_well_nested(markup: str) -> None:
    parser = _Nesting()
    parser.feed(markup)
    assert parser.errors == [] and parser.stack == []


def visible_text(markup: str) -> str:
    without_badges = re.sub(r'<span class="lab">[^<]*</span>', "", markup)
    return re.sub(r"<[^>]+>", "", without_badges)


def test_nested_entities_are_nested_elements_and_text_is_unchanged():
    page = render_html(sample_docs())
    assert_well_nested(page)
    doc_html = page[page.index('<div class="text">') :]
    doc_html = doc_html[: doc_html.index("</div>")]


    assert html.unescape(visible_text(doc_html)).removeprefix('<div class="text">') == TEXT
    # "Texas" sits inside the Org span: the Org tag opens before it and closes after it.
    org_open = doc_html.index('data-ent="T1"')
    texas_open = doc_html.index('data-ent="T2"')
    assert org_open < texas_open


def test_crossing_spans_are_split_and_stay_well_nested():
    text = "abcdefghij"
    from hybrid_ie.render import _Span

    spans = [_Span(0, 6, '<span class="a">'), _Span(3, 9, '<span class="b">')]
    out = render_text(text, spans)
    assert_well_nested(out)
    assert re.sub(r"<[^>]+>", "", out) == text
    assert out.count('<span class="b">') == 2  # b closed at 6 and re-opened


def test_provenance_scores_legend_errors_and_escaping():
    page = render_html(sample_docs())
    assert 'class="ent src-both"' in page and 'class="ent src-llm"' in page and 'class="ent src-encoder"' in page
    assert "border-style: dashed" in page and "border-style: double" in page
    assert 'title="Org · score 0.93 · source: both · T1"' in page
    assert "score n/a · source: llm" in page
    assert "llm_failed: HTTP 500 after 3 retries" in page
    assert "news-2 &lt;b&gt;" in page and "Nothing &lt;here&gt; &amp; there." in page
    assert page.count('class="chunk-esc"') == 2  # one in the legend, one in the document
    assert "<tr data-args=\"T4 T1\">" in page
    for label in ("Org", "Loc", "Peop"):
        assert f'>{label}</span>' in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_render_file_limit(tmp_path):
    src = tmp_path / "out.jsonl"
    write_jsonl(sample_docs(), src)
    assert render_file(src, tmp_path / "one.html", limit=1) == 1
    assert "news-2" not in (tmp_path / "one.html").read_text(encoding="utf-8")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
def test_headless_chromium_screenshot(tmp_path, request):
    page = tmp_path / "view.html"
    page.write_text(render_html(sample_docs(), "render test"), encoding="utf-8")
    png = tmp_path / "view.png"
    profile = tempfile.mkdtemp(dir=tmp_path)
    cmd = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
        f"--screenshot={png}", "--window-size=1200,900", page.as_uri(),
    ]  # fmt: skip
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    keep = request.config.getoption("--basetemp", None)
    if keep:
        shutil.copy(png, Path(keep) / "render.png")
