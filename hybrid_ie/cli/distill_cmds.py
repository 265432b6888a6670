"""`hybrid-ie distill`: the LLM labels a sample of your documents, the encoder learns from it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from hybrid_ie.cli.common import err_console, user_errors
from hybrid_ie.distill.core import DistillConfig

Opt = typer.Option
D = DistillConfig  # the one place the defaults are written: each option below defaults to None = D's


def distill(
    output: Annotated[Path, Opt("-o", "--output", help="Where the distilled checkpoint goes.")],
    config: Annotated[Path | None, Opt("--config", help="TOML or JSON file of distill settings (DistillConfig "
                                        "fields); a given option overrides it.")] = None,
    schema: Annotated[str | None, Opt("--schema", help="Schema name or JSON file: the labels to teach.")] = None,
    texts: Annotated[list[Path] | None, Opt("--texts", help="Documents the LLM labels: .txt/.pdf/.html/.docx files, "
                                             "folders, JSONL of {id, text} (repeatable).")] = None,
    silver: Annotated[list[Path] | None, Opt("--silver", help="Silver JSONL to train on as is (from --silver-out of "
                                              "distill or extract; repeatable); no LLM call.")] = None,
    limit: Annotated[int | None, Opt("--limit", help="Label N chunks (seeded sample; default: all).")] = None,
    llm_config: Annotated[Path | None, Opt("--llm-config", help="LLM config file (TOML or JSON).")] = None,
    verify: Annotated[bool | None, Opt("--verify/--extract", help="The LLM verifies the encoder's candidates "
                                       f"instead of extracting (default: {'verify' if D.verify else 'extract'}).")] = None,
    base: Annotated[str | None, Opt("--base", help="Encoder checkpoint to start from (default: the default checkpoint).")] = None,
    replay: Annotated[float | None, Opt("--replay", help="Share of training examples replayed from the base's mixture "
                                        f"(0: silver only; default {D.replay}).", min=0.0, max=0.99)] = None,
    replay_sets: Annotated[str | None, Opt("--replay-sets", help="Comma-separated sets to replay instead of the "
                                           "base's mixture.")] = None,
    replay_limit: Annotated[int | None, Opt("--replay-limit", help="Read only N texts of each replayed set.")] = None,
    steps: Annotated[int | None, Opt("--steps", help=f"Optimiser steps (default {D.steps}).", min=1)] = None,
    batch_size: Annotated[int | None, Opt("--batch-size", help=f"Examples per step (default {D.batch_size}).",
                                          min=1)] = None,
    negatives: Annotated[str | None, Opt("--negatives", help="Unlabelled spans of a silver text: soft (negatives at "
                                         f"--negative-weight) | full | partial (not negatives); default {D.negatives}."
                                         )] = None,
    negative_weight: Annotated[float | None, Opt("--negative-weight", help="Loss weight of a silver negative (soft; "
                                                 f"default {D.negative_weight}).")] = None,
    relations: Annotated[bool | None, Opt("--relations/--no-relations", help="Train on the silver relations too "
                                          f"(default {D.relations}); --no-relations: entities only (the relation head keeps "
                                          "learning from replay; for an LLM whose relations are poor).")] = None,
    min_grounding: Annotated[float | None, Opt("--min-grounding", help="Keep a fuzzy-grounded LLM entity only at "
                                               f"this similarity to its span text (default {D.min_grounding}).")] = None,
    weight_both: Annotated[float | None, Opt("--weight-both", help="Loss weight of items the encoder also predicts "
                                             f"(default {D.weight_both}).")] = None,
    weight_llm: Annotated[float | None, Opt("--weight-llm", help=f"Loss weight of LLM-only items (default "
                                            f"{D.weight_llm}).")] = None,
    holdout: Annotated[float | None, Opt("--holdout", help="Share of silver documents held out for calibration "
                                         f"(default {D.holdout}).")] = None,
    silver_out: Annotated[Path | None, Opt("--silver-out", help="Write the LLM-labelled silver set here (JSONL).")] = None,
    seed: Annotated[int | None, Opt("--seed", help=f"Sample, split and training seed (default {D.seed}).")] = None,
    threads: Annotated[int | None, Opt("--threads", help=f"CPU threads for torch (default {D.threads}).")] = None,
    keep_state: Annotated[bool | None, Opt("--keep-state/--drop-state", help="Keep OUTPUT/train (optimizer state) "
                                           f"at the end (default {D.keep_state}).")] = None,
    progress: Annotated[bool | None, Opt("--progress/--no-progress", help="Progress bars on stderr.")] = None,
) -> None:
    """Teach the encoder your labels: the LLM labels a sample of your documents, the answers that are
    schema-valid and grounded in the text form a silver set, and the base encoder is fine-tuned on it
    with replay of its training mixture, then recalibrated. Run it again after a kill: cached LLM
    answers are not asked again and training resumes from OUTPUT/train/last. Every setting can
    also come from --config (DistillConfig's fields, e.g. lr_backbone, nested, data_dir)."""
    from hybrid_ie.distill import Distiller
    from hybrid_ie.settings_files import dataclass_from_settings

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    with user_errors():
        settings = dataclass_from_settings(
            DistillConfig, config, "distill",
            schema=schema, output_dir=str(output), texts=[str(p) for p in texts] if texts else None,
            silver=[str(p) for p in silver] if silver else None, limit=limit, seed=seed,
            llm_config=str(llm_config) if llm_config else None, verify=verify, base=base,
            min_grounding=min_grounding, weight_llm=weight_llm, weight_both=weight_both, negatives=negatives,
            negative_weight=negative_weight, relations=relations, replay=replay,
            replay_sets=replay_sets.split(",") if replay_sets else None, replay_limit=replay_limit, steps=steps,
            batch_size=batch_size, holdout=holdout, threads=threads,
            silver_out=str(silver_out) if silver_out else None, keep_state=keep_state, progress=progress,
        )  # fmt: skip
        result = Distiller(settings).run()
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
