"""Documents -> one self-contained HTML page (inline CSS and a few lines of inline JS, no network).

- Entities are highlighted in their label's colour (legend at the top) with the label as a small
  tag after the text; nested entities sit inside their parent, each with its own border, so both
  stay visible. Spans that cross each other are split and continue after the break.
- Provenance is the border style: solid = encoder, dashed = LLM, double = both (gold: dotted);
  the tooltip gives label, score, source and id.
- Chunks the router sent to the LLM are underlined by a thin bar, their tooltip gives the reasons.
- Relations are listed under each document (head, label, tail, score, source); hovering a row
  outlines its two arguments in the text.
- A document with an ``error`` shows it in a red box.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hybrid_ie.document import Document

PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1",
    "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#bab0ac",
)  # fmt: skip
BORDERS = {"encoder": "solid", "llm": "dashed", "both": "double", "gold": "dotted"}

CSS = "".join(f".ent.src-{src} {{ border-style: {style}; }}\n" for src, style in BORDERS.items()) + """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; }
.summary { color: #555; margin-bottom: 12px; }
.legend { display: flex; flex-wrap: wrap; gap: 8px; margin-bottom: 18px; align-items: center; }
.legend .ent { line-height: 1.6; }
.doc { border-top: 1px solid #ddd; padding: 10px 0 14px; }
.doc h2 { font-size: 14px; color: #666; margin: 0 0 6px; font-weight: 600; }
.text { font-size: 16px; line-height: 2.6; white-space: pre-wrap; }
.ent { background: color-mix(in srgb, var(--c) 22%, white); border: 2px solid var(--c);
       border-radius: 4px; padding: 1px 2px; box-decoration-break: clone;
       -webkit-box-decoration-break: clone; }
.ent .ent { background: color-mix(in srgb, var(--c) 30%, white); padding: 0 1px; }
.ent.src-both { border-width: 3px; }
.ent.hl { outline: 3px solid #222; outline-offset: 1px; }
.lab { font-size: 10px; font-weight: 700; color: var(--c); vertical-align: super;
       margin-left: 2px; letter-spacing: 0.02em; }
.chunk-esc { border-bottom: 3px solid #c0392b; }
.error { background: #fdecea; border: 1px solid #e15759; color: #a12622; padding: 6px 8px;
         border-radius: 4px; margin: 6px 0; font-size: 13px; }
table.rels { border-collapse: collapse; margin-top: 6px; font-size: 13px; }
table.rels td, table.rels th { padding: 2px 10px 2px 0; text-align: left; }
table.rels th { color: #777; font-weight: 600; }
table.rels tr:hover td { background: #f4f4f4; }
.rel { font-weight: 700; }
.muted { color: #888; }
"""

JS = """
document.querySelectorAll('tr[data-args]').forEach(function (row) {
  var ids = row.getAttribute('data-args').split(' ');
  function mark(on) {
    ids.forEach(function (id) {
      row.closest('.doc').querySelectorAll('[data-ent="' + id + '"]').forEach(function (el) {
        el.classList.toggle('hl', on);
      });
    });
  }
  row.addEventListener('mouseenter', function () { mark(true); });
  row.addEventListener('mouseleave', function () { mark(false); });
});
"""


@dataclass
class _Span:
    start: int
    end: int
    open_tag: str
    badge: str = ""
    order: int = 0  # among equal spans: lower opens first (outer)


def label_colours(docs: Iterable[Document]) -> dict[str, str]:
    """A colour per entity label, stable for a given set of labels (sorted order)."""
    labels = sorted({e.label for d in docs for e in d.entities})
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(labels)}


def _fmt_score(score: float | None) -> str:
    return "n/a" if score is None else f"{score:.2f}"


def _entity_span(ent, colour: str) -> _Span:
    tip = f"{ent.label} · score {_fmt_score(ent.score)} · source: {ent.source} · {ent.id}"
    tag = (
        f'<span class="ent src-{ent.source}" style="--c:{colour}" data-ent="{html.escape(ent.id)}" '
        f'title="{html.escape(tip)}">'
    )
    badge = f'<span class="lab">{html.escape(ent.label)}</span>'
    return _Span(ent.start, ent.end, tag, badge, order=1)


def _chunk_spans(doc: Document) -> list[_Span]:
    spans = []
    routes = doc.meta.get("route")
    for route in routes if isinstance(routes, list) else []:
        if not isinstance(route, dict) or not route.get("escalated"):
            continue
        start, end = route.get("start"), route.get("end")
        if not (type(start) is int and type(end) is int and 0 <= start <= end <= len(doc.text)):
            continue  # a malformed entry (hand-edited file) draws no bar
        reasons = route.get("reasons")
        reasons = [str(r) for r in reasons] if isinstance(reasons, list) else []
        tip = "sent to the LLM: " + ", ".join(reasons)
        tag = f'<span class="chunk-esc" title="{html.escape(tip)}">'
        spans.append(_Span(start, end, tag, order=0))
    return spans


def render_text(text: str, spans: Sequence[_Span]) -> str:
    """HTML of `text` with `spans` as nested elements; a span crossing an open one is closed
    and re-opened around the break so the markup stays well nested."""
    bounds = sorted({0, len(text), *(s.start for s in spans), *(s.end for s in spans)})
    starting: dict[int, list[_Span]] = {}
    for s in spans:
        starting.setdefault(s.start, []).append(s)
    out: list[str] = []
    stack: list[_Span] = []
    pos = 0
    for p in bounds:
        out.append(html.escape(text[pos:p]))
        pos = p
        if any(s.end == p for s in stack):
            reopen = []
            while any(s.end == p for s in stack):
                top = stack.pop()
                out.append((top.badge if top.end == p else "") + "</span>")
                if top.end != p:
                    reopen.append(top)
            for s in reversed(reopen):
                out.append(s.open_tag)
                stack.append(s)
        for s in sorted(starting.get(p, []), key=lambda s: (-s.end, s.order)):
            if s.end > s.start:
                out.append(s.open_tag)
                stack.append(s)
    out.append(html.escape(text[pos:]))
    return "".join(out)


def _relations_table(doc: Document, colours: dict[str, str]) -> str:
    if not doc.relations:
        return '<div class="muted">no relations</div>'
    ents = doc.entity_map()
    rows = ["<tr><th>head</th><th>relation</th><th>tail</th><th>score</th><th>source</th></tr>"]
    for rel in doc.relations:
        head, tail = ents[rel.head], ents[rel.tail]

        def arg(ent) -> str:
            colour = colours.get(ent.label, "#999")
            return (
                f'<span class="ent src-{ent.source}" style="--c:{colour}">{html.escape(ent.text)}'
                f'<span class="lab">{html.escape(ent.label)}</span></span>'
            )

        rows.append(
            f'<tr data-args="{html.escape(head.id)} {html.escape(tail.id)}"><td>{arg(head)}</td>'
            f'<td class="rel">{html.escape(rel.label)}</td><td>{arg(tail)}</td>'
            f"<td>{_fmt_score(rel.score)}</td><td>{html.escape(rel.source)}</td></tr>"
        )
    return '<table class="rels">' + "".join(rows) + "</table>"


def render_document(doc: Document, colours: dict[str, str]) -> str:
    spans = _chunk_spans(doc) + [_entity_span(e, colours.get(e.label, "#999")) for e in doc.entities]
    parts = [f'<section class="doc"><h2>{html.escape(doc.id)}</h2>']
    if doc.error:
        parts.append(f'<div class="error">error: {html.escape(doc.error)}</div>')
    parts.append(f'<div class="text">{render_text(doc.text, spans)}</div>')
    parts.append(_relations_table(doc, colours))
    parts.append("</section>")
    return "".join(parts)


def _legend(colours: dict[str, str]) -> str:
    items = [
        f'<span class="ent" style="--c:{c}">{html.escape(label)}</span>' for label, c in colours.items()
    ]
    provenance = [
        f'<span class="ent src-{src}" style="--c:#666" title="{src}">{src}</span>'
        for src in ("encoder", "llm", "both")
    ]
    return (
        '<div class="legend"><strong>labels</strong> ' + " ".join(items)
        + ' &nbsp; <strong>source</strong> ' + " ".join(provenance)
        + ' &nbsp; <span class="chunk-esc">sent to the LLM</span></div>'
    )  # fmt: skip


def render_html(docs: Sequence[Document], title: str = "hybrid-ie") -> str:
    """The whole page for `docs`."""
    colours = label_colours(docs)
    n_ent = sum(len(d.entities) for d in docs)
    n_rel = sum(len(d.relations) for d in docs)
    n_err = sum(1 for d in docs if d.error)
    summary = f"{len(docs)} documents · {n_ent} entities · {n_rel} relations" + (
        f" · {n_err} with errors" if n_err else ""
    )
    body = "".join(render_document(d, colours) for d in docs)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><div class=\"summary\">{summary}</div>{_legend(colours)}"
        f"{body}<script>{JS}</script></body></html>\n"
    )


def render_file(source: str | Path, output: str | Path, *, limit: int | None = None, title: str | None = None) -> int:
    """Render a JSONL of Documents to an HTML file; returns the number of documents rendered."""
    from hybrid_ie.document import read_jsonl

    docs = []
    for doc in read_jsonl(source):
        if limit is not None and len(docs) >= limit:
            break
        docs.append(doc)
    Path(output).write_text(render_html(docs, title or Path(source).name), encoding="utf-8")
    return len(docs)


__all__ = ["BORDERS", "PALETTE", "label_colours", "render_document", "render_file", "render_html", "render_text"]
