"""Where a batch job runs. Both engines run the same steps on the same batches
(`hybrid_ie.batch.batches_of` -> `extract_batch` -> `Extractor.process_batch`); only the
scheduling differs:

- ``local``: this process, batch after batch, one output JSONL (`hybrid_ie.batch.run_job`).
- ``ray``: a Ray Data pipeline over a pool of worker actors, each holding one encoder; the
  output is a folder of shards (`hybrid_ie.engines.ray`, the ``ray`` extra).

    from hybrid_ie import Extractor
    from hybrid_ie.engines import extract_dataset
    summary = extract_dataset(["docs/"], "out/", Extractor("conll04", encoder="ckpt/"), engine="ray", workers=4)

`import hybrid_ie.engines` does not import Ray; the ray engine does, on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybrid_ie.batch import JobSummary, run_job
from hybrid_ie.errors import InputError
from hybrid_ie.job_inputs import ON_BAD_UTF8, InputText, collect_inputs
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE

ENGINES = ("local", "ray")
DEFAULT_ENGINE = "local"


def extract_dataset(
    inputs: Sequence[InputText] | Sequence[str | Path],
    output: str | Path,
    extractor: Any,
    *,
    engine: str = DEFAULT_ENGINE,
    resume: bool = False,
    overwrite: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_bad_utf8: str = ON_BAD_UTF8,
    **engine_options: Any,
) -> JobSummary:
    """Extract every input (paths as `collect_inputs` reads them, or its `InputText`s) into
    `output` (local: a JSONL file; ray: a folder of shards) and return the job summary (also
    written beside the output; an existing output needs `resume` or `overwrite`). `engine_options` go to the engine's `run_job` (ray:
    `RayOptions` fields such as ``workers``, ``llm_concurrency``, ``address``)."""
    if engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    warnings: list[str] = list(engine_options.pop("warnings", ()))
    if inputs and not isinstance(inputs[0], InputText):
        inputs, read_warnings = collect_inputs(list(inputs), on_bad_utf8)
        warnings += read_warnings
    if engine == "local":
        extra = set(engine_options) - {"on_document", "settings"}
        if extra:
            raise InputError(f"{', '.join(sorted(extra))}: options of the ray engine, not of the local one")
        return run_job(inputs, output, extractor, resume=resume, overwrite=overwrite, batch_size=batch_size,
                       warnings=warnings, **engine_options)  # fmt: skip
    from hybrid_ie.engines import ray as ray_engine

    return ray_engine.run_job(inputs, output, extractor, resume=resume, overwrite=overwrite, batch_size=batch_size,
                              warnings=warnings, **engine_options)  # fmt: skip


__all__ = ["DEFAULT_ENGINE", "ENGINES", "extract_dataset"]
