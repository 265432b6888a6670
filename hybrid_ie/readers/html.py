"""HTML -> its main text, with BeautifulSoup (the `docs` extra), using Python's own html.parser.

Boilerplate goes first: scripts, styles, templates, forms, embedded media, and the page furniture
of `<nav>`, `<aside>`, `<header>` / `<footer>` outside the article, ARIA landmarks of the same
kinds (navigation, banner, contentinfo, complementary, search), hidden elements, and elements
whose class or id names navigation, menus, sidebars, cookie banners, share bars and the like
(only when they hold less than half of the page's text, so a wrapper named "with-sidebar" never
takes the article with it). The text is read from `<main>`, else the longest `<article>`, else
`[role=main]`, else `<body>`. Block elements become paragraphs (separated by a blank line),
`<br>` and list items become lines, table cells are separated by a tab; runs of whitespace
collapse to one space.
"""

from __future__ import annotations

import re
from typing import Any

from hybrid_ie.readers import ReadError, library_version

DROP_TAGS = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed",
             "form", "button", "select", "input", "textarea", "nav", "aside", "dialog", "head")  # fmt: skip
PAGE_FURNITURE = ("header", "footer")  # dropped unless inside the article or main
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
PARA, LINE, CELL = "\ue000", "\ue001", "\ue002"  # private-use markers, split on after get_text
SPACE_RE = re.compile(r"\s+")
WORD_SPLIT_RE = re.compile(r"[-_\s]+")


def _words(tag: Any) -> set[str]:
    names = " ".join([*(tag.get("class") or []), tag.get("id") or ""])
    return {w.lower() for w in WORD_SPLIT_RE.split(names) if w}


def _root(soup: Any) -> Any:
    main = soup.find("main")
    if main is not None:
        return main
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text()))
    return soup.find(attrs={"role": "main"}) or soup.body or soup


def _strip_boilerplate(root: Any) -> None:
    for tag in root.find_all(DROP_TAGS):
        tag.decompose()
    total = len(root.get_text())
    for tag in list(root.find_all(True)):
        if tag.decomposed:
            continue
        if tag.name in PAGE_FURNITURE and tag.find_parent(("article", "main")) is None and tag is not root:
            tag.decompose()
            continue
        hidden = tag.has_attr("hidden") or tag.get("aria-hidden") == "true"
        if hidden or (tag.get("role") or "").lower() in DROP_ROLES:
            tag.decompose()
            continue
        if _words(tag) & BOILERPLATE_WORDS and len(tag.get_text()) * 2 < total:
            tag.decompose()


def _mark_blocks(root: Any) -> None:
    from bs4 import NavigableString

    for tag in root.find_all(True):
        if tag.name in BLOCK_TAGS:
            tag.insert_before(NavigableString(PARA))
            tag.append(NavigableString(PARA))
        elif tag.name in LINE_TAGS:
            tag.insert_before(NavigableString(LINE))
            tag.append(NavigableString(LINE))
        elif tag.name in CELL_TAGS:
            tag.append(NavigableString(CELL))


def _assemble(raw: str) -> str:
    paragraphs = []
    for para in raw.split(PARA):
        lines = []
        for line in para.split(LINE):
            cells = [SPACE_RE.sub(" ", cell).strip() for cell in line.split(CELL)]
            line = "\t".join(c for c in cells if c)
            if line:
                lines.append(line)
        if lines:
            paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def html_text(data: bytes | str) -> tuple[str, str | None]:
    """(main text, title) of an HTML page."""
    from bs4 import BeautifulSoup, Comment

    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    root = _root(soup)
    _strip_boilerplate(root)
    _mark_blocks(root)
    return _assemble(root.get_text()), title or None


def read(data: bytes, where: str) -> tuple[str, dict[str, Any]]:
    if b"\x00" in data[:1024] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ReadError(f"{where}: not an HTML file (binary content)")
    try:
        text, title = html_text(data)
    except Exception as exc:  # the parser's failure becomes this file's error
        raise ReadError(f"{where}: cannot parse HTML ({type(exc).__name__}: {exc})") from exc
    meta: dict[str, Any] = {"extractor": f"{library_version('beautifulsoup4')} (html.parser)"}
    if title:
        meta["title"] = title
    return text, meta
