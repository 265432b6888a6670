"""HTML -> its main text, in time linear in the page's size.

The page is decoded as BeautifulSoup's `UnicodeDammit` decodes it (BOM, ``<meta charset>``, then
a guess; the `docs` extra), then parsed once with Python's own `html.parser` into a light tree
(an end tag closes the nearest open element of its name, an unmatched one is ignored; every step
is amortised constant time, so 20,000 nested or sibling elements cost what 20,000 words do).

Boilerplate goes first: scripts, styles, templates, forms, embedded media, and the page furniture
of `<nav>`, `<aside>`, `<header>` / `<footer>` outside the article, ARIA landmarks of the same
kinds (navigation, banner, contentinfo, complementary, search), hidden elements (the ``hidden``
attribute, ``aria-hidden="true"``, an inline style with ``display: none`` or
``visibility: hidden``), and elements whose class or id names navigation, menus, sidebars,
cookie banners, share bars and the like (only when they hold less than half of the page's text,
so a wrapper named "with-sidebar" never takes the article with it). The text is read from
`<main>`, else the longest `<article>`, else `[role=main]`, else `<body>`. Block elements become
paragraphs (separated by a blank line), `<br>` and list items become lines, and so does every
table cell (a table reads one cell per line, row after row; `meta["cells"]` holds each cell's
[start, end) range, where a batch job cuts chunks, so no entity spans two cells); runs of
whitespace collapse to one space.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from hybrid_ie.readers import ReadError, library_version

DROP_TAGS = {"script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
             "form", "button", "select", "input", "textarea", "nav", "aside", "dialog", "head"}  # fmt: skip
PAGE_FURNITURE = {"header", "footer"}  # dropped unless inside the article or main
DROP_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "menu", "menubar", "dialog"}
BOILERPLATE_WORDS = {
    "nav", "navbar", "navigation", "menu", "sidebar", "breadcrumb", "breadcrumbs", "footer", "header",
    "masthead", "cookie", "cookies", "consent", "gdpr", "banner", "share", "sharing", "social", "related",
    "advert", "advertisement", "ads", "ad", "promo", "subscribe", "newsletter", "popup", "modal", "skip",
    "comments", "toolbar", "pagination", "signup", "login",
}  # fmt: skip
BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dt",
    "dd", "table", "thead", "tbody", "tfoot", "blockquote", "pre", "figure", "figcaption", "address",
    "header", "footer", "hr", "caption", "details", "summary", "center",
}  # fmt: skip
LINE_TAGS = {"li", "tr", "br"}
CELL_TAGS = {"td", "th"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
             "track", "wbr"}  # fmt: skip
HIDDEN_STYLE_RE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.IGNORECASE)
PARA, LINE = "\ue000", "\ue001"  # private-use markers, split on when the text is assembled
CELL_OPEN, CELL_CLOSE = "\ue002", "\ue003"  # around a table cell's text: `meta["cells"]`
CELL_MARK_RE = re.compile(f"\\s*([{CELL_OPEN}{CELL_CLOSE}])\\s*")
SPACE_RE = re.compile(r"\s+")
WORD_SPLIT_RE = re.compile(r"[-_\s]+")


class Node:
    __slots__ = ("attrs", "children", "drop", "name", "parent", "size")

    def __init__(self, name: str, attrs: dict[str, str], parent: Node | None):
        self.name, self.attrs, self.parent = name, attrs, parent
        self.children: list[Node | str] = []
        self.size = 0  # characters of text below, once measured
        self.drop = False


class _TreeBuilder(HTMLParser):
    """One pass over the page into `Node`s; comments, declarations and processing instructions
    are skipped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.stack = [self.root]
        self.open: dict[str, int] = {}  # open elements by name, so an unmatched end tag costs O(1)
        self.title: list[str] | None = None
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs}, self.stack[-1])
        self.stack[-1].children.append(node)
        if tag == "title" and self.title is None:
            self.title, self.in_title = [], True
        if tag not in VOID_TAGS:
            self.stack.append(node)
            self.open[tag] = self.open.get(tag, 0) + 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}, self.stack[-1]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if not self.open.get(tag):
            return
        while True:  # each element is popped once: linear over the whole page
            node = self.stack.pop()
            self.open[node.name] -= 1
            if node.name == tag:
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)
        if self.in_title and self.title is not None:
            self.title.append(data)


def _walk(root: Node):
    """Every element below `root` in document order (iterative: no recursion limit)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in reversed(node.children) if isinstance(child, Node))


def _measure(root: Node) -> None:
    """Set `size` (characters of text, dropped subtrees excluded) on every element."""
    for node in reversed(list(_walk(root))):  # children before their parents
        node.size = 0 if node.drop else sum(len(c) if isinstance(c, str) else c.size for c in node.children)


def _hidden(node: Node) -> bool:
    attrs = node.attrs
    return ("hidden" in attrs or attrs.get("aria-hidden", "").lower() == "true"
            or bool(HIDDEN_STYLE_RE.search(attrs.get("style", ""))))  # fmt: skip


def _words(node: Node) -> set[str]:
    names = f"{node.attrs.get('class', '')} {node.attrs.get('id', '')}"
    return {w.lower() for w in WORD_SPLIT_RE.split(names) if w}


def _root(document: Node) -> Node:
    nodes = list(_walk(document))
    main = next((n for n in nodes if n.name == "main" and not n.drop), None)
    if main is not None:
        return main
    articles = [n for n in nodes if n.name == "article" and not n.drop]
    if articles:
        return max(articles, key=lambda a: a.size)  # the first of the longest, as max() keeps it
    role_main = next((n for n in nodes if n.attrs.get("role") == "main" and not n.drop), None)
    body = next((n for n in nodes if n.name == "body"), None)
    return role_main or body or document


def _strip_boilerplate(root: Node) -> None:
    total = root.size
    stack: list[tuple[Node, bool]] = [(root, False)]  # (element, inside an article or main)
    while stack:
        node, inside = stack.pop()
        if node.drop:
            continue
        if node is not root:
            furniture = node.name in PAGE_FURNITURE and not inside
            if furniture or (node.attrs.get("role") or "").lower() in DROP_ROLES or (
                _words(node) & BOILERPLATE_WORDS and node.size * 2 < total
            ):
                node.drop = True
                continue
        inside = inside or node.name in ("article", "main")
        stack.extend((c, inside) for c in reversed(node.children) if isinstance(c, Node))


def _marked_text(root: Node) -> str:
    """The text below `root` with paragraph and line markers, dropped elements left out."""
    out: list[str] = []
    stack: list[Node | str] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        if item.drop:
            continue
        marker = PARA if item.name in BLOCK_TAGS else LINE if item.name in LINE_TAGS else ""
        if item.name in CELL_TAGS:
            out.append(LINE + CELL_OPEN)
            stack.append(CELL_CLOSE + LINE)
        else:
            out.append(marker)
            stack.append(marker)
        stack.extend(reversed(item.children))
    return "".join(out)


def _assemble(raw: str) -> tuple[str, list[list[int]]]:
    """The text (paragraphs, lines, collapsed spaces) and the [start, end) range of each table
    cell in it."""
    paragraphs, pending = [], ""  # cell markers of lines without text go onto the next line
    for para in raw.split(PARA):
        lines = []
        for line in para.split(LINE):
            line = CELL_MARK_RE.sub(r"\1", SPACE_RE.sub(" ", line)).strip()
            if not line.strip(CELL_OPEN + CELL_CLOSE):
                pending += line
                continue
            lines.append(pending + line)
            pending = ""
        if lines:
            paragraphs.append("\n".join(lines))
    marked = "\n\n".join(paragraphs) + pending
    text, cells, opened = [], [], []
    pos = 0
    for piece in re.split(f"([{CELL_OPEN}{CELL_CLOSE}])", marked):
        if piece == CELL_OPEN:
            opened.append(pos)
        elif piece == CELL_CLOSE:
            start = opened.pop() if opened else pos
            if pos > start:
                cells.append([start, pos])
        else:
            text.append(piece)
            pos += len(piece)
    return "".join(text), sorted(cells)


def html_text(data: bytes | str) -> tuple[str, str | None, list[list[int]]]:
    """(main text, title, table cell ranges) of an HTML page."""
    if isinstance(data, bytes):
        from bs4.dammit import UnicodeDammit

        data = UnicodeDammit(data, is_html=True).unicode_markup or ""
    builder = _TreeBuilder()
    builder.feed(data)
    builder.close()
    title = SPACE_RE.sub(" ", "".join(builder.title or [])).strip()
    for node in _walk(builder.root):
        if node.name in DROP_TAGS or _hidden(node):
            node.drop = True
    _measure(builder.root)
    root = _root(builder.root)
    _strip_boilerplate(root)
    text, cells = _assemble(_marked_text(root))
    return text, title or None, cells


def read(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    if b"\x00" in data[:1024] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError(f"{where}: not an HTML file (binary content)")
    try:
        text, title, cells = html_text(data)
    except Exception as exc:  # the parser's failure becomes this file's error
        raise ReadError(f"{where}: cannot parse HTML ({type(exc).__name__}: {exc})") from exc
    meta: dict[str, Any] = {"extractor": f"{library_version('beautifulsoup4')} (UnicodeDammit) + html.parser"}
    if title:
        meta["title"] = title
    if cells:
        meta["cells"] = cells
    return text, meta
