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
from hybrid_ie.render import BORDERS, label_colours, render_file, render_html, render_text

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


# -- a real browser -------------------------------------------------------------------------------
# CI installs chromium from the Debian packages (.ci/install-chromium); elsewhere this skips.

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
WINDOW = (1200, 900)
MULTI = (
    "Steve Jobs founded Apple in Cupertino. The board met in Paris last year. "
    "Later, Tim Cook, who works for Apple, moved to Austin."
)

# Runs after the page's own script: hovers the first relation row (the page's handler outlines its
# two arguments) and writes what the layout engine made of each entity, badge and chunk bar.
PROBE = """<script>
(function () {
  document.querySelector('tr[data-args]').dispatchEvent(new MouseEvent('mouseenter'));
  document.querySelectorAll('.ent[data-ent], .lab, .chunk-esc').forEach(function (el) {
    var r = el.getBoundingClientRect(), cs = getComputedStyle(el);
    el.setAttribute('data-box', [r.left, r.top, r.width, r.height].map(Math.round).join(','));
    el.setAttribute('data-look', [cs.borderTopStyle, cs.borderBottomStyle, cs.visibility, cs.display].join(' '));
  });
  document.body.setAttribute('data-probe', 'done');
})();
</script>"""


def multi_chunk_document() -> Document:
    """Three sentences (chunks), the second sent to the LLM; entities and relations in two chunks."""
    from hybrid_ie.pipeline import chunk_text

    def ent(i, piece, label, source, score, occurrence=0):
        start = MULTI.index(piece) if occurrence == 0 else MULTI.rindex(piece)
        return make_entity(MULTI, start, start + len(piece), label, id=f"T{i}", score=score, source=source)

    entities = [
        ent(1, "Steve Jobs", "Peop", "encoder", 0.97), ent(2, "Apple", "Org", "encoder", 0.91),
        ent(3, "Cupertino", "Loc", "both", 0.88), ent(4, "Paris", "Loc", "llm", None),
        ent(5, "Tim Cook", "Peop", "encoder", 0.95), ent(6, "Apple", "Org", "both", 0.76, occurrence=1),
        ent(7, "Austin", "Loc", "llm", 0.64),
    ]  # fmt: skip
    relations = [
        Relation(head="T1", tail="T2", label="Work_For", score=0.83, source="encoder"),
        Relation(head="T2", tail="T3", label="OrgBased_In", score=0.58, source="both"),
        Relation(head="T5", tail="T6", label="Work_For", score=0.71, source="llm"),
        Relation(head="T5", tail="T7", label="Live_In", score=None, source="llm"),
    ]
    chunks = chunk_text(MULTI)
    assert len(chunks) == 3
    route = [{"start": c.start, "end": c.end, "escalated": c.index == 1, "reasons": ["entity_band"] * (c.index == 1),
              "uncertainty": 0.5} for c in chunks]  # fmt: skip
    return Document(id="multi", text=MULTI, entities=entities, relations=relations, meta={"route": route})


class _Dom(HTMLParser):
    """Every element of a page with its attributes, its text (descendants included), its parent
    and the index of the document section it sits in."""

    VOID = _Nesting.VOID

    def __init__(self, markup: str):
        super().__init__()
        self.nodes: list[dict] = []
        self.stack: list[dict] = []
        self.section = -1
        self.feed(markup)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section":
            self.section += 1
        node = {"tag": tag, "attrs": attrs, "classes": (attrs.get("class") or "").split(), "text": "",
                "section": self.section, "parent": self.stack[-1] if self.stack else None}  # fmt: skip
        self.nodes.append(node)
        if tag not in self.VOID:
            self.stack.append(node)

    def handle_endtag(self, tag):
        if self.stack and self.stack[-1]["tag"] == tag:
            self.stack.pop()

    def handle_data(self, data):
        for node in self.stack:
            node["text"] += data

    def find(self, cls: str, section: int | None = None) -> list[dict]:
        return [n for n in self.nodes if cls in n["classes"] and (section is None or n["section"] == section)]


def _box(node: dict) -> tuple[int, ...]:
    return tuple(int(v) for v in node["attrs"]["data-box"].split(","))


@pytest.fixture(scope="module")
def browser_page(tmp_path_factory):
    """The page for the multi-chunk document and the sample ones, opened in headless chromium:
    (documents, the DOM after scripts ran, the screenshot PNG path)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    tmp = tmp_path_factory.mktemp("browser")
    docs = [multi_chunk_document(), *sample_docs()]
    markup = render_html(docs, "browser test")
    page, probed = tmp / "view.html", tmp / "probed.html"
    page.write_text(markup, encoding="utf-8")
    probed.write_text(markup.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    base = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--window-size={WINDOW[0]},{WINDOW[1]}",
    ]  # fmt: skip
    dom = subprocess.run(
        [*base, f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}", "--dump-dom", probed.as_uri()],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    png = tmp / "view.png"
    subprocess.run(
        [*base, f"--user-data-dir={tempfile.mkdtemp(dir=tmp)}", f"--screenshot={png}", page.as_uri()],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return docs, dom, png


@needs_chromium
def test_browser_dom_shows_labels_scores_relations_and_chunks(browser_page):
    docs, dom_text, _ = browser_page
    dom = _Dom(dom_text)
    assert any(n["tag"] == "body" and n["attrs"].get("data-probe") == "done" for n in dom.nodes)  # scripts ran
    doc = docs[0]
    legend = " ".join(n["text"] for n in dom.find("legend"))
    assert all(label in legend for label in ("Peop", "Org", "Loc"))
    # every entity: one element, its text then its label badge, score and source in the tooltip,
    # laid out on the page (non-empty box, inside the window) with its provenance border
    ents = {n["attrs"]["data-ent"]: n for n in dom.find("ent", section=0) if "data-ent" in n["attrs"]}
    assert sorted(ents) == sorted(e.id for e in doc.entities)
    for ent in doc.entities:
        node = ents[ent.id]
        score = "n/a" if ent.score is None else f"{ent.score:.2f}"
        assert node["attrs"]["title"] == f"{ent.label} · score {score} · source: {ent.source} · {ent.id}"
        assert node["text"] == ent.text + ent.label
        left, _top, width, height = _box(node)
        assert width > 0 and height > 0 and 0 <= left and left + width <= WINDOW[0]
        style, _, visibility, display = node["attrs"]["data-look"].split()
        assert (style, visibility, display) == (BORDERS[ent.source], "visible", "inline")
    badges = [n for n in dom.find("lab", section=0) if "data-ent" in n["parent"]["attrs"]]
    assert [n["text"] for n in badges] == [e.label for e in doc.entities]
    assert all(_box(n)[2] > 0 for n in badges)
    # the relations as a person reads them, in order; hovering the first outlined its arguments
    rows = [n for n in dom.nodes if n["tag"] == "tr" and "data-args" in n["attrs"] and n["section"] == 0]
    by_id = doc.entity_map()
    want = []
    for rel in doc.relations:
        head, tail = by_id[rel.head], by_id[rel.tail]
        score = "n/a" if rel.score is None else f"{rel.score:.2f}"
        want.append(f"{head.text}{head.label}{rel.label}{tail.text}{tail.label}{score}{rel.source}")
    assert [r["text"] for r in rows] == want
    outlined = sorted(i for i, n in ents.items() if "hl" in n["classes"])
    assert outlined == sorted([doc.relations[0].head, doc.relations[0].tail])
    # only the second chunk carries the "sent to the LLM" bar, over exactly its text
    bars = [n for n in dom.find("chunk-esc", section=0)]
    route = doc.meta["route"][1]
    assert len(bars) == 1 and bars[0]["attrs"]["title"] == "sent to the LLM: entity_band"
    seen = MULTI[: route["end"]]  # the chunk's text with each entity's badge after it
    for e in sorted(doc.entities, key=lambda e: -e.end):
        if route["start"] <= e.start < route["end"]:
            seen = seen[: e.end] + e.label + seen[e.end :]
    assert bars[0]["text"] == seen[route["start"] :]
    assert _box(bars[0])[2] > 0 and bars[0]["attrs"]["data-look"].split()[1] == "solid"
    # the other documents: the error box and the escaped id are on the page
    assert any("llm_failed: HTTP 500 after 3 retries" in n["text"] for n in dom.find("error"))
    assert any(n["tag"] == "h2" and n["text"] == "news-2 <b>" for n in dom.nodes)


@needs_chromium
def test_browser_screenshot_is_a_real_picture(browser_page, request):
    from PIL import Image

    docs, _, png = browser_page
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(png) as image:
        assert image.size == WINDOW
        pixels = image.convert("RGB")
    colours = pixels.getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    assert len(colours) > 50  # text, highlights, borders: not a blank or one-colour page
    white = sum(count for count, rgb in colours if min(rgb) >= 250)
    assert 0.02 < 1 - white / (WINDOW[0] * WINDOW[1]) < 0.6
    present = {rgb for _, rgb in colours}
    for label, colour in label_colours(docs).items():  # each label's solid border colour is drawn
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in present, f"{label} colour {colour} not in the screenshot"
    keep = request.config.getoption("--basetemp", None)
    if keep:
        shutil.copy(png, Path(keep) / "render.png")
