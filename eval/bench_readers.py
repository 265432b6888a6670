"""Choose the document readers by measurement: PDF (pypdf vs pdfminer.six) and HTML (BeautifulSoup
with boilerplate removal vs trafilatura) on generated files whose true text is known.

    python eval/bench_readers.py [--sentences 240] [--files 5] [--json OUT]

PDFs are written with reportlab (wrapped paragraphs over several pages, a running header and a
page number on each page); HTML pages wrap the article in navigation, a header, a sidebar, a
cookie banner, a footer, scripts and styles, once with semantic tags (<nav>, <main>, <article>)
and once as plain <div>s with class names only. The sentences are conll04's (train, dev, test of
the data dir; a built-in paragraph when it is missing), repeated when more are asked for. Quality
is word-level against the true text: recall (the share of the article's words recovered, in order: difflib matching blocks),
leak (the share of boilerplate-only words that came out), and the share of sentences found intact
after whitespace normalisation. Needs the `docs` extra plus reportlab and trafilatura.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import re
import statistics
import sys
import time
from pathlib import Path

FALLBACK = [
    "Tim Cook, the chief executive of Apple, spoke in Cupertino on Tuesday.",
    "The Red Cross opened a new office in Nairobi, the capital of Kenya.",
    "Maria Gonzalez, who lives in Madrid, joined the World Health Organization in 2019.",
]
BOILERPLATE = [
    "Home Products Pricing Careers Contact Subscribe",
    "Zebrafoo Newsroom header banner",
    "Related stories quokkamenu sidebar trending",
    "We use cookies xylocookie accept all",
    "Copyright Footerland Incorporated privacy imprint",
]


def sentences(n: int) -> list[str]:
    from hybrid_ie.datasets import load_dataset
    from hybrid_ie.errors import InputError

    try:
        docs = [d for split in ("train", "dev", "test") for d in load_dataset("conll04", split)]
        out = [re.sub(r" ([,.;:!?')])", r"\1", d.text).replace("( ", "(") for d in docs]
    except InputError:  # no data dir: the fallback text
        out = FALLBACK
    return (out * (n // len(out) + 1))[:n]


def paragraphs(sents: list[str], per: int = 6) -> list[str]:
    return [" ".join(sents[i : i + per]) for i in range(0, len(sents), per)]


def make_pdf(paras: list[str]) -> bytes:
    from xml.sax.saxutils import escape

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate

    buf = io.BytesIO()
    style = getSampleStyleSheet()["BodyText"]

    def decorate(canvas, doc) -> None:
        canvas.setFont("Helvetica", 8)
        canvas.drawString(72, A4[1] - 40, "Quarterly report (running header)")
        canvas.drawString(A4[0] / 2, 30, str(doc.page))

    SimpleDocTemplate(buf, pagesize=A4).build(
        [Paragraph(escape(p), style) for p in paras], onFirstPage=decorate, onLaterPages=decorate
    )
    return buf.getvalue()


def make_html(paras: list[str], semantic: bool) -> str:
    from html import escape

    body = "".join(f"<p>{escape(p)}</p>\n" for p in paras)
    nav, head, side, cookie, foot = BOILERPLATE
    script = "<script>var quokkascript = 1; document.write('scriptword');</script>"
    style = "<style>.stylefoo { color: red }</style>"
    if semantic:
        page = (f"<header><h1>{head}</h1><nav><ul>" + "".join(f"<li><a href='#'>{w}</a></li>" for w in nav.split())
                + f"</ul></nav></header><main><article><h2>Annual report</h2>{body}</article>"
                f"<aside>{side}</aside></main><div class='cookie-banner'>{cookie}</div><footer>{foot}</footer>")  # fmt: skip
    else:
        page = (f"<div class='header'>{head}</div><div class='menu'>" + " | ".join(f"<a href='#'>{w}</a>" for w in nav.split())
                + f"</div><div class='content'><div class='post'>{body}</div></div><div class='sidebar'>{side}</div>"
                f"<div id='cookie-consent'>{cookie}</div><div class='footer'>{foot}</div>")  # fmt: skip
    return f"<!DOCTYPE html><html><head><title>Report</title>{style}{script}</head><body>{page}{script}</body></html>"


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def quality(truth: str, got: str, boiler: str) -> dict[str, float]:
    t, g = words(truth), words(got)
    matcher = difflib.SequenceMatcher(None, t, g, autojunk=False)
    recall = sum(b.size for b in matcher.get_matching_blocks()) / max(1, len(t))
    only_boiler = set(words(boiler)) - set(t)
    leak = len(only_boiler & set(g)) / max(1, len(only_boiler))
    flat = " ".join(got.split())
    sents = [s for s in re.split(r"(?<=[.!?]) ", truth) if s]
    intact = sum(1 for s in sents if " ".join(s.split()) in flat) / max(1, len(sents))
    return {"recall": recall, "leak": leak, "intact_sentences": intact}


def pdf_pypdf(data: bytes) -> str:
    from pypdf import PdfReader

    return "\n\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pdfminer(data: bytes) -> str:
    from pdfminer.high_level import extract_text

    return extract_text(io.BytesIO(data))


def html_bs4(data: str) -> str:
    from hybrid_ie.readers.html import html_text

    return html_text(data)[0]


def html_trafilatura(data: str) -> str:
    import trafilatura

    return trafilatura.extract(data, include_comments=False, include_tables=True) or ""


def measure(name, fn, cases) -> dict[str, float]:
    rows, times = [], []
    for data, truth, boiler in cases:
        fn(data)  # warm (imports, caches)
        start = time.perf_counter()
        got = fn(data)
        times.append(time.perf_counter() - start)
        rows.append(quality(truth, got, boiler))
    out = {k: round(statistics.mean(r[k] for r in rows), 4) for k in rows[0]}
    out["ms_per_file"] = round(1000 * statistics.mean(times), 1)
    print(f"{name:28s} " + "  ".join(f"{k}={v}" for k, v in out.items()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sentences", type=int, default=240)
    ap.add_argument("--files", type=int, default=5)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sents = sentences(args.sentences * args.files)
    chunks = [sents[i * args.sentences : (i + 1) * args.sentences] for i in range(args.files)]
    report: dict[str, dict] = {}
    pdf_cases = []
    for part in chunks:
        paras = paragraphs(part)
        pdf_cases.append((make_pdf(paras), "\n".join(paras), "Quarterly report (running header)"))
    from pypdf import PdfReader

    pages = statistics.mean(len(PdfReader(io.BytesIO(c[0])).pages) for c in pdf_cases)
    print(f"PDF: {len(pdf_cases)} files, {pages:.1f} pages each, {args.sentences} sentences each")
    report["pdf"] = {"pypdf": measure("pypdf", pdf_pypdf, pdf_cases),
                     "pdfminer.six": measure("pdfminer.six", pdf_pdfminer, pdf_cases)}  # fmt: skip
    for semantic in (True, False):
        kind = "semantic" if semantic else "div-soup"
        cases = [(make_html(paragraphs(p), semantic), "Annual report\n" * semantic + "\n".join(paragraphs(p)),
                  " ".join(BOILERPLATE) + " quokkascript scriptword stylefoo") for p in chunks]  # fmt: skip
        print(f"HTML ({kind}): {len(cases)} pages")
        report[f"html-{kind}"] = {
            "beautifulsoup4": measure("beautifulsoup4 (readers.html)", html_bs4, cases),
            "trafilatura": measure("trafilatura", html_trafilatura, cases),
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
