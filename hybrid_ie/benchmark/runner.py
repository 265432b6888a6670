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

import hashlib
import json
import math
import random
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hybrid_ie.benchmark.metering import ComputedCost, MeteredLLM, SharedEncoder
from hybrid_ie.benchmark.outcome import (
    RunOutcome,
    RunSpec,
    documents_digest,
    load_outcome,
    plan_runs,
    save_outcome,
)
from hybrid_ie.benchmark.report import GOLD_FILE, PREDS_DIR, build_report
from hybrid_ie.datasets import load_documents
from hybrid_ie.document import Document, read_jsonl, write_document, write_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.metrics import score
from hybrid_ie.paths import REPO_ROOT
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
    batch_size: int = 16
    nested: bool = False
    calibration_source: str | None = "auto"
    examples_per_kind: int = 3
    progress: bool = True
    resume: bool = False
    command: str = ""

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
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
    `.../scierc/test.json` -> `scierc`)."""
    if schema:
        return load_schema(schema)
    name = (
        source.split(":", 1)[0] if ":" in source and not Path(source).exists() else Path(source).parent.name
    )
    if name in available_schemas():
        return load_schema(name)
    raise InputError(
        f"cannot tell the schema of {source!r}; pass --schema (available: {', '.join(available_schemas())})"
    )


def load_gold(source: str, limit: int | None) -> list[Document]:
    docs = load_documents(source)
    if limit is not None:
        docs = docs[:limit]
    if not docs:
        raise InputError(f"{source}: no documents to benchmark")
    return docs


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


def _make_extractor(spec: RunSpec, schema: Schema, encoder: Any, llm: Any, policy: Any, nested: bool) -> Any:
    from hybrid_ie.pipeline import Extractor

    if spec.mode == "hybrid":
        policy = policy.with_budget(spec.budget)
    return Extractor(schema, encoder=encoder, llm=llm, policy=policy, mode=spec.mode, nested=nested)


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


def run_cost(outcome: RunOutcome, encoder_pass_s: float) -> dict[str, Any]:
    """The cost numbers of one run (see the module docstring for the times)."""
    calls = outcome.calls
    grounding = {"exact": 0, "fuzzy": 0, "ungrounded": 0}
    for call in calls:
        for key, value in call.grounding.items():
            grounding[key] = grounding.get(key, 0) + value
    grounded_total = sum(grounding.values())
    llm_wall = sum(c.wall_s for c in calls)
    alone = [c.standalone or ComputedCost() for c in calls]
    llm_standalone_s = sum(a.latency_s for a in alone)
    standalone = (
        outcome.wall_s
        - outcome.encoder_s
        - llm_wall
        + (encoder_pass_s if outcome.spec.uses_encoder else 0.0)
        + llm_standalone_s
    )
    unknown = sum(not c.standalone_known for c in calls)
    standalone = max(standalone, 0.0) if not unknown else None
    ok_calls = [c for c in calls if c.status == "ok"]
    return {
        "documents": outcome.documents,
        "failed_documents": outcome.failed_documents,
        "chunks": outcome.chunks,
        "escalated_chunks": outcome.escalated,
        "escalation_rate": outcome.escalated / outcome.chunks if outcome.chunks else 0.0,
        "llm_calls": len(calls),
        "llm_calls_by_task": {t: sum(c.task == t for c in calls) for t in sorted({c.task for c in calls})},
        "llm_failed": len(calls) - len(ok_calls),
        "cache_hits": sum(c.cache_hit for c in calls),
        "prompt_tokens": sum(a.prompt_tokens for a in alone),
        "completion_tokens": sum(a.completion_tokens for a in alone),
        "cost_usd": sum(a.cost for a in alone),
        "tokens_spent_here": sum(c.prompt_tokens + c.completion_tokens for c in calls),
        "standalone_unknown_calls": unknown,
        "retries": sum(c.retries for c in calls),
        "reasks": sum(c.reasks for c in calls),
        "schema_valid_rate": sum(c.schema_valid for c in calls) / len(calls) if calls else None,
        "grounding": grounding,
        "grounding_rate": (grounding["exact"] + grounding["fuzzy"]) / grounded_total
        if grounded_total
        else None,
        "wall_s": outcome.wall_s,
        "encoder_s": outcome.encoder_s,
        "llm_s": llm_wall,
        "llm_standalone_s": llm_standalone_s,
        "standalone_s": standalone,
        "docs_per_s": outcome.documents / standalone if standalone else None,
    }


# -- the whole benchmark ------------------------------------------------------------------------


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _describe(obj: Any) -> Any:
    if obj is None:
        return None
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: v for k, v in asdict(obj).items() if not k.lower().endswith(("key", "api_key"))}
    if hasattr(obj, "model_dump"):
        return {k: v for k, v in obj.model_dump(mode="json").items() if "key" not in k.lower()}
    return repr(obj)


def load_encoder(model: str | None) -> Any:
    from hybrid_ie.encoder import JointEncoder

    return JointEncoder.from_pretrained(model)


def load_llm(config_file: str | None) -> Any:
    from hybrid_ie.llm import LLMClient, LLMConfig

    return LLMClient(LLMConfig.load(config_file))


def default_policy() -> Any:
    from hybrid_ie.router import RoutingPolicy

    return RoutingPolicy()


def encoder_identity(model: str | None, encoder: Any) -> str:
    """What identifies the encoder in a run's fingerprint: the checkpoint folder's name and a
    hash of its files' contents (so a copy of a checkpoint is the same encoder, and a retrained
    one in the same folder is not)."""
    if encoder is not None:
        return type(encoder).__name__
    from hybrid_ie.encoder.inference import DEFAULT_MODEL_DIR

    folder = Path(model) if model else DEFAULT_MODEL_DIR
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*")) if folder.is_dir() else []:
        if path.is_file():
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as handle:
                for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                    digest.update(block)
    return f"{folder.name}@{digest.hexdigest()[:12]}"


def llm_identity(config_file: str | None, llm: Any) -> Any:
    """The LLM configuration that decides answers (cache location and secrets left out)."""
    if llm is not None:
        config = getattr(llm, "config", None)
    else:
        from hybrid_ie.llm import LLMConfig

        config = LLMConfig.load(config_file)
    described = _describe(config)
    if isinstance(described, dict):
        described = {k: v for k, v in described.items() if k not in ("cache", "cache_path")}
        described["prompts"] = _prompts_digest()
    return described


def _prompts_digest() -> str:
    """A hash of the prompt templates and few-shot files (an answer depends on them)."""
    from hybrid_ie.paths import PROMPTS_DIR

    digest = hashlib.sha256()
    for path in sorted(PROMPTS_DIR.rglob("*")) if PROMPTS_DIR.is_dir() else []:
        if path.is_file():
            digest.update(path.relative_to(PROMPTS_DIR).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def run_fingerprint(spec: RunSpec, base: dict[str, Any], encoder_id: str, llm_id: Any, policy: Any) -> dict:
    fingerprint = {**base, "mode": spec.mode, "budget": spec.budget}
    if spec.uses_encoder:
        fingerprint["encoder"] = encoder_id
    if spec.uses_llm:
        fingerprint["llm"] = llm_id
    if spec.mode == "hybrid":
        fingerprint["policy"] = _describe(policy)
        fingerprint["reconcile"] = _reconcile_default()
    return fingerprint


def run_benchmark(
    config: BenchmarkConfig,
    *,
    encoder: Any = None,
    llm: Any = None,
    policy: Any = None,
) -> dict[str, Any]:
    """Run every mode and budget of `config`, write the predictions, and return the report
    dictionary (see `report.build_report`); `encoder`, `llm` and `policy` override the defaults
    (the shipped checkpoint or `--model`, the LLM of `--llm-config`, `RoutingPolicy()`). With
    `config.resume`, runs finished by an earlier invocation (same fingerprint) are re-used."""
    from hybrid_ie.benchmark.calibration_report import calibration_for

    started_at_commit = _git_commit()  # the code this process runs; the tree may move meanwhile
    seed_everything(config.seed)
    schema = resolve_schema(config.source, config.schema)
    gold = load_gold(config.source, config.limit)
    runs = plan_runs(config.modes, config.budgets)
    preds_dir = config.output_dir / PREDS_DIR
    preds_dir.mkdir(parents=True, exist_ok=True)
    write_jsonl(gold, preds_dir / GOLD_FILE)
    policy = policy if policy is not None else (default_policy() if "hybrid" in config.modes else None)

    any_encoder = any(r.uses_encoder for r in runs)
    any_llm = any(r.uses_llm for r in runs)
    encoder_id = encoder_identity(config.model, encoder) if any_encoder else ""
    llm_id = llm_identity(config.llm_config, llm) if any_llm else None
    base = {"documents": documents_digest(gold), "schema": schema.fingerprint, "batch_size": config.batch_size,
            "seed": config.seed}  # fmt: skip
    if config.nested:
        base["nested"] = True
    fingerprints = {r: run_fingerprint(r, base, encoder_id, llm_id, policy) for r in runs}
    reused = {}
    if config.resume:
        for r in runs:
            found = load_outcome(preds_dir / f"{r.name}.jsonl", fingerprints[r], len(gold))
            if found is not None:
                reused[r] = found
    todo = [r for r in runs if r not in reused]

    needs_encoder = any(r.uses_encoder for r in todo) or (
        any_encoder and config.calibration_source is not None
    )
    shared_encoder = (
        SharedEncoder(encoder if encoder is not None else load_encoder(config.model))
        if needs_encoder
        else None
    )
    metered_llm = None
    if any(r.uses_llm for r in todo):
        metered_llm = MeteredLLM(
            llm if llm is not None else load_llm(config.llm_config),
            identity=json.dumps(llm_id, sort_keys=True, default=str),
            ledger=preds_dir / LLM_LEDGER,
        )
        for outcome in reused.values():
            metered_llm.prime(outcome.calls)

    outcomes = []
    for i, spec in enumerate(runs, start=1):
        if spec in reused:
            if config.progress:
                tqdm.write(f"run {i}/{len(runs)}: {spec.name}: re-used (finished {reused[spec].reused_from})")
            outcomes.append(reused[spec])
            continue
        if config.progress:
            tqdm.write(f"run {i}/{len(runs)}: {spec.name} on {len(gold)} documents")
        extractor = _make_extractor(spec, schema, shared_encoder, metered_llm, policy, config.nested)
        outcome = execute_run(
            spec,
            extractor,
            gold,
            preds_dir / f"{spec.name}.jsonl",
            encoder=shared_encoder,
            llm=metered_llm,
            batch_size=config.batch_size,
            progress=config.progress,
        )
        save_outcome(outcome, fingerprints[spec])
        outcomes.append(outcome)

    encoder_pass_s = max(
        [shared_encoder.seconds if shared_encoder is not None else 0.0]
        + [o.encoder_pass_s for o in outcomes if o.spec.uses_encoder]
    )
    symmetric = frozenset(schema.symmetric_relations)
    results = []
    for outcome in outcomes:
        preds = list(read_jsonl(outcome.preds_path))
        results.append(
            {
                "name": outcome.spec.name,
                "mode": outcome.spec.mode,
                "budget": outcome.spec.budget,
                "preds": str(outcome.preds_path.relative_to(config.output_dir)),
                "finished": outcome.finished,
                "reused": outcome.reused_from is not None,
                "scores": score(gold, preds, symmetric=symmetric).to_dict(),
                "cost": run_cost(outcome, encoder_pass_s),
                "_predictions": preds,
            }
        )

    calibration = None
    if shared_encoder is not None:
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
        "llm": llm_id,
        "policy": _describe(policy),
        "reconcile": _reconcile_default(),
        "batch_size": config.batch_size,
        "nested": config.nested,
    }
    return build_report(
        config=config,
        gold=gold,
        results=results,
        meta=meta,
        calibration=calibration,
        symmetric=symmetric,
    )


def _reconcile_default() -> str | None:
    try:
        from hybrid_ie import reconcile
    except ImportError:
        return None
    return getattr(reconcile, "DEFAULT_STRATEGY", None)
