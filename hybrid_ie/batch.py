"""Resumable batch jobs: input files -> an Extractor -> an output JSONL, one line per document.

Inputs (`collect_inputs`): ``.txt`` files (id = the file name without its suffix), document
files read by `hybrid_ie.readers` (``.pdf``, ``.html`` / ``.htm`` / ``.xhtml``, ``.docx``; same
ids), Parquet files with ``text`` and optional ``id`` columns (pyarrow: the ``ray`` extra),
folders (their files of those kinds, recursively, in path order) and JSONL files of
``{"id", "text"}`` objects (an object without ``id`` gets ``<file stem>-<line>``). Every input is
listed and checked before any extraction starts, so a bad input fails fast: unreadable files,
invalid UTF-8 (the file and the byte offset are named; ``on_bad_utf8="replace"`` replaces the
bytes with U+FFFD and warns instead), malformed JSONL lines, duplicate ids, a document format
whose library is missing (one line naming ``pip install hybrid-ie[docs]``). An empty text is
valid (empty result). Document files are read lazily, as their batch fills (`InputText.loaded`),
so one slow page never holds up the start of a job. A document file that cannot be turned into
text (corrupt, encrypted, a scanned PDF without a text layer, a file type no reader handles, a
file over `MAX_DOCUMENT_BYTES`) is not fatal: it becomes a failed document (``error`` =
``read_failed: <reason>``, empty text) and a warning in the job summary.

A document read from a file carries ``meta["source"]``: the file, its format, the extractor
(library and version) and, for PDFs, ``pages`` (each page's [start, end) range in the text);
each ``meta["route"]`` entry then also names the ``page`` its chunk starts on (and ``page_end``
when it runs on over a page break); `hybrid_ie.readers.page_at` / `entity_pages` map any offset
or entity to its page.

Output (`run_job`): every setting that can fail (options, encoder, LLM client and cache) is
checked first, and the output only then (`hybrid_ie.job_output`: a regular file, locked for the
job's lifetime; an existing output needs ``resume`` or ``overwrite``; a fresh job writes
``<OUT>.partial`` and renames it over the output when it finishes). Each finished Document is
appended and flushed at once (`document.write_document`), so a killed job loses at most the
batch in flight. With ``resume=True`` the ids already written are skipped (after checking that
the file was made with the same schema, mode and model); a torn last line left by a kill is
detected (no final newline) and cut off first. A document that failed (LLM down after retries,
a text the encoder cannot read) is still written, with its ``error`` field; the job goes on.

At the end a summary over the whole output file (documents, failures, escalation rate, LLM
calls and tokens) plus this run's wall time is returned and written beside the output as
``<OUT stem>.summary.json``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.document import Document, write_document
from hybrid_ie.errors import InputError
from hybrid_ie.job_output import OutputLock, check_output_path, plan_output, summary_path
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
from hybrid_ie.readers import SUFFIXES as DOCUMENT_SUFFIXES
from hybrid_ie.readers import ReadError, format_of, page_at, read_file, require
from hybrid_ie.router import BudgetState

MAX_DOCUMENT_BYTES = 200_000_000  # a document file past this becomes a failed document, unread
CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
TEXT_SUFFIXES = (".txt",)
TEXT_READER = "utf-8 text"  # meta["source"]["reader"] of a .txt file
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
PARQUET_EXTRA = "reading Parquet needs pyarrow: pip install hybrid-ie[ray]"
BAD_UTF8_POLICIES = ("error", "replace")
ON_BAD_UTF8 = "error"  # the default policy


@dataclass(frozen=True)
class InputText:
    id: str
    text: str
    where: str  # file, or file:line, for messages
    meta: dict[str, Any] | None = None  # a document file's source (file, format, extractor, pages)
    error: str | None = None  # set when the file could not be read: written as a failed document
    path: Path | None = None  # a document file not read yet (`loaded` reads it)

    def loaded(self, warnings: list[str] | None = None) -> InputText:
        """This input with its document file read (a file that cannot be read, or is larger
        than `MAX_DOCUMENT_BYTES`, becomes a failed input, and a line in `warnings`); others
        are returned as they are."""
        if self.path is None:
            return self
        item = _read_document(self.path, self.id)
        if item.error is not None and warnings is not None:
            warnings.append(f"{item.where}: not read ({item.error.removeprefix('read_failed: ')}); "
                            "written as a failed document")  # fmt: skip
        return item


def _decode(raw: bytes, where: str, on_bad_utf8: str, warnings: list[str]) -> str:
    """UTF-8 text of `raw`; invalid bytes raise InputError naming the byte offset (and line),
    or are replaced (with a warning) when `on_bad_utf8 == "replace"`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        at = f"byte {exc.start}" + (f" (line {line})" if b"\n" in raw else "")
        if on_bad_utf8 != "replace":
            raise InputError(
                f"{where}: invalid UTF-8 at {at} (use --on-bad-utf8 replace to replace bad bytes)"
            ) from exc
        warnings.append(f"{where}: invalid UTF-8 from {at} replaced with U+FFFD")
        return raw.decode("utf-8", errors="replace")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _without_controls(text: str, where: str, warnings: list[str]) -> str:
    """`text` with control characters (NUL and the other C0 controls but tab, newline and
    carriage return) replaced by spaces, so none ends up inside an entity; a warning says so."""
    found = CONTROL_RE.findall(text)
    if not found:
        return text
    warnings.append(f"{where}: {len(found)} control character(s) (e.g. {found[0]!r}) replaced with spaces")
    return CONTROL_RE.sub(" ", text)


def _text_file(path: Path, doc_id: str, on_bad_utf8: str, warnings: list[str]) -> Iterator[InputText]:
    text = _decode(_read_bytes(path), str(path), on_bad_utf8, warnings).removeprefix("\ufeff")
    meta = {"file": str(path), "format": "txt", "reader": TEXT_READER}
    yield InputText(doc_id, _without_controls(text, str(path), warnings), str(path), meta=meta)


def _jsonl_file(path: Path, on_bad_utf8: str, warnings: list[str]) -> Iterator[InputText]:
    text = _decode(_read_bytes(path), str(path), on_bad_utf8, warnings).removeprefix("\ufeff")
    for lineno, line in enumerate(text.split("\n"), start=1):
        where = f"{path}:{lineno}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError as exc:
            raise InputError(f"{where}: JSON nested too deeply") from exc
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise InputError(f'{where}: expected an object with a "text" string, e.g. {{"id": "d1", "text": "..."}}')
        doc_id = obj.get("id", f"{path.stem}-{lineno}")
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise InputError(f'{where}: "id" must be a string or an integer')
        yield InputText(str(doc_id), _without_controls(obj["text"], where, warnings), where)


def _parquet_file(path: Path) -> Iterator[InputText]:
    """Rows of a Parquet file with a string ``text`` column and an optional ``id`` column
    (string or integer; a row without one gets ``<file stem>-<row>``, rows counted from 1)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise InputError(f"{path}: {PARQUET_EXTRA}") from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from exc
    if "text" not in table.column_names:
        raise InputError(f'{path}: expected a "text" column, found {", ".join(table.column_names) or "none"}')
    ids = table.column("id").to_pylist() if "id" in table.column_names else [None] * table.num_rows
    for row, (doc_id, text) in enumerate(zip(ids, table.column("text").to_pylist(), strict=True), start=1):
        where = f"{path}:row {row}"
        if not isinstance(text, str):
            raise InputError(f'{where}: "text" must be a string, got {type(text).__name__}')
        if doc_id is None:
            doc_id = f"{path.stem}-{row}"
        elif not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
            raise InputError(f'{where}: "id" must be a string or an integer')
        yield InputText(str(doc_id), text, where)


def _document_file(path: Path, doc_id: str) -> Iterator[InputText]:
    """A document file, listed now and read when its batch is due (`InputText.loaded`)."""
    yield InputText(doc_id, "", str(path), path=path)


def _read_document(path: Path, doc_id: str) -> InputText:
    try:
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise ReadError(f"{path}: {size:,} bytes, over the reader limit of {MAX_DOCUMENT_BYTES:,}")
        result = read_file(path)
    except (ReadError, OSError) as exc:
        reason = str(exc).removeprefix(f"{path}: ")
        meta = {"file": str(path), "format": format_of(path) or path.suffix.lower().lstrip(".")}
        return InputText(doc_id, "", str(path), meta=meta, error=f"read_failed: {reason}")
    return InputText(doc_id, result.text, str(path), meta=result.meta)


FOLDER_SUFFIXES = TEXT_SUFFIXES + DOCUMENT_SUFFIXES + PARQUET_SUFFIXES


def _expand(path: Path) -> list[Path]:
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FOLDER_SUFFIXES)
        if not files:
            raise InputError(f"{path}: folder holds no {', '.join(FOLDER_SUFFIXES)} files")
        return files
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return [path]  # a type no reader handles becomes a failed document (`_document_file`)


def _file_ids(paths: Sequence[Path]) -> dict[Path, str]:
    """The id of each one-document file: its name without the suffix; files whose names clash
    (``a/report.pdf`` and ``b/report.pdf``) get their path below the folder they share instead
    (``a/report``, ``b/report``; ``report.pdf`` and ``report.html`` beside each other keep their
    suffixes)."""
    stems: dict[str, list[Path]] = {}
    for path in paths:
        stems.setdefault(path.name.removesuffix(path.suffix), []).append(path)
    ids = {}
    for stem, group in stems.items():
        if len(set(group)) == 1:
            ids[group[0]] = stem
            continue
        common = Path(os.path.commonpath([p.resolve().parent for p in group]))
        relative = {path: path.resolve().relative_to(common) for path in group}
        named = {path: rel.with_name(rel.name.removesuffix(path.suffix)).as_posix() for path, rel in relative.items()}
        if len(set(named.values())) < len(named):  # same folder, other suffixes: keep the suffix
            named = {path: rel.as_posix() for path, rel in relative.items()}
        ids.update(named)
    return ids


def collect_inputs(paths: Sequence[str | Path], on_bad_utf8: str = ON_BAD_UTF8) -> tuple[list[InputText], list[str]]:
    """Read and check every input; returns (texts in input order, warnings)."""
    if on_bad_utf8 not in BAD_UTF8_POLICIES:
        raise InputError(f"on_bad_utf8 must be one of {BAD_UTF8_POLICIES}, got {on_bad_utf8!r}")
    if not paths:
        raise InputError("no input given")
    texts: list[InputText] = []
    warnings: list[str] = []
    seen: dict[str, str] = {}
    files = [path for given in paths for path in _expand(Path(given))]
    for suffix in sorted({p.suffix.lower() for p in files} & set(DOCUMENT_SUFFIXES)):
        require(next(p for p in files if p.suffix.lower() == suffix))  # a missing extra fails fast
    file_ids = _file_ids([p for p in files if p.suffix.lower() not in JSONL_SUFFIXES + PARQUET_SUFFIXES])
    for path in files:
        suffix = path.suffix.lower()
        if suffix in JSONL_SUFFIXES:
            items = _jsonl_file(path, on_bad_utf8, warnings)
        elif suffix in PARQUET_SUFFIXES:
            items = _parquet_file(path)
        elif suffix in TEXT_SUFFIXES:
            items = _text_file(path, file_ids[path], on_bad_utf8, warnings)
        else:
            items = _document_file(path, file_ids[path])
        for item in items:
            if item.id in seen:
                raise InputError(f"{item.where}: duplicate document id {item.id!r} (also in {seen[item.id]})")
            seen[item.id] = item.where
            texts.append(item)
    return texts, warnings


def cell_breaks(item: InputText) -> list[int]:
    """The hard chunk boundaries of an input: both ends of each table cell its reader found."""
    return [offset for cell in (item.meta or {}).get("cells") or () for offset in cell]


def with_source(doc: Document, item: InputText) -> Document:
    """Record where a document file's text came from (its cell ranges left out: they only cut
    chunks); route entries get their chunk's page."""
    if item.meta is None:
        return doc
    doc.meta["source"] = {k: v for k, v in item.meta.items() if k != "cells"}
    pages = item.meta.get("pages")
    if pages:
        for entry in doc.meta.get("route") or []:
            entry["page"] = page_at(pages, entry["start"])
            last = page_at(pages, max(entry["start"], entry["end"] - 1))
            if last != entry["page"]:
                entry["page_end"] = last  # a sentence that runs on over a page break
    return doc


def read_failure(item: InputText) -> Document:
    """The failed Document of an input whose file could not be read (empty text, ``error``)."""
    return Document(id=item.id, text="", meta={"source": item.meta or {}}, error=item.error)


def batches_of(items: Sequence[InputText], batch_size: int) -> list[list[InputText]]:
    """The pipeline batches of a job: consecutive runs of `batch_size` readable inputs (document
    files already `loaded`). Every engine forms the same batches, so routing budgets give the
    same documents."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    readable = [item for item in items if item.error is None]
    return [readable[k : k + batch_size] for k in range(0, len(readable), batch_size)]


def extract_batch(items: Sequence[InputText], extractor: Any, state: BudgetState) -> list[Document]:
    """One pipeline batch of readable inputs through `Extractor.process_batch` (the step every
    engine runs), with each document file's source meta and pages added."""
    docs = extractor.process_batch(
        [{"id": item.id, "text": item.text, "breaks": cell_breaks(item)} for item in items], state
    )
    return [with_source(doc, item) for doc, item in zip(docs, items, strict=True)]


def extract_inputs(
    inputs: Iterable[InputText], extractor: Any, batch_size: int = DEFAULT_BATCH_SIZE, warnings: list[str] | None = None
) -> Iterator[Document]:
    """One Document per input, in input order: the readable ones batch by batch (`extract_batch`,
    one routing budget over the whole run, the batches of `batches_of`), a failed Document for
    each input whose file could not be read. Document files are read as their batch fills, so a
    job starts at once and holds at most one batch of their texts; a file that cannot be read
    adds a line to `warnings`."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    state = BudgetState()
    waiting: list[InputText] = []  # in input order, up to and including the batch being filled
    readable = 0

    def flush() -> Iterator[Document]:
        batch = [item for item in waiting if item.error is None]
        done = {doc.id: doc for doc in extract_batch(batch, extractor, state)} if batch else {}
        for item in waiting:
            yield read_failure(item) if item.error is not None else done[item.id]

    for item in inputs:
        item = item.loaded(warnings)
        waiting.append(item)
        readable += item.error is None
        if readable == batch_size:
            yield from flush()
            waiting, readable = [], 0
    yield from flush()


# -- output and resume ------------------------------------------------------------------------


def repair_output(path: Path) -> int:
    """Cut a torn last line (no final newline, left by a killed job). Returns bytes removed."""
    if not path.exists():
        return 0
    with path.open("rb+") as handle:
        data = handle.read()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        handle.truncate(keep)
        return len(data) - keep


def finished_documents(path: Path) -> Iterator[dict[str, Any]]:
    """The documents already in an output file (complete lines only)."""
    if not path.exists():
        return
    with path.open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            if not raw.endswith(b"\n") or not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise InputError(f"{path}:{lineno}: the output file has a corrupt line; cannot resume ({exc})") from exc
            yield obj


@dataclass
class JobSummary:
    """Counts over the whole output file, plus what this run did."""

    output: str
    documents: int = 0
    failures: int = 0
    chunks: int = 0
    escalated_chunks: int = 0
    escalation_rate: float = 0.0
    llm_calls: int = 0
    llm_failed_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_tokens: int = 0
    llm_cost: float = 0.0
    processed_this_run: int = 0
    failed_this_run: int = 0
    skipped_as_done: int = 0
    torn_bytes_removed: int = 0
    wall_s: float = 0.0
    docs_per_s: float = 0.0
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def add(self, doc: dict[str, Any]) -> None:
        """Count one output document (a Document's JSON dict)."""
        meta = doc.get("meta") or {}
        self.documents += 1
        self.failures += 1 if doc.get("error") else 0
        route = meta.get("route")
        self.chunks += len(route) if route is not None else int((meta.get("pipeline") or {}).get("chunks", 0))
        self.escalated_chunks += sum(1 for r in route or [] if r.get("escalated"))
        llm = meta.get("llm") or {}
        self.llm_calls += int(llm.get("calls", 0))
        self.llm_failed_calls += len(llm.get("errors") or [])
        usage = llm.get("usage") or {}
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        self.llm_cost += float(usage.get("cost", 0.0))
        self.llm_tokens = self.prompt_tokens + self.completion_tokens
        self.escalation_rate = self.escalated_chunks / self.chunks if self.chunks else 0.0

    def record(self, doc: dict[str, Any], started: float) -> None:
        """One document this run has written: counted, and the clock brought up to date."""
        self.add(doc)
        self.processed_this_run += 1
        self.failed_this_run += 1 if doc.get("error") else 0
        self.clock(started)

    def clock(self, started: float) -> None:
        """Update wall time and throughput of this run (started = `time.perf_counter()`)."""
        self.wall_s = time.perf_counter() - started
        self.docs_per_s = self.processed_this_run / self.wall_s if self.wall_s else 0.0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["escalation_rate"] = round(self.escalation_rate, 4)
        out["wall_s"] = round(self.wall_s, 3)
        out["docs_per_s"] = round(self.docs_per_s, 3)
        out["llm_cost"] = round(self.llm_cost, 6)
        return out


def write_summary(output: Path, summary: JobSummary) -> Path:
    """Write the summary beside the output (`summary_path`)."""
    path = summary_path(Path(output))
    path.write_text(json.dumps(summary.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path


def prepare_job(extractor: Any, batch_size: int) -> None:
    """Everything a job needs that can fail on the user's configuration (options, the encoder,
    the LLM client and its cache) is set up here, before the output is touched."""
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    prepare = getattr(extractor, "prepare", None)
    if prepare is not None:
        prepare()


def run_job(
    inputs: Sequence[InputText],
    output: str | Path,
    extractor: Any,
    *,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_document: Callable[[Document, JobSummary], None] | None = None,
    settings: dict[str, Any] | None = None,
    warnings: Sequence[str] = (),
) -> JobSummary:
    """Extract every input not yet in `output`, appending each Document as it is finished.

    The output is checked and locked, then the extractor prepared (`prepare_job`), all before
    anything is written; the lock is held for the job's lifetime and written as `hybrid_ie.job_output` says: a
    fresh job writes ``<OUT>.partial`` and renames it when done; an existing output needs
    `resume` or `overwrite`. `on_document(doc, running_summary)` is called after each document
    is written (progress display).
    """
    output = Path(output)
    started = time.perf_counter()
    check_output_path(output)
    summary = JobSummary(output=str(output), warnings=list(warnings), settings=dict(settings or {}))
    with OutputLock(output):
        plan = plan_output(output, resume=resume, overwrite=overwrite, settings=settings)  # reads only
        prepare_job(extractor, batch_size)  # the slow checks (models) once the output is known to be ours
        summary.warnings += plan.warnings
        done: set[str] = set()
        if plan.resumed:
            summary.torn_bytes_removed = repair_output(plan.target)
            for obj in finished_documents(plan.target):
                done.add(str(obj.get("id")))
                summary.add(obj)
        pending = [item for item in inputs if item.id not in done]
        summary.skipped_as_done = len(inputs) - len(pending)
        try:
            handle = plan.target.open("a" if plan.resumed else "w", encoding="utf-8")
            if plan.temporary:
                write_summary(plan.target, summary)  # the settings a resume of this partial file checks
        except OSError as exc:
            raise InputError(f"{output}: cannot write the output ({exc.strerror or exc})") from exc
        with handle:
            for doc in extract_inputs(pending, extractor, batch_size=batch_size, warnings=summary.warnings):
                write_document(doc, handle)
                summary.record(doc.to_dict(), started)
                if on_document is not None:
                    on_document(doc, summary)
            os.fsync(handle.fileno())
        plan.commit()
        summary.clock(started)
        write_summary(output, summary)
    return summary


__all__ = [
    "InputText",
    "JobSummary",
    "batches_of",
    "cell_breaks",
    "collect_inputs",
    "extract_batch",
    "extract_inputs",
    "finished_documents",
    "prepare_job",
    "read_failure",
    "repair_output",
    "run_job",
    "summary_path",
    "with_source",
    "write_summary",
]
