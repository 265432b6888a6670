"""The runs of a benchmark, what each one measured, and its sidecar file for `--resume`.

After a run finishes, its measurements (wall time, encoder time, every LLM call record, chunk
and escalation counts) are written next to its predictions as `preds/<run>.run.json`, with a
fingerprint of everything that decides its output: the documents, the schema, the mode and
budget, the encoder, the LLM configuration, the routing policy, the batch size and the seed.
`--resume` re-uses a run whose sidecar has the same fingerprint and whose predictions file is
complete, instead of running it again; its numbers are the ones measured when it ran.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hybrid_ie.benchmark.metering import CallRecord, ComputedCost
from hybrid_ie.document import Document

SIDECAR_SUFFIX = ".run.json"


@dataclass(frozen=True)
class RunSpec:
    """One run: a mode, for hybrid mode its escalation budget, and the LLM when the benchmark
    compares several (`--llm`: the name gets ``@<llm>``, e.g. ``hybrid-0.2@oracle:0.1``)."""

    mode: str
    budget: float | None = None
    llm: str | None = None

    @property
    def name(self) -> str:
        base = self.mode if self.budget is None else f"{self.mode}-{self.budget:g}"
        return base if self.llm is None or self.mode == "encoder" else f"{base}@{self.llm}"

    @property
    def uses_encoder(self) -> bool:
        return self.mode != "llm"

    @property
    def uses_llm(self) -> bool:
        return self.mode != "encoder"


def plan_runs(modes: Iterable[str], budgets: Iterable[float], llms: Sequence[str | None] = (None,)) -> list[RunSpec]:
    """Encoder-only first; then per LLM, hybrid budgets ascending (so the cache serves higher
    budgets) and LLM-only last."""
    modes = set(modes)
    runs = [RunSpec("encoder")] if "encoder" in modes else []
    for llm in llms or (None,):
        if "hybrid" in modes:
            runs += [RunSpec("hybrid", b, llm) for b in sorted(set(budgets))]
        if "llm" in modes:
            runs.append(RunSpec("llm", None, llm))
    return runs


@dataclass
class RunOutcome:
    """What one run measured. `encoder_pass_s`: the time of one encoder pass over the document
    set as known when the run ended (the runs share that pass); `reused_from`: the date of the
    earlier invocation a resumed run comes from."""

    spec: RunSpec
    preds_path: Path
    wall_s: float = 0.0
    encoder_s: float = 0.0
    calls: list[CallRecord] = field(default_factory=list)
    chunks: int = 0
    escalated: int = 0
    failed_documents: int = 0
    documents: int = 0
    encoder_pass_s: float = 0.0
    finished: str = ""
    reused_from: str | None = None


def documents_digest(docs: Sequence[Document]) -> str:
    """A hash of the documents' ids and texts (what the runs read)."""
    digest = hashlib.sha256()
    for doc in docs:
        digest.update(json.dumps([doc.id, doc.text], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def sidecar_path(preds_path: Path) -> Path:
    return preds_path.with_name(preds_path.name.removesuffix(".jsonl") + SIDECAR_SUFFIX)


def save_outcome(outcome: RunOutcome, fingerprint: dict[str, Any]) -> Path:
    """Write the run's sidecar (after its predictions file is complete)."""
    outcome.finished = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    data = {
        "fingerprint": fingerprint,
        "spec": asdict(outcome.spec),
        "outcome": {
            k: v for k, v in asdict(outcome).items() if k not in ("spec", "preds_path", "reused_from")
        },
    }
    path = sidecar_path(outcome.preds_path)
    path.write_text(json.dumps(data, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return path


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def load_outcome(preds_path: Path, fingerprint: dict[str, Any], documents: int) -> RunOutcome | None:
    """The earlier outcome of this run, or None when there is none, its fingerprint differs, or
    its predictions file does not hold `documents` lines."""
    path = sidecar_path(preds_path)
    if not (path.exists() and preds_path.exists()):
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if data.get("fingerprint") != json.loads(json.dumps(fingerprint, default=str)):
        return None
    if _count_lines(preds_path) != documents:
        return None
    saved = dict(data["outcome"])
    calls = [
        CallRecord(**{**c, "standalone": ComputedCost(**c["standalone"]) if c.get("standalone") else None})
        for c in saved.pop("calls")
    ]
    outcome = RunOutcome(spec=RunSpec(**data["spec"]), preds_path=preds_path, calls=calls, **saved)
    outcome.reused_from = outcome.finished
    return outcome


def run_cost(outcome: RunOutcome, encoder_pass_s: float) -> dict[str, Any]:
    """The cost numbers of one run (see `runner`'s module docstring for the times)."""
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
