"""Run extraction modes x escalation budgets on the same documents and collect every number.

Order of the runs: encoder-only, then hybrid at each budget in ascending order, then LLM-only.
The encoder reads each chunk once (`SharedEncoder`): every hybrid budget re-uses the encoder
output and therefore the same routing decisions (chunks ranked by uncertainty), so budgets differ
only in how many chunks reach the LLM; with the LLM's response cache a higher budget re-uses the
calls a lower one made. Each run's predictions are written, one document per line, to
`preds/<run>.jsonl` (`encoder`, `llm`, `hybrid-<budget>`) and its scores are computed from that
file, so `hybrid-ie eval --gold preds/gold.jsonl --pred preds/<run>.jsonl --schema <schema>`
reproduces them exactly.

LLM costs: every LLM call is metered (`metering.MeteredLLM`); the computed cost of each answer
that was not a cache hit is appended to `preds/llm-calls.jsonl`, so an answer cached by an
earlier (even killed) invocation in the same folder keeps its measured cost.

Times: `wall_s` is what the run took inside this benchmark (sharing the encoder pass and the LLM
cache); `standalone_s` is what it would take alone with an empty LLM cache: its wall time with the
shared encoder pass added back for runs that use the encoder, and each cached LLM call counted at
the latency it had when it was computed. `docs_per_s` is documents / `standalone_s`. When some
of a run's answers came from a cache this benchmark did not fill (their cost was never measured
here), `standalone_s` and `docs_per_s` are None and `standalone_unknown_calls` says how many.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hybrid_ie.benchmark.identity import (
    describe,
    encoder_identity,
    git_commit,
    llm_identity,
    load_average,
    prompts_digest,
    run_fingerprint,
)
from hybrid_ie.benchmark.metering import MeteredLLM, SharedEncoder
from hybrid_ie.benchmark.outcome import (
    RunOutcome,
    RunSpec,
    documents_digest,
    load_outcome,
    plan_runs,
    run_cost,
    save_outcome,
)
from hybrid_ie.benchmark.report import GOLD_FILE, PREDS_DIR, build_report
from hybrid_ie.competence import draw_examples
from hybrid_ie.datasets import load_documents, set_reference, source_schema
from hybrid_ie.document import Document, read_jsonl, write_document, write_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.metrics import score
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE, extractor_defaults
from hybrid_ie.schema import Schema, available_schemas, load_schema

MODES = ("encoder", "llm", "hybrid")
LLM_LEDGER = "llm-calls.jsonl"
DEFAULT_BUDGETS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)


@dataclass
class BenchmarkConfig:
    """What to run. `source` is `name:split` (e.g. `conll04:test`), a SpERT JSON file or a JSONL
    file of gold Documents; `limit` keeps its first N documents."""

    source: str
    output_dir: Path
    schema: str | None = None
    modes: tuple[str, ...] = MODES
    budgets: tuple[float, ...] = DEFAULT_BUDGETS
    limit: int | None = None
    seed: int = 0
    model: str | None = None
    llm_config: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    nested: bool = extractor_defaults()["nested"]
    calibration_source: str | None = "auto"
    examples_per_kind: int = 3
    progress: bool = True
    resume: bool = False
    command: str = ""
    llms: tuple[str, ...] = ()  # oracle specs (`--llm`); () = the configured LLM
    capture: bool = False  # the router's error capture (capture.py); always with hybrid runs
    reconcile: str | None = None  # None = the pipeline's default strategy
    escalation: str | None = None  # None = the routing policy's default (verify)
    rank: str | None = None  # None = the routing policy's default (signals)
    llm_score: float | None = None  # None = the reconciler's default (reconcile.LLM_SCORE)
    labelled_examples: str | None = None  # LLM and hybrid runs read these (name:split or file)
    labelled_limit: int = 20  # that many of them, drawn at random (seed)

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.labelled_examples is not None and self.escalation not in (None, "competence"):
            raise InputError(f"labelled examples are read only by the 'competence' escalation, not {self.escalation!r}")
        if self.capture and "encoder" not in self.modes:
            self.modes = ("encoder", *self.modes)
        if self.llms:
            from hybrid_ie.benchmark.oracle import parse_oracle

            for spec in self.llms:
                parse_oracle(spec)
            if self.llm_config:
                raise InputError("--llm (oracle) and --llm-config: give one of them")
            if len(set(self.llms)) != len(self.llms):
                raise InputError(f"--llm: each LLM once, got {', '.join(self.llms)}")
        unknown = [m for m in self.modes if m not in MODES]
        if unknown or not self.modes:
            raise InputError(f"unknown mode(s) {unknown or '(none given)'}; choose from {', '.join(MODES)}")
        for b in self.budgets:
            if not 0.0 <= b <= 1.0:
                raise InputError(f"budget {b} is not a fraction in [0, 1]")
        if "hybrid" in self.modes and not self.budgets:
            raise InputError("hybrid mode needs at least one budget")
        if self.limit is not None and self.limit < 1:
            raise InputError(f"--limit must be at least 1, got {self.limit}")


def resolve_schema(source: str, schema: str | None) -> Schema:
    """The schema given, else the one named like the data set (`conll04:test` -> `conll04`,
    `.../scierc/test.json` -> `scierc`), else the one the set's `types.json` describes."""
    if schema:
        return load_schema(schema)
    reference = set_reference(source)
    name = reference[0] if reference else Path(source).parent.name
    if name in available_schemas():
        return load_schema(name)
    described = source_schema(source)
    if described is not None:
        return described
    raise InputError(
        f"cannot tell the schema of {source!r} (no schema named {name!r}, no types.json beside it); "
        f"pass --schema (available: {', '.join(available_schemas())})"
    )


def load_gold(source: str, limit: int | None) -> list[Document]:
    docs = load_documents(source)
    if limit is not None:
        docs = docs[:limit]
    if not docs:
        raise InputError(f"{source}: no documents to benchmark")
    return docs


def load_labelled(config: BenchmarkConfig, gold: Sequence[Document]) -> list[Document]:
    """The labelled examples of the LLM and hybrid runs (`Extractor(examples=...)`): `labelled_limit`
    documents of `labelled_examples` drawn at random with the run's seed; none may share its text
    with an evaluated document (that would measure competence on the test itself)."""
    if config.labelled_examples is None:
        return []
    labelled = draw_examples(load_documents(config.labelled_examples), config.labelled_limit, config.seed)
    shared = {d.text for d in labelled} & {d.text for d in gold}
    if shared:
        raise InputError(f"{config.labelled_examples}: {len(shared)} labelled examples are texts of the evaluated "
                         "documents; draw them from another split")  # fmt: skip
    return labelled


def seed_everything(seed: int) -> None:
    random.seed(seed)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    torch.manual_seed(seed)


# -- one run ------------------------------------------------------------------------------------


def route_counts(doc: Document) -> tuple[int, int]:
    """(chunks, escalated chunks) of a predicted document: the chunk count from
    `meta["pipeline"]["chunks"]` (or the route entries), escalations from `meta["route"]`."""
    route = doc.meta.get("route") or []
    escalated = sum(1 for c in route if isinstance(c, dict) and c.get("escalated"))
    chunks = (doc.meta.get("pipeline") or {}).get("chunks", len(route))
    return int(chunks), escalated


def _make_extractor(
    spec: RunSpec, schema: Schema, encoder: Any, llm: Any, policy: Any, config: BenchmarkConfig,
    labelled: Sequence[Document] = (),
) -> Any:  # fmt: skip
    from hybrid_ie.pipeline import Extractor

    options: dict[str, Any] = {"reconcile": config.reconcile, "llm_score": config.llm_score}
    if spec.mode == "hybrid":
        policy = policy.with_budget(spec.budget)
    if spec.mode != "encoder":  # the LLM is shown them; a hybrid run also measures competence on them
        options["examples"] = list(labelled) or None
    return Extractor(schema, encoder=encoder, llm=llm, policy=policy, mode=spec.mode, nested=config.nested,
                     **{k: v for k, v in options.items() if v is not None})  # fmt: skip


def llm_call_bound(spec: RunSpec, gold: Sequence[Document]) -> int:
    """The most LLM calls a run can make: one per chunk in LLM mode, floor(budget * chunks) in
    hybrid mode (the router's budget), 0 in encoder mode. Shown as the LLM progress bar's total."""
    from hybrid_ie.pipeline import chunk_text

    if not spec.uses_llm:
        return 0
    chunks = sum(len(chunk_text(d.text)) for d in gold)
    return chunks if spec.mode == "llm" else math.floor((spec.budget or 0.0) * chunks + 1e-9)


def execute_run(
    spec: RunSpec,
    extractor: Any,
    gold: Sequence[Document],
    preds_path: Path,
    *,
    encoder: SharedEncoder | None,
    llm: MeteredLLM | None,
    batch_size: int,
    progress: bool,
) -> RunOutcome:
    """Extract every gold text with `extractor`, streaming the predictions to `preds_path`.
    Progress: one bar of documents and, when the run can call the LLM, one of LLM calls (whose
    ETA is the useful one: documents finish a batch at a time)."""
    first_call = len(llm.calls) if llm is not None else 0
    encoder_before = encoder.seconds if encoder is not None else 0.0
    outcome = RunOutcome(spec, preds_path)
    inputs = ({"id": d.id, "text": d.text} for d in gold)
    bound = llm_call_bound(spec, gold) if llm is not None else 0
    bar_options = {"dynamic_ncols": True, "leave": True}
    started = time.perf_counter()
    with (
        preds_path.open("w", encoding="utf-8") as handle,
        tqdm(
            total=len(gold), desc=f"{spec.name:>12}", unit="doc", disable=not progress, **bar_options
        ) as bar,
        tqdm(
            total=bound,
            desc=f"{'LLM calls':>12}",
            unit="call",
            position=1,
            disable=not progress or not bound,
            **bar_options,
        ) as calls_bar,
    ):
        listener = (lambda _record: calls_bar.update(1)) if bound else None
        if listener is not None:
            llm.listeners.append(listener)
        try:
            for doc in extractor.extract_many(inputs, batch_size=batch_size):
                write_document(doc, handle)
                chunks, escalated = route_counts(doc)
                outcome.chunks += chunks
                outcome.escalated += escalated
                outcome.failed_documents += doc.error is not None
                outcome.documents += 1
                bar.update(1)
                if llm is not None:
                    bar.set_postfix(escalated=f"{outcome.escalated}/{outcome.chunks}")
        finally:
            if listener is not None:
                llm.listeners.remove(listener)
    outcome.wall_s = time.perf_counter() - started
    outcome.encoder_s = (encoder.seconds - encoder_before) if encoder is not None else 0.0
    outcome.calls = list(llm.calls[first_call:]) if llm is not None else []
    outcome.encoder_pass_s = encoder.seconds if encoder is not None else 0.0
    return outcome


# -- the whole benchmark ------------------------------------------------------------------------


def load_encoder(model: str | None) -> Any:
    from hybrid_ie.encoder import JointEncoder

    return JointEncoder.from_pretrained(model)


def load_llm(config_file: str | None) -> Any:
    from hybrid_ie.llm import LLMClient, LLMConfig

    return LLMClient(LLMConfig.load(config_file))


def default_policy(escalation: str | None = None, rank: str | None = None) -> Any:
    from hybrid_ie.router import RoutingPolicy

    options = {"escalation": escalation, "rank": rank}
    return RoutingPolicy(**{k: v for k, v in options.items() if v is not None})


def _llm_identities(config: BenchmarkConfig, llm: Any, runs: Sequence[RunSpec]) -> dict[str | None, Any]:
    """The identity of each LLM the runs use: the configured one (key None) or each oracle."""
    if not any(r.uses_llm for r in runs):
        return {}
    if not config.llms:
        return {None: llm_identity(config.llm_config, llm)}
    from hybrid_ie.benchmark.oracle import oracle_identity

    return {spec: {**oracle_identity(spec, config.seed), "prompts": prompts_digest()} for spec in config.llms}


def _start_llms(
    config: BenchmarkConfig, llm: Any, ids: dict[str | None, Any], todo: Sequence[RunSpec],
    reused: dict[RunSpec, RunOutcome], gold: Sequence[Document], schema: Schema, stack: contextlib.ExitStack,
) -> tuple[dict[str | None, MeteredLLM], dict[str, Any]]:  # fmt: skip
    """A metered client per LLM that a run still to do needs (an oracle's server is started and
    stays up until `stack` closes); returns them and the oracle servers by spec."""
    metered: dict[str | None, MeteredLLM] = {}
    servers: dict[str, Any] = {}
    ledger = config.output_dir / PREDS_DIR / LLM_LEDGER
    for key, identity in ids.items():
        if not any(r.uses_llm and r.llm == key for r in todo):
            continue
        if key is None:
            client = llm if llm is not None else load_llm(config.llm_config)
        else:
            from hybrid_ie.benchmark.oracle import oracle_llm

            client, _, servers[key] = stack.enter_context(oracle_llm(key, gold, schema, seed=config.seed))
        metered[key] = MeteredLLM(client, identity=json.dumps(identity, sort_keys=True, default=str), ledger=ledger)
        for spec, outcome in reused.items():
            if spec.llm == key:
                metered[key].prime(outcome.calls)
    return metered, servers


def _run_entry(outcome: RunOutcome, config: BenchmarkConfig, gold: Sequence[Document], symmetric: frozenset[str],
               encoder_pass_s: float) -> dict[str, Any]:  # fmt: skip
    spec = outcome.spec
    preds = list(read_jsonl(outcome.preds_path))
    entry = {
        "name": spec.name,
        "mode": spec.mode,
        "budget": spec.budget,
        "preds": str(outcome.preds_path.relative_to(config.output_dir)),
        "finished": outcome.finished,
        "reused": outcome.reused_from is not None,
        "scores": score(gold, preds, symmetric=symmetric).to_dict(),
        "cost": run_cost(outcome, encoder_pass_s),
        "_predictions": preds,
    }
    if spec.llm is not None and spec.mode != "encoder":
        from hybrid_ie.benchmark.oracle import oracle_label

        entry["llm"] = spec.llm
        entry["label"] = f"{RunSpec(spec.mode, spec.budget).name} ({oracle_label(spec.llm)})"
    return entry


def run_benchmark(
    config: BenchmarkConfig,
    *,
    encoder: Any = None,
    llm: Any = None,
    policy: Any = None,
) -> dict[str, Any]:
    """Run every mode and budget of `config` (for each LLM of `config.llms`), write the
    predictions, and return the report dictionary (see `report.build_report`); `encoder`, `llm`
    and `policy` override the defaults (the shipped checkpoint or `--model`, the LLM of
    `--llm-config`, `RoutingPolicy()`). With `config.resume`, runs finished by an earlier
    invocation (same fingerprint) are re-used. With hybrid runs or `config.capture`, the
    report also holds the router's error capture (`capture.measure_capture`)."""
    started_at_commit = git_commit()  # the code this process runs; the tree may move meanwhile
    seed_everything(config.seed)
    schema = resolve_schema(config.source, config.schema)
    gold = load_gold(config.source, config.limit)
    runs = plan_runs(config.modes, config.budgets, config.llms or (None,))
    preds_dir = config.output_dir / PREDS_DIR
    preds_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(gold, preds_dir / GOLD_FILE)
    labelled = load_labelled(config, gold)
    wants_capture = config.capture or "hybrid" in config.modes
    if policy is None and wants_capture:
        policy = default_policy(config.escalation or ("competence" if labelled else None), config.rank)
    strategy = config.reconcile or _reconcile_default()
    merge = strategy if config.llm_score is None else f"{strategy} (llm_score {config.llm_score:g})"

    any_encoder = any(r.uses_encoder for r in runs)
    encoder_id = encoder_identity(config.model, encoder) if any_encoder else ""
    llm_ids = _llm_identities(config, llm, runs)
    base = {"documents": documents_digest(gold), "schema": schema.fingerprint, "batch_size": config.batch_size,
            "seed": config.seed}  # fmt: skip
    if config.nested:
        base["nested"] = True
    if labelled:
        base["labelled_examples"] = documents_digest(labelled)
    fingerprints = {r: run_fingerprint(r, base, encoder_id, llm_ids.get(r.llm), policy, merge) for r in runs}
    reused = {}
    if config.resume:
        for r in runs:
            found = load_outcome(preds_dir / f"{r.name}.jsonl", fingerprints[r], len(gold))
            if found is not None:
                reused[r] = found
    todo = [r for r in runs if r not in reused]

    needs_encoder = any(r.uses_encoder for r in todo) or (
        any_encoder and (config.calibration_source is not None or wants_capture)
    )
    shared_encoder = (
        SharedEncoder(encoder if encoder is not None else load_encoder(config.model))
        if needs_encoder
        else None
    )
    with contextlib.ExitStack() as stack:
        metered, servers = _start_llms(config, llm, llm_ids, todo, reused, [*gold, *labelled], schema, stack)
        outcomes = []
        for i, spec in enumerate(runs, start=1):
            if spec in reused:
                if config.progress:
                    tqdm.write(f"run {i}/{len(runs)}: {spec.name}: re-used (finished {reused[spec].reused_from})")
                outcomes.append(reused[spec])
                continue
            if config.progress:
                tqdm.write(f"run {i}/{len(runs)}: {spec.name} on {len(gold)} documents")
            run_llm = metered.get(spec.llm)
            extractor = _make_extractor(spec, schema, shared_encoder, run_llm, policy, config, labelled)
            outcome = execute_run(
                spec,
                extractor,
                gold,
                preds_dir / f"{spec.name}.jsonl",
                encoder=shared_encoder,
                llm=run_llm,
                batch_size=config.batch_size,
                progress=config.progress,
            )
            save_outcome(outcome, fingerprints[spec])
            outcomes.append(outcome)
        oracle_stats = {spec: server.stats() for spec, server in servers.items()}

    encoder_pass_s = max(
        [shared_encoder.seconds if shared_encoder is not None else 0.0]
        + [o.encoder_pass_s for o in outcomes if o.spec.uses_encoder]
    )
    symmetric = frozenset(schema.symmetric_relations)
    results = [_run_entry(o, config, gold, symmetric, encoder_pass_s) for o in outcomes]
    capture = None
    encoder_run = next((r for r in results if r["mode"] == "encoder"), None)
    if wants_capture and encoder_run is not None and shared_encoder is not None:
        from hybrid_ie.benchmark.capture import measure_capture

        capture = measure_capture(
            gold, encoder_run["_predictions"], shared_encoder, schema, policy, config.budgets,
            symmetric=symmetric, nested=config.nested, batch_size=config.batch_size, seed=config.seed,
        )  # fmt: skip

    calibration = None
    if shared_encoder is not None:
        from hybrid_ie.benchmark.calibration_report import calibration_for

        calibration = calibration_for(
            config.calibration_source,
            config.source,
            shared_encoder.wrapped,
            schema,
            config.limit,
            config.nested,
        )

    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": config.command,
        "git_commit": started_at_commit,
        "seed": config.seed,
        "schema": schema.name,
        "symmetric_relations": sorted(symmetric),
        "encoder": {
            "model": encoder_id or None,
            "encoder_pass_s": encoder_pass_s,
            "texts_encoded": shared_encoder.texts_encoded if shared_encoder else 0,
        },
        "llm": llm_ids.get(None) if not config.llms else {k: v for k, v in llm_ids.items()},
        "oracles": oracle_stats or None,
        "policy": describe(policy),
        "reconcile": merge,
        "batch_size": config.batch_size,
        "nested": config.nested,
        "load_average": load_average(),
    }
    return build_report(
        config=config,
        gold=gold,
        results=results,
        meta=meta,
        calibration=calibration,
        symmetric=symmetric,
        capture=capture,
    )


def _reconcile_default() -> str | None:
    try:
        from hybrid_ie import reconcile
    except ImportError:
        return None
    return getattr(reconcile, "DEFAULT_STRATEGY", None)
