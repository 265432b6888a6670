"""Batch jobs in process: reading and checking inputs, torn-line repair, resume, summaries."""

from __future__ import annotations

import json
import os

import pytest
import torch
from support.tiny_encoder import tiny_encoder

from hybrid_ie.batch import finished_documents, repair_output, run_job, summary_path
from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import collect_inputs
from hybrid_ie.pipeline import Extractor


@pytest.fixture(scope="module")
def extractor():
    return Extractor("conll04", encoder=tiny_encoder(seed=0), mode="encoder")


def write(path, data: bytes | str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def test_txt_files_folders_and_jsonl_in_order(tmp_path):
    write(tmp_path / "docs" / "b.txt", "Bob left.")
    write(tmp_path / "docs" / "sub" / "a.txt", "\ufeffAnn came.")  # BOM dropped
    write(tmp_path / "docs" / "notes.md", "ignored")
    write(tmp_path / "one.txt", "")
    jsonl = write(tmp_path / "more.jsonl", '{"id": "j1", "text": "Joe."}\n\n{"text": "no id"}\n{"id": 7, "text": "x"}\n')
    texts, warnings = collect_inputs([tmp_path / "docs", tmp_path / "one.txt", jsonl])
    assert [(t.id, t.text) for t in texts] == [
        ("b", "Bob left."), ("a", "Ann came."), ("one", ""), ("j1", "Joe."), ("more-3", "no id"), ("7", "x"),
    ]  # fmt: skip
    assert warnings == []


def test_invalid_utf8_names_file_and_byte_or_is_replaced_with_a_warning(tmp_path):
    bad = write(tmp_path / "bad.txt", b"Caf\xc3\xa9 ok \xff\xfe end")
    with pytest.raises(InputError, match=r"bad\.txt: invalid UTF-8 at byte 9"):
        collect_inputs([bad])
    texts, warnings = collect_inputs([bad], on_bad_utf8="replace")
    assert texts[0].text == "Café ok \ufffd\ufffd end"
    assert warnings == [f"{bad}: invalid UTF-8 from byte 9 replaced with U+FFFD"]
    jsonl = write(tmp_path / "bad.jsonl", b'{"id": "1", "text": "fine"}\n{"id": "2", "text": "\xe9"}\n')
    # line 1 is 28 bytes with its newline; the bad byte follows 21 bytes of line 2: file byte 49
    with pytest.raises(InputError, match=r"bad\.jsonl: invalid UTF-8 at byte 49 \(line 2\)"):
        collect_inputs([jsonl])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", '{"id": "1", "text": "a"}\n{"id": "1", "text": "b"}\n', r"x\.jsonl:2: duplicate document id '1'"),
        ("x.jsonl", '{"id": "1", "text": "a"\n', r"x\.jsonl:1: malformed JSON"),
        ("x.jsonl", '{"id": "1", "body": "a"}\n', r'x\.jsonl:1: expected an object with a "text" string'),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path, name, content, message):
    with pytest.raises(InputError, match=message):
        collect_inputs([write(tmp_path / name, content)])


def test_missing_and_empty_inputs(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        collect_inputs([tmp_path / "absent.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"holds no \.txt, \.pdf, .* files"):
        collect_inputs([tmp_path / "empty"])
    with pytest.raises(InputError, match="on_bad_utf8"):
        collect_inputs([tmp_path], on_bad_utf8="ignore")


def test_repair_cuts_only_a_torn_last_line(tmp_path):
    out = write(tmp_path / "out.jsonl", '{"id": "a"}\n{"id": "b"}\n{"id": "c", "te')
    assert repair_output(out) == len('{"id": "c", "te')
    assert out.read_text() == '{"id": "a"}\n{"id": "b"}\n'
    assert repair_output(out) == 0
    assert [d["id"] for d in finished_documents(out)] == ["a", "b"]


def make_inputs(tmp_path, n: int):
    lines = [json.dumps({"id": f"d{i}", "text": f"Person {i} lives in City {i}. They work for Org {i}."}) for i in range(n)]
    texts, _ = collect_inputs([write(tmp_path / "in.jsonl", "\n".join(lines) + "\n")])
    return texts


def test_run_writes_every_document_and_a_summary(tmp_path, extractor):
    texts = make_inputs(tmp_path, 5)
    out = tmp_path / "out.jsonl"
    seen = []
    run_job(texts, out, extractor, batch_size=2, on_document=lambda doc, s: seen.append(doc.id))
    assert seen == [f"d{i}" for i in range(5)]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == seen
    data = json.loads(summary_path(out).read_text())
    assert data["documents"] == 5 and data["processed_this_run"] == 5 and data["failures"] == 0
    assert data["chunks"] == 10 and data["escalation_rate"] == 0.0 and data["llm_calls"] == 0
    assert summary_path(out).name == "out.summary.json"


def test_an_existing_output_needs_resume_or_overwrite(tmp_path, extractor):
    texts = make_inputs(tmp_path, 2)
    out = write(tmp_path / "out.jsonl", '{"id": "old"}\n{"id": "older"}\n')
    with pytest.raises(InputError, match="exists with 2 documents; --resume continues it, --overwrite replaces it"):
        run_job(texts, out, extractor)
    assert out.read_text() == '{"id": "old"}\n{"id": "older"}\n'
    summary = run_job(texts, out, extractor, overwrite=True)
    assert [d["id"] for d in finished_documents(out)] == ["d0", "d1"]
    assert summary.warnings == [f"{out}: overwrote 2 documents of an earlier run"]
    assert not (tmp_path / "out.jsonl.partial").exists() and not (tmp_path / "out.jsonl.lock").exists()


def test_resume_after_a_torn_write_loses_and_duplicates_nothing(tmp_path, extractor):
    texts = make_inputs(tmp_path, 6)
    full = tmp_path / "full.jsonl"
    run_job(texts, full, extractor, batch_size=4)
    reference = full.read_text(encoding="utf-8").splitlines()

    # A job killed after 3 documents, in the middle of writing the 4th.
    out = write(tmp_path / "out.jsonl", "\n".join(reference[:3]) + "\n" + reference[3][:25])
    summary = run_job(texts, out, extractor, resume=True, batch_size=4)
    assert summary.torn_bytes_removed == 25
    assert summary.skipped_as_done == 3 and summary.processed_this_run == 3 and summary.documents == 6
    assert out.read_text(encoding="utf-8").splitlines() == reference


def test_empty_texts_and_a_long_run_on_text(tmp_path):
    encoder = tiny_encoder(seed=0)
    with torch.no_grad():  # a trained model's scores are sparse; keep the tiny one sparse too
        encoder.model.entity_bias.fill_(-8.0)
    extractor = Extractor("conll04", encoder=encoder, mode="encoder")
    long_text = " ".join(["alpha", "Beta", "gamma", "Paris"] * 5_000)  # 20,000 words, no sentence end
    texts, _ = collect_inputs([write(tmp_path / "e.txt", ""), write(tmp_path / "w.txt", "   \n"),
                               write(tmp_path / "long.txt", long_text)])  # fmt: skip
    out = tmp_path / "out.jsonl"
    summary = run_job(texts, out, extractor)
    docs = {d["id"]: d for d in finished_documents(out)}
    assert docs["e"]["entities"] == [] and "error" not in docs["e"]
    assert docs["w"]["entities"] == [] and "error" not in docs["w"]
    assert docs["long"]["meta"]["pipeline"]["chunks"] == 50  # 400-word chunks
    assert summary.failures == 0


def test_an_unwritable_output_is_a_clear_error(tmp_path, extractor):
    texts = make_inputs(tmp_path, 1)
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(InputError, match=r"dir\.jsonl: is a folder; the output must be a regular file"):
        run_job(texts, tmp_path / "dir.jsonl", extractor)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        if os.access(tmp_path / "ro", os.W_OK):  # root writes anyway
            return
        with pytest.raises(InputError, match=r"cannot create the output lock"):
            run_job(texts, tmp_path / "ro" / "out.jsonl", extractor)
    finally:
        (tmp_path / "ro").chmod(0o700)
