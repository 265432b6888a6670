"""Encoder commands: `hybrid-ie train` (train the joint encoder), `hybrid-ie average` (a model
soup of several checkpoints) and `hybrid-ie calibrate` (fit temperatures on dev data and write a
shippable checkpoint)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from hybrid_ie.cli.common import err_console, user_errors
from hybrid_ie.cli.options import given

Opt = typer.Option


def train(
    config: Annotated[Path | None, Opt("--config", help="JSON file of training settings: sections model / data / sampling / optim / run "
                                      "(hybrid_ie/training/config.py), or their keys flat.")] = None,
    backbone: Annotated[str | None, Opt(help="Backbone path or id (default: packaged all-MiniLM-L6-v2).")] = None,
    init_from: Annotated[str | None, Opt(help="Continue from a trained checkpoint (e.g. models/hybrid-ie-minilm).")] = None,
    datasets: Annotated[
        str | None, Opt(help="Comma-separated training sets of the data dir (e.g. conll04,scierc,ade), or 'all'.")
    ] = None,
    exclude: Annotated[str | None, Opt(help="Comma-separated sets to leave out (e.g. held-out sets).")] = None,
    output_dir: Annotated[Path | None, Opt("-o", "--output-dir", help="Where the best checkpoint goes.")] = None,
    max_steps: Annotated[int | None, Opt(help="Stop after this many optimiser steps.")] = None,
    batch_size: Annotated[int | None, Opt(help="Sentences per step.")] = None,
    lr_backbone: Annotated[float | None, Opt(help="Learning rate of the backbone.")] = None,
    lr_heads: Annotated[float | None, Opt(help="Learning rate of the span/pair/label heads.")] = None,
    seed: Annotated[int | None, Opt(help="Random seed.")] = None,
    threads: Annotated[int | None, Opt(help="CPU threads for torch.")] = None,
    limit: Annotated[int | None, Opt(help="Use only the first N sentences of each train split.")] = None,
    dev_limit: Annotated[int | None, Opt(help="Use only the first N dev sentences.")] = None,
    eval_every: Annotated[int | None, Opt(help="Evaluate on the dev sets every N steps.")] = None,
    no_resume: Annotated[bool, Opt("--no-resume", help="Start over even if OUTPUT_DIR/last exists.")] = False,
    no_shape: Annotated[bool, Opt("--no-shape", help="Disable the word-shape (case) embedding.")] = False,
) -> None:
    """Train the joint encoder on a mixture of data sets; keeps the checkpoint best on the dev
    sets (OUTPUT_DIR/best) and resumes from OUTPUT_DIR/last when run again."""
    from hybrid_ie.training.config import TrainConfig
    from hybrid_ie.training.trainer import train as run_training

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    overrides = {
        "backbone": backbone,
        "init_from": init_from,
        "datasets": (datasets if datasets == "all" else datasets.split(",")) if datasets else None,
        "exclude_datasets": exclude.split(",") if exclude else None,
        "output_dir": str(output_dir) if output_dir else None,
        "max_steps": max_steps,
        "batch_size": batch_size,
        "lr_backbone": lr_backbone,
        "lr_heads": lr_heads,
        "seed": seed,
        "threads": threads,
        "limit": limit,
        "dev_limit": dev_limit,
        "eval_every": eval_every,
        "use_shape": False if no_shape else None,
        "resume": False if no_resume else None,
    }
    with user_errors():
        if config is not None:
            cfg = TrainConfig.from_file(config, **overrides)
        else:
            cfg = TrainConfig().updated(**overrides)
        best = run_training(cfg)
    err_console.print(f"best dev scores: {best}; checkpoint in {Path(cfg.run.output_dir) / 'best'}")


def calibrate(
    checkpoint: Annotated[Path, typer.Argument(help="Trained checkpoint folder (e.g. runs/main/best).")],
    output: Annotated[Path, Opt("-o", "--output", help="Where to write the calibrated checkpoint.")],
    dev: Annotated[str, Opt(help="Comma-separated datasets whose dev split is the calibration set.")] = (
        "conll04,scierc,ade"
    ),
    dev_limit: Annotated[int | None, Opt(help="Use only the first N sentences of each dev split.")] = None,
    tune_on: Annotated[
        str | None,
        Opt(help="Comma-separated sets whose dev splits pick the thresholds (best mean F1; none: keep)."),
    ] = "conll04",
    centering_grid: Annotated[
        str,
        Opt(help="Comma-separated label-centering strengths tried with every entity threshold by --tune-on "
                 "(0: off; e.g. 0,0.15,0.3,0.45). See README, 'Calibrate'."),
    ] = "0",
    label_thresholds_on: Annotated[
        str | None,
        Opt(help="Comma-separated sets whose dev splits may give single entity labels their own threshold "
                 "(after --tune-on; kept only where it raises their dev F1)."),
    ] = None,
    backoff_grid: Annotated[
        str,
        Opt(help="Comma-separated relation_backoff strengths tried last, on the --tune-on sets whose relation "
                 "labels training never showed (0: off; e.g. 0,0.5,0.75,1). See README, 'Calibrate'."),
    ] = "0",
    half: Annotated[bool, Opt("--half/--full", help="Store the weights as fp16.")] = True,
) -> None:
    """Fit entity/relation temperatures on dev data, pick thresholds on dev sets, and save the
    checkpoint with them (the ECE and threshold reports go into its config.json). Sets are
    folders of the data dir (`hybrid-ie data list`)."""
    import json

    from hybrid_ie.datasets import get_set
    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.errors import InputError
    from hybrid_ie.schema import prompt_key
    from hybrid_ie.training.calibration import calibrate as fit
    from hybrid_ie.training.calibration import (
        tune_all,
        tune_label_thresholds,
        tune_relation_backoff,
        tune_thresholds,
    )
    from hybrid_ie.training.mixture import relation_prompt_pool

    loaded: dict[str, tuple] = {}

    def dev_set(name: str):  # a set named in both --dev and --tune-on is read once
        if name not in loaded:
            ds = get_set(name)
            loaded[name] = (ds.schema(), ds.load("dev")[:dev_limit])
        return loaded[name]

    with user_errors():
        grid = _grid(centering_grid, "--centering-grid", "numbers >= 0")
        backoffs = _grid(backoff_grid, "--backoff-grid", "numbers in [0, 1]", high=1.0)
        encoder = JointEncoder.from_pretrained(checkpoint)
        fit(encoder, [dev_set(name) for name in dev.split(",")])
        calibration = encoder.config.calibration  # the full reports are stored; the summary printed
        report = dict(calibration)
        tune_sets = [dev_set(name) for name in tune_on.split(",")] if tune_on else []
        label_sets = [dev_set(name) for name in label_thresholds_on.split(",")] if label_thresholds_on else []
        own = None
        if tune_sets and label_sets and len(grid) > 1:  # each strength scored with its label thresholds
            tuned, own = tune_all(encoder, tune_sets, label_sets, grid)
        elif tune_sets:
            tuned = tune_thresholds(encoder, tune_sets, centering_grid=grid)
        if tune_sets:
            calibration["thresholds"] = tuned
            report["thresholds"] = tuned["selected"]
        if label_sets and own is None:
            own = tune_label_thresholds(encoder, label_sets)
        if own is not None:
            calibration["label_thresholds"] = own
            report["label_thresholds"] = {k: own[k] for k in own if k != "labels"}
        if backoffs != [0.0]:
            if not tune_sets:
                raise InputError("--backoff-grid needs --tune-on sets to choose on")
            if not encoder.config.known_relation_labels:  # trained before it was stored
                pool = relation_prompt_pool()
                encoder.config.known_relation_labels = [k for k in encoder.config.known_labels if prompt_key(k) in pool]
            calibration["relation_backoff"] = tune_relation_backoff(encoder, tune_sets, backoffs)
            report["relation_backoff"] = calibration["relation_backoff"]["selected"]
        encoder.save_pretrained(output, half=half)
    typer.echo(json.dumps(report, indent=2))
    err_console.print(f"calibrated checkpoint written to {output}")


def _grid(value: str, option: str, what: str, high: float = float("inf")) -> list[float]:
    """A comma-separated grid of numbers in [0, high], or a clear error naming the option."""
    from hybrid_ie.errors import InputError

    try:
        grid = [float(x) for x in value.split(",")]
    except ValueError:
        grid = []
    if not grid or min(grid) < 0 or max(grid) > high:
        raise InputError(f"{option} {value!r}: give comma-separated {what}")
    return grid


def average(
    checkpoints: Annotated[list[Path], typer.Argument(help="Two or more checkpoint folders of the same network.")],
    output: Annotated[Path, Opt("-o", "--output", help="Where to write the averaged (uncalibrated) checkpoint.")],
    half: Annotated[bool | None, Opt("--half/--full", help="Store the weights as fp16 or as fp32 "
                                       "(default: as `average_checkpoints` does).")] = None,
) -> None:
    """Average the weights of several checkpoints (a "model soup" of runs that continue one
    checkpoint); calibrate the result with `hybrid-ie calibrate` before use."""
    from hybrid_ie.training.averaging import average_checkpoints

    with user_errors():
        out = average_checkpoints(checkpoints, output, **given(half=half))
    err_console.print(f"average of {len(checkpoints)} checkpoints written to {out}; calibrate it next")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("calibrate")(calibrate)
    app.command("average")(average)
