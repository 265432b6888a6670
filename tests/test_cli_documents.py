"""`hybrid-ie extract` on document files (PDF, HTML, DOCX, folders of them) with the tiny random
encoder: the extracted text is stored, every span's offsets hold in it, the source and its pages
are kept, and each unreadable file becomes a failed document while the job goes on."""

from __future__ import annotations

import json

import pytest
from support.documents import write_docx, write_encrypted_pdf, write_pdf
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.batch import extract_inputs, run_job
from hybrid_ie.cli import app
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import collect_inputs
from hybrid_ie.readers import entity_pages

pytest.importorskip("pypdf")
pytest.importorskip("bs4")
pytest.importorskip("docx")

PAGE_1 = "Tim Cook, the chief executive of Apple, spoke in Cupertino.\nHe met Ann Smith of Acme Corp."
PAGE_2 = "Mary Jones lives in Paris. She works for the Red Cross in Geneva."
HTML = ("<html><head><title>News</title><style>p {}</style><script>tracker()</script></head><body>"
        "<nav><a href='/'>Home</a> <a href='/x'>Sports</a></nav><article><h1>Acme in Boston</h1>"
        "<p>John Smith works for Acme in Boston.</p><p>He lives in Cambridge.</p></article>"
        "<footer>Copyright Acme Media</footer></body></html>")  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_encoder(seed=0).save_pretrained(tmp_path_factory.mktemp("tiny") / "ckpt")


@pytest.fixture
def files(tmp_path):
    report = write_pdf(tmp_path / "report.pdf", [PAGE_1, PAGE_2])
    page = tmp_path / "page.html"
    page.write_text(HTML, encoding="utf-8")
    letter = write_docx(tmp_path / "letter.docx", ["Dear Ann", "Ann Smith moved from Paris to Berlin."])
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a-note.txt").write_text("Bob Brown visited London.", encoding="utf-8")
    write_pdf(folder / "b-scan.pdf", [None, None])
    write_encrypted_pdf(folder / "c-locked.pdf", [PAGE_2], user_password="secret")
    (folder / "d-corrupt.pdf").write_bytes(b"%PDF-1.4\n\x00\x01 not really")
    (folder / "e-broken.docx").write_bytes(b"PK\x03\x04 truncated")
    (folder / "ignored.md").write_text("not read", encoding="utf-8")
    odd = tmp_path / "table.xyz"
    odd.write_text("a,b", encoding="utf-8")
    return [report, page, letter, folder, odd]


def lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def spans_hold(doc: dict) -> bool:
    return all(doc["text"][e["start"] : e["end"]] == e["text"] for e in doc["entities"])


def test_extract_reads_pdf_html_docx_and_folders_and_keeps_going_past_bad_files(tmp_path, files, checkpoint):
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["extract", *map(str, files), "--mode", "encoder", "--model", str(checkpoint),
                                      "-o", str(out), "--no-progress", "--schema", "conll04"])  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = {d["id"]: d for d in lines(out)}
    assert list(docs) == ["report", "page", "letter", "a-note", "b-scan", "c-locked", "d-corrupt", "e-broken", "table"]

    report = docs["report"]
    assert report["text"] == PAGE_1 + "\n\n" + PAGE_2 and "error" not in report
    source = report["meta"]["source"]
    assert source["file"] == str(files[0]) and source["format"] == "pdf" and source["extractor"].startswith("pypdf")
    assert [report["text"][s:e] for s, e in source["pages"]] == [PAGE_1, PAGE_2]
    assert docs["page"]["text"] == "Acme in Boston\n\nJohn Smith works for Acme in Boston.\n\nHe lives in Cambridge."
    assert docs["page"]["meta"]["source"]["title"] == "News"
    assert docs["letter"]["text"] == "Dear Ann\n\nAnn Smith moved from Paris to Berlin.\n\nThe end."
    assert docs["a-note"]["text"] == "Bob Brown visited London."
    assert docs["a-note"]["meta"]["source"]["reader"] == "utf-8 text"
    assert {docs[k]["meta"]["source"]["reader"] for k in ("report", "page", "letter")} == {
        "hybrid_ie.readers.pdf", "hybrid_ie.readers.html", "hybrid_ie.readers.docx"}
    assert sum(len(d["entities"]) for d in docs.values()) > 0  # the random encoder does find spans
    assert all(spans_hold(d) for d in docs.values())
    for doc in docs.values():  # every span and every page range can be checked against the stored text
        Document.model_validate(doc)

    errors = {k: d.get("error", "") for k, d in docs.items()}
    assert "no text layer" in errors["b-scan"] and "needs a password" in errors["c-locked"]
    assert "corrupt or unreadable PDF" in errors["d-corrupt"] and "not a DOCX file" in errors["e-broken"]
    assert "unsupported file type '.xyz'" in errors["table"]
    assert all(errors[k].startswith("read_failed: ") for k in ("b-scan", "c-locked", "d-corrupt", "e-broken", "table"))
    assert docs["c-locked"]["text"] == "" and docs["c-locked"]["meta"]["source"]["format"] == "pdf"
    assert "c-locked.pdf: not read (encrypted PDF" in result.output

    summary = json.loads((tmp_path / "out.summary.json").read_text())
    assert summary["documents"] == 9 and summary["failures"] == 5

    again = CliRunner().invoke(app, ["extract", *map(str, files), "--mode", "encoder", "--model", str(checkpoint),
                                     "-o", str(out), "--no-progress", "--resume"])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert json.loads((tmp_path / "out.summary.json").read_text())["skipped_as_done"] == 9
    assert len(lines(out)) == 9


def test_the_python_api_reads_files_and_maps_entities_to_pages(tmp_path, files, checkpoint):
    from hybrid_ie.pipeline import Extractor

    texts, warnings = collect_inputs(files[:1])
    assert warnings == []
    extractor = Extractor("conll04", encoder=str(checkpoint), mode="encoder")
    (doc,) = list(extract_inputs(texts, extractor))
    assert texts[0].text == "" and texts[0].path == files[0]  # listed now, read when its batch is due
    assert doc.meta["source"]["pages"] and doc.text == texts[0].loaded().text
    pages = entity_pages(doc)
    boundary = len(PAGE_1)
    assert pages == {e.id: 1 if e.start < boundary else 2 for e in doc.entities}


class RouteStub:
    """An extractor that answers like the hybrid pipeline: one route entry per sentence."""

    def process_batch(self, items, state):
        from hybrid_ie.pipeline import chunk_text

        docs = []
        for item in items:
            route = [{"start": c.start, "end": c.end, "escalated": False, "reasons": []} for c in chunk_text(item["text"])]
            docs.append(Document(id=item["id"], text=item["text"], meta={"route": route}))
        return docs


def test_route_entries_name_the_page_of_their_chunk(tmp_path, files):
    texts, _ = collect_inputs(files[:1])
    out = tmp_path / "routes.jsonl"
    run_job(texts, out, RouteStub())
    (doc,) = lines(out)
    pages = [(doc["text"][r["start"] : r["end"]][:10], r["page"]) for r in doc["meta"]["route"]]
    assert pages == [("Tim Cook, ", 1), ("He met Ann", 1), ("She works ", 2)]
    run_on = doc["meta"]["route"][1]  # "Corp." reads as an abbreviation: the sentence runs over the break
    assert run_on["page_end"] == 2 and "page_end" not in doc["meta"]["route"][0]


def test_a_missing_extra_fails_the_job_before_it_starts_in_one_line(tmp_path, files, monkeypatch, checkpoint):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "docx" else real(name, *a))
    with pytest.raises(InputError, match=r"needs python-docx, part of the docs extra: pip install hybrid-ie\[docs\]"):
        collect_inputs(files)
    out = tmp_path / "o.jsonl"
    result = CliRunner().invoke(app, ["extract", str(files[2]), "--mode", "encoder", "--model", str(checkpoint),
                                      "-o", str(out), "--no-progress"])  # fmt: skip
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert "pip install hybrid-ie[docs]" in result.output and not out.exists()
