"""Resumable batch jobs: input files -> an Extractor -> an output JSONL, one line per document.

Inputs are listed and checked by `hybrid_ie.job_inputs.collect_inputs` before any extraction
starts (every format, every failure it turns into a failed document or a one-line error: see
there).

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
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybrid_ie.document import Document, write_document
from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import InputText, cell_breaks, collect_inputs, read_failure, with_source
from hybrid_ie.job_output import OutputLock, check_output_path, plan_output, summary_path
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
from hybrid_ie.router import BudgetState


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
    "JobSummary",
    "batches_of",
    "collect_inputs",  # its home is hybrid_ie.job_inputs; kept importable from here
    "extract_batch",
    "extract_inputs",
    "finished_documents",
    "prepare_job",
    "repair_output",
    "run_job",
    "summary_path",
    "write_summary",
]
