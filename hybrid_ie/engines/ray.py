"""The Ray engine: a batch job on a Ray cluster (``hybrid-ie extract --engine ray``).

The driver reads and checks every input (`hybrid_ie.job_inputs.collect_inputs`: JSONL, text and
document files, folders, Parquet), skips the ids already in the output's shards (``resume``)
and cuts the rest into the local engine's pipeline batches (`batches_of`). A Ray Data pipeline
then maps each batch over a pool of ``workers`` actors (``map_batches`` with an
`ActorPoolStrategy`; one CPU, and one GPU when the cluster has GPUs, per actor); each actor
loads the encoder once and runs `extract_batch` -> `Extractor.process_batch`: chunk, encoder,
router, LLM, reconcile, exactly the local engine's code. Every LLM request, from whichever actor,
first takes a slot of one cluster-wide semaphore (a Ray actor), so at most ``llm_concurrency``
requests are in flight at once. The driver writes the documents into shards as they arrive
(`hybrid_ie.engines.shards`: temp file + rename, so a killed job leaves complete shards only) and
the local engine's summary beside the folder (``<OUT>.summary.json``).

Same documents as the local engine. The routing budget is shared by the whole run: a batch gets
``floor(budget * (seen + n)) - floor(budget * seen)`` LLM slots, where ``seen`` counts the
routable chunks of all earlier batches (`router.BudgetState`). Batches run in parallel here, so
the driver computes ``seen`` beforehand from the chunk counts (`chunk_text`, cheap). Only a
document the encoder fails on (``encoder_failed``) makes its chunks unroutable and the guess too
high; every batch reports its real count, the driver recomputes ``seen`` in batch order, and a
batch whose slot count was wrong is run again, in the driver, with the right one (its first
answer is dropped, its LLM calls are made again; ``settings.engine.budget_reruns`` counts them). The per-batch
token cap (``max_llm_tokens``) is applied inside the batch, as locally. Resume, as locally,
starts the budget afresh over the documents still to do.

Differences from the local engine: the output is a folder of shards whose documents are in
completion order, not input order (sort by id to compare); a kill loses the shards not yet
written (at most ``shard_size`` documents plus the batches in flight), never a written one. The
semaphore lives as long as the driver; an actor that dies while it holds a slot (Ray Data then
restarts it and runs its batch again) keeps that slot, so the bound only gets tighter.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hybrid_ie.batch import JobSummary, batches_of, extract_batch, write_summary
from hybrid_ie.document import Document
from hybrid_ie.engines.shards import ShardWriter, check_format, clean_partial, read_shards, shard_files
from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import InputText, cell_breaks, read_failure
from hybrid_ie.job_output import OutputLock, check_output_path, check_same_settings
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE
from hybrid_ie.router import BudgetState
from hybrid_ie.tiers import LLMTier

RAY_EXTRA = "the ray engine needs Ray: pip install hybrid-ie[ray]"


def require_ray() -> Any:
    """The `ray` module, or a one-line InputError naming the extra to install."""
    try:
        import ray
        import ray.data  # the Data library is part of the extra
    except ImportError as exc:
        raise InputError(RAY_EXTRA) from exc
    return ray


@dataclass(frozen=True)
class RayOptions:
    """How the job is scheduled (none of these changes a document).

    workers: encoder actors (each loads the encoder once; one CPU each, `gpus_per_worker` GPUs).
    llm_concurrency: LLM requests in flight at once over the whole cluster.
    address: a running cluster (``ray start --head``'s address, or ``auto``); None = $RAY_ADDRESS,
        else a new local Ray instance with `num_cpus` CPUs (None = all) and `object_store_mb`.
    gpus_per_worker: None = 1 when the cluster has a GPU, else 0.
    shard_size: documents per output shard; output_format: ``jsonl`` or ``parquet``.
    """

    workers: int = 2
    llm_concurrency: int = 4
    address: str | None = None
    num_cpus: int | None = None
    object_store_mb: int | None = None
    gpus_per_worker: float | None = None
    shard_size: int = 1000
    output_format: str = "jsonl"

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise InputError(f"--workers must be at least 1, got {self.workers}")
        if self.llm_concurrency < 1:
            raise InputError(f"--llm-concurrency must be at least 1, got {self.llm_concurrency}")
        if self.shard_size < 1:
            raise InputError(f"--shard-size must be at least 1, got {self.shard_size}")
        check_format(self.output_format)


# -- what runs on the cluster ------------------------------------------------------------------


class LLMGate:
    """A cluster-wide counting semaphore (run as an async Ray actor): `acquire` waits for one of
    `limit` slots. `stats` reports the peak number held at once and the total taken."""

    def __init__(self, limit: int) -> None:
        import asyncio

        self.slots = asyncio.Semaphore(limit)
        self.active = self.peak = self.total = 0

    async def acquire(self) -> None:
        await self.slots.acquire()
        self.active += 1
        self.total += 1
        self.peak = max(self.peak, self.active)

    async def release(self) -> None:
        self.active -= 1
        self.slots.release()

    async def stats(self) -> dict[str, int]:
        return {"peak": self.peak, "total": self.total}


@contextlib.contextmanager
def _gate_slot(gate: Any) -> Iterator[None]:
    import ray

    ray.get(gate.acquire.remote())
    try:
        yield
    finally:
        ray.get(gate.release.remote())


# CPUs (and torch threads) per actor. Scores differ in their last digits between torch thread
# counts, so a fixed count keeps a job's documents independent of the workers' environment.
ACTOR_THREADS = 1


class BatchWorker:
    """A Ray Data actor: one Extractor (encoder loaded once), one pipeline batch per row."""

    def __init__(self, spec: bytes, gate: Any = None, threads: int | None = None) -> None:
        from hybrid_ie.pipeline import Extractor

        if threads:  # one torch thread per reserved CPU, whatever OMP_NUM_THREADS the worker inherited
            import torch

            torch.set_num_threads(threads)
        self.extractor = Extractor(**pickle.loads(spec))
        if gate is not None:
            self.extractor.llm_gate = functools.partial(_gate_slot, gate)
        if self.extractor.mode != "llm":
            _ = self.extractor.encoder

    def __call__(self, rows: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        docs, routable, budgets = [], [], []
        for seen, payload in zip(rows["seen"], rows["items"], strict=True):
            state = BudgetState(chunks_seen=int(seen))
            result = extract_batch(pickle.loads(payload), self.extractor, state)
            docs.append("\n".join(doc.to_json() for doc in result))
            routable.append(state.chunks_seen - int(seen))
            budgets.append(self.extractor.policy.share)  # as the worker's measurement may have chosen it
        return {"batch": rows["batch"], "seen": rows["seen"], "routable": np.asarray(routable, dtype=np.int64),
                "budget": np.asarray(budgets, dtype=np.float64), "docs": np.asarray(docs, dtype=object)}  # fmt: skip


# -- the driver --------------------------------------------------------------------------------


def worker_spec(extractor: Any) -> dict[str, Any]:
    """The Extractor's constructor options, as each actor rebuilds it: the encoder as a checkpoint
    folder (None = the shipped one) and the LLM as its `LLMConfig` (loaded here when not given)."""
    options = dict(extractor.options)
    encoder = options["encoder"]
    if encoder is not None and not isinstance(encoder, (str, os.PathLike)):
        raise InputError("the ray engine loads the encoder in every worker: give Extractor(encoder=) a checkpoint "
                         "folder, not a loaded encoder")  # fmt: skip
    if encoder is not None and not (Path(encoder) / "config.json").is_file():
        raise InputError(f"{encoder}: not an encoder checkpoint folder (no config.json)")
    options["encoder"] = None if encoder is None else str(Path(encoder).resolve())
    llm = options["llm"]
    if extractor.mode == "encoder":
        options["llm"] = None
    elif llm is None:
        from hybrid_ie.llm import LLMConfig

        options["llm"] = LLMConfig.load()
    elif isinstance(llm, LLMTier):
        config = getattr(llm, "config", None)
        if config is None:
            raise InputError("the ray engine needs the LLM as an LLMConfig (each worker makes its own client)")
        options["llm"] = config
    return options


@contextlib.contextmanager
def ray_session(ray: Any, options: RayOptions) -> Iterator[None]:
    """Use the Ray instance this process already joined; else join `address` / $RAY_ADDRESS;
    else start a local instance (shut down at the end)."""
    if ray.is_initialized():
        yield
        return
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    settings: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
    if address:
        ray.init(address=address, **settings)
    else:
        memory = options.object_store_mb * 1024 * 1024 if options.object_store_mb else None
        ray.init(address="local", num_cpus=options.num_cpus, object_store_memory=memory, **settings)
    try:
        yield
    finally:
        ray.shutdown()


def predicted_seen(batches: Sequence[Sequence[InputText]], max_chunk_words: int) -> list[int]:
    """For each batch, the chunks of all earlier batches (every document assumed routable)."""
    from hybrid_ie.pipeline import chunk_text

    seen, total = [], 0
    for batch in batches:
        seen.append(total)
        total += sum(len(chunk_text(item.text, max_chunk_words, cell_breaks(item))) for item in batch)
    return seen


def _slots(budget: float, seen: int, n: int) -> int:
    return BudgetState(chunks_seen=seen).slots(budget, n)


def _map(ray: Any, rows: list[dict[str, Any]], spec: bytes, gate: Any, options: RayOptions) -> Iterator[dict]:
    """Run the rows (one pipeline batch each) through the actor pool; yields result rows as they finish."""
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # no per-dataset INFO lines on the CLI
    context = ray.data.DataContext.get_current()
    context.print_on_execution_start = False
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.execution_options.preserve_order = False
    gpus = options.gpus_per_worker
    if gpus is None:
        gpus = 1 if ray.cluster_resources().get("GPU", 0) > 0 else 0
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
    mapped = dataset.map_batches(
        BatchWorker, fn_constructor_kwargs={"spec": spec, "gate": gate, "threads": ACTOR_THREADS}, batch_size=1, batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=min(options.workers, len(rows))), num_cpus=ACTOR_THREADS, num_gpus=gpus,
    )  # fmt: skip
    yield from mapped.iter_rows()


def _prepare_output(output: Path, resume: bool, overwrite: bool, summary: JobSummary,
                    settings: dict[str, Any] | None) -> set[str]:  # fmt: skip
    """Check the output folder; with `resume`, check its recorded settings, count its documents
    in and return their ids; with `overwrite`, remove an earlier run's shards (with a warning);
    with neither, an earlier run's shards are an error."""
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: the ray engine writes a folder of shards, and this is a file")
    done: set[str] = set()
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    if resume:
        if shard_files(output):
            warning = check_same_settings(output, settings)
            summary.warnings += [warning] if warning else []
        removed = clean_partial(output)
        if removed:
            summary.warnings.append(f"{output}: removed {removed} unfinished shard(s) of a killed run")
        for doc in read_shards(output):
            done.add(str(doc.get("id")))
            summary.add(doc)
        return done
    old = shard_files(output)
    if old:
        count = sum(1 for _ in read_shards(output))
        if not overwrite:
            raise InputError(f"{output}: holds {count} documents of an earlier run; "
                             "--resume continues it, --overwrite replaces it")  # fmt: skip
        summary.warnings.append(f"{output}: overwrote {count} documents of an earlier run")
        for path in old:
            path.unlink()
    clean_partial(output)
    return done


def _run_batches(ray: Any, batches: list[list[InputText]], extractor: Any, spec: dict[str, Any], options: RayOptions,
                 emit: Callable[[str], None], engine: dict[str, Any], started: float) -> None:  # fmt: skip
    """Map the batches over the actor pool; take the results in batch order, check each batch's
    budget guess against the real routable counts, emit the right ones and run the others again."""
    hybrid = extractor.mode == "hybrid"
    seen = predicted_seen(batches, extractor.max_chunk_words) if hybrid else [0] * len(batches)
    gate = None
    if extractor.mode != "encoder":
        gate = ray.remote(LLMGate).options(num_cpus=0, max_concurrency=1000).remote(options.llm_concurrency)
    blob = pickle.dumps(spec)
    rows = [{"batch": i, "seen": seen[i], "items": pickle.dumps(b)} for i, b in enumerate(batches)]
    arrived: dict[int, dict[str, Any]] = {}
    reruns: list[dict[str, Any]] = []
    actual = next_batch = 0
    for row in _map(ray, rows, blob, gate, options):
        engine.setdefault("first_batch_s", round(time.perf_counter() - started, 3))
        arrived[int(row["batch"])] = row
        while next_batch in arrived:
            done = arrived.pop(next_batch)
            routable = int(done["routable"])
            budget = float(done["budget"])
            if hybrid and _slots(budget, actual, routable) != _slots(budget, int(done["seen"]), routable):
                reruns.append({**rows[next_batch], "seen": actual})
            else:
                for line in filter(None, str(done["docs"]).split("\n")):
                    emit(line)
            actual += routable
            next_batch += 1
    if reruns:  # rare (encoder failures under a fractional budget): run here, not in a new pool
        engine["budget_reruns"] = len(reruns)
        import torch

        threads = torch.get_num_threads()
        worker = BatchWorker(blob, gate, threads=ACTOR_THREADS)  # the actors' thread count: the same digits
        try:
            for row in reruns:
                result = worker({k: [v] for k, v in row.items()})
                for line in filter(None, str(result["docs"][0]).split("\n")):
                    emit(line)
        finally:
            torch.set_num_threads(threads)
    if gate is not None:
        engine["llm_requests"] = ray.get(gate.stats.remote())


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
    **ray_options: Any,
) -> JobSummary:
    """The Ray engine's `hybrid_ie.batch.run_job`: extract every input not yet in the shards of
    the `output` folder; `ray_options` are `RayOptions` fields."""
    options = RayOptions(**ray_options)
    ray = require_ray()
    started = time.perf_counter()
    output = Path(output)
    spec = worker_spec(extractor)
    check_output_path(output, folder=True)
    if batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    summary = JobSummary(output=str(output), warnings=list(warnings), settings=dict(settings or {}))
    lock = OutputLock(output)
    lock.acquire()
    try:
        return _run_locked(inputs, output, extractor, resume, overwrite, batch_size, on_document, settings, summary,
                           options, ray, spec, started)  # fmt: skip
    finally:
        lock.release()


def _run_locked(inputs: Sequence[InputText], output: Path, extractor: Any, resume: bool, overwrite: bool,
                batch_size: int, on_document: Callable[[Document, JobSummary], None] | None,
                settings: dict[str, Any] | None, summary: JobSummary, options: RayOptions, ray: Any,
                spec: dict[str, Any], started: float) -> JobSummary:  # fmt: skip
    done = _prepare_output(output, resume, overwrite, summary, settings)
    pending = [item.loaded(summary.warnings) for item in inputs if item.id not in done]  # document files read here
    summary.skipped_as_done = len(inputs) - len(pending)
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{output}: cannot write the output ({exc.strerror or exc})") from exc
    writer = ShardWriter(output, options.output_format, options.shard_size)

    def emit(doc: Document | str) -> None:
        line = doc if isinstance(doc, str) else doc.to_json()
        writer.add(line)
        summary.record(json.loads(line), started)
        if on_document is not None:
            on_document(Document.model_validate_json(line), summary)

    for item in pending:
        if item.error is not None:
            emit(read_failure(item))
    batches = batches_of(pending, batch_size)
    engine = {"name": "ray", **asdict(options), "batches": len(batches), "budget_reruns": 0}
    try:
        if batches:
            with ray_session(ray, options):
                _run_batches(ray, batches, extractor, spec, options, emit, engine, started)
    finally:
        writer.close()  # the documents finished so far, even when the job fails
    summary.settings["engine"] = engine
    summary.clock(started)
    write_summary(output, summary)
    return summary


__all__ = ["RAY_EXTRA", "BatchWorker", "LLMGate", "RayOptions", "predicted_seen", "require_ray", "run_job",
           "worker_spec"]  # fmt: skip
