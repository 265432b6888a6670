"""The encoder, routing and reconcile options of `extract` and `benchmark`, declared once.

Each option defaults to None, "not given": `given(...)` keeps the options that were given, and
every other value comes from the one place its default is written: `RoutingPolicy` (budget,
escalation, rank), the `Extractor` signature (reconcile, llm_score, nested, quantize; read by
`pipeline.extractor_defaults`) or the LLM configuration. The help texts quote those defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hybrid_ie.errors import InputError
from hybrid_ie.pipeline import extractor_defaults
from hybrid_ie.reconcile import STRATEGIES
from hybrid_ie.router import ESCALATIONS, RANKS, RoutingPolicy

POLICY = RoutingPolicy()
EXTRACTOR = extractor_defaults()

Model = Annotated[
    str | None, typer.Option("--model", help="Encoder checkpoint folder (default: the shipped one).")
]
Nested = Annotated[
    bool | None,
    typer.Option("--nested/--flat", help="Encoder decoding: nested entities allowed, or flat (default: "
                 f"{'nested' if EXTRACTOR['nested'] else 'flat'})."),
]
Escalation = Annotated[
    str | None,
    typer.Option("--escalation", help=f"Hybrid: what the LLM is asked and how its answer merges: "
                 f"{' | '.join(ESCALATIONS)} (default {POLICY.escalation}; router.py)."),
]
Rank = Annotated[
    str | None,
    typer.Option("--rank", help=f"Router: {' | '.join(RANKS)}, which chunks get the budget first "
                 f"(default {POLICY.rank})."),
]
Reconcile = Annotated[
    str | None,
    typer.Option("--reconcile", help=f"{' | '.join(STRATEGIES)} (default {EXTRACTOR['reconcile']}, "
                 "chosen by measurement; see README, 'Reconcile')."),
]
LLMScore = Annotated[
    float | None,
    typer.Option("--llm-score", help=f"Reconcile: the weight of an LLM answer (default {EXTRACTOR['llm_score']}; "
                 "0.9 for a strong LLM, see README, 'Reconcile').", min=0.0, max=1.0),
]
LLMConfigFile = Annotated[
    Path | None,
    typer.Option("--llm-config", help="LLM config file (TOML or JSON); default: $HYBRID_IE_LLM_CONFIG, the "
                 "HYBRID_IE_LLM_* variables, built-in defaults."),
]


def given(**options: Any) -> dict[str, Any]:
    """The options that were given (not None), to pass on; the others keep their defaults."""
    return {name: value for name, value in options.items() if value is not None}


def label_options_schema(schema: str | None, labels: str | None, relations: str | None) -> dict[str, list[str]]:
    """The schema of `--labels` / `--relations` (comma-separated labels), which replace `--schema`:
    `{"entities": [...], "relations": [...]}`, as `load_schema` takes it. InputError names the
    option when they are combined with `--schema`, relations come without entities, or a label is
    empty."""

    def split(text: str, option: str) -> list[str]:
        names = [name.strip() for name in text.split(",")]
        if not all(names):
            raise InputError(f"{option} {text!r}: an empty label (labels are comma-separated: \"person,city\")")
        return names

    if schema is not None:
        raise InputError("--labels/--relations and --schema exclude each other: give labels or a schema")
    if labels is None:
        raise InputError("--relations needs --labels: the entity labels whose mentions the relations join")
    return {"entities": split(labels, "--labels"), "relations": split(relations, "--relations") if relations else []}


__all__ = ["EXTRACTOR", "POLICY", "Escalation", "LLMConfigFile", "LLMScore", "Model", "Nested", "Rank", "Reconcile",
           "given", "label_options_schema"]  # fmt: skip
