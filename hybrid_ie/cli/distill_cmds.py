"""`hybrid-ie distill`: the LLM labels a sample of your documents, the encoder learns from it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from hybrid_ie.cli.common import err_console, user_errors

Opt = typer.Option


def distill(
    schema: Annotated[str, Opt("--schema", help="Schema name or JSON file: the labels to teach.")],
    output: Annotated[Path, Opt("-o", "--output", help="Where the distilled checkpoint goes.")],
    texts: Annotated[list[Path] | None, Opt("--texts", help="Documents the LLM labels: .txt/.pdf/.html/.docx files, "
                                             "folders, JSONL of {id, text} (repeatable).")] = None,
    silver: Annotated[list[Path] | None, Opt("--silver", help="Silver JSONL to train on as is (from --silver-out of "
                                              "distill or extract; repeatable); no LLM call.")] = None,
    limit: Annotated[int | None, Opt("--limit", help="Label N chunks (seeded sample; default: all).")] = None,
    llm_config: Annotated[Path | None, Opt("--llm-config", help="LLM config file (TOML or JSON).")] = None,
    verify: Annotated[bool, Opt("--verify", help="The LLM verifies the encoder's candidates instead of extracting.")] = False,
    base: Annotated[str | None, Opt("--base", help="Encoder to start from (default: models/hybrid-ie-minilm-zs).")] = None,
    replay: Annotated[float, Opt("--replay", help="Share of training examples replayed from the base's mixture "
                                 "(0: silver only).", min=0.0, max=0.99)] = 0.5,
    replay_sets: Annotated[str | None, Opt("--replay-sets", help="Comma-separated sets to replay instead of the "
                                           "base's mixture.")] = None,
    replay_limit: Annotated[int | None, Opt("--replay-limit", help="Read only N texts of each replayed set.")] = None,
    steps: Annotated[int, Opt("--steps", help="Optimiser steps.", min=1)] = 300,
    batch_size: Annotated[int, Opt("--batch-size", help="Examples per step.", min=1)] = 8,
    negatives: Annotated[str, Opt("--negatives", help="Unlabelled spans of a silver text: soft (negatives at "
                                  "--negative-weight) | full | partial (not negatives).")] = "soft",
    negative_weight: Annotated[float, Opt("--negative-weight", help="Loss weight of a silver negative (soft).")] = 0.3,
    relations: Annotated[bool, Opt("--relations/--no-relations", help="Train on the silver relations too; "
                                   "--no-relations: entities only (the relation head keeps learning from "
                                   "replay; for an LLM whose relations are poor).")] = True,
    min_grounding: Annotated[float, Opt("--min-grounding", help="Keep a fuzzy-grounded LLM entity only at this "
                                        "similarity to its span text.")] = 0.9,
    weight_both: Annotated[float, Opt("--weight-both", help="Loss weight of items the encoder also predicts.")] = 2.0,
    weight_llm: Annotated[float, Opt("--weight-llm", help="Loss weight of LLM-only items.")] = 1.0,
    holdout: Annotated[float, Opt("--holdout", help="Share of silver documents held out for calibration.")] = 0.2,
    silver_out: Annotated[Path | None, Opt("--silver-out", help="Write the LLM-labelled silver set here (JSONL).")] = None,
    seed: Annotated[int, Opt("--seed", help="Sample, split and training seed.")] = 13,
    threads: Annotated[int, Opt("--threads", help="CPU threads for torch.")] = 1,
    keep_state: Annotated[bool, Opt("--keep-state", help="Keep OUTPUT/train (optimizer state) at the end.")] = False,
    progress: Annotated[bool, Opt("--progress/--no-progress", help="Progress bars on stderr.")] = True,
) -> None:
    """Teach the encoder your labels: the LLM labels a sample of your documents, the answers that are
    schema-valid and grounded in the text form a silver set, and the base encoder is fine-tuned on it
    with replay of its training mixture, then recalibrated. Run it again after a kill: cached LLM
    answers are not asked again and training resumes from OUTPUT/train/last."""
    from hybrid_ie.distill import DistillConfig, Distiller

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with user_errors():
        config = DistillConfig(
            schema=schema, output_dir=str(output), texts=[str(p) for p in texts or []],
            silver=[str(p) for p in silver or []], limit=limit, seed=seed,
            llm_config=str(llm_config) if llm_config else None, verify=verify, base=base,
            min_grounding=min_grounding, weight_llm=weight_llm, weight_both=weight_both, negatives=negatives,
            negative_weight=negative_weight, relations=relations, replay=replay,
            replay_sets=replay_sets.split(",") if replay_sets else None, replay_limit=replay_limit, steps=steps,
            batch_size=batch_size, holdout=holdout, threads=threads,
            silver_out=str(silver_out) if silver_out else None, keep_state=keep_state, progress=progress,
        )  # fmt: skip
        result = Distiller(config).run()
    u, s = result.usage, result.stats
    err_console.print(
        f"silver: {s['documents']} documents, {s['entities']} entities, {s['relations']} relations "
        f"(answers ok {s['answers_ok']}, failed {s['answers_failed']}; ungrounded {s['ungrounded']}, "
        f"low grounding {s['dropped_low_grounding']})", highlight=False, soft_wrap=True,
    )
    err_console.print(
        f"LLM: {u['calls']} calls ({u['cache_hits']} cached), {u['prompt_tokens']:,} prompt + "
        f"{u['completion_tokens']:,} completion tokens, cost ${u['cost']:.4f}", highlight=False, soft_wrap=True,
    )
    typer.echo(json.dumps({"output": str(result.output_dir), "seconds": result.seconds}, indent=2))
    err_console.print(f"distilled checkpoint written to {output} (model card: {output / 'README.md'})")


def register(app: typer.Typer) -> None:
    app.command("distill")(distill)
