"""What identifies a benchmark run: the code's commit, the encoder checkpoint's content hash, the
LLM configuration (secrets and cache location left out) with a hash of the prompts, and the
fingerprint of everything that decides a run's output (`outcome` stores it for `--resume`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from hybrid_ie.benchmark.outcome import RunSpec
from hybrid_ie.paths import REPO_ROOT


def git(*args: str) -> str | None:
    """What `git ARGS` prints in the repository (stripped), or None when git cannot say."""
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def git_commit() -> str | None:
    return git("rev-parse", "--short", "HEAD")


def load_average() -> list[float] | None:
    """The machine's 1/5/15-minute load averages (times and sentences/s depend on it)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def describe(obj: Any) -> Any:
    if obj is None:
        return None
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: v for k, v in asdict(obj).items() if not k.lower().endswith(("key", "api_key"))}
    if hasattr(obj, "model_dump"):
        return {k: v for k, v in obj.model_dump(mode="json").items() if "key" not in k.lower()}
    return repr(obj)


def encoder_identity(model: str | None, encoder: Any) -> str:
    """What identifies the encoder in a run's fingerprint: the checkpoint folder's name and a
    hash of its files' contents (so a copy of a checkpoint is the same encoder, and a retrained
    one in the same folder is not)."""
    if encoder is not None:
        return type(encoder).__name__
    from hybrid_ie.checkpoints import DEFAULT_CHECKPOINT, EncoderLoadError, resolve

    try:
        folder = resolve(model) or Path(str(model))
    except EncoderLoadError:  # no default checkpoint: a run that needs it fails when it loads it
        folder = Path(DEFAULT_CHECKPOINT)
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
    described = describe(config)
    if isinstance(described, dict):
        described = {k: v for k, v in described.items() if k not in ("cache", "cache_path")}
        described["prompts"] = prompts_digest()
    return described


def prompts_digest() -> str:
    """A hash of the prompt templates and few-shot files (an answer depends on them)."""
    from hybrid_ie.paths import PROMPTS_DIR

    digest = hashlib.sha256()
    for name, entry in sorted(_package_files(PROMPTS_DIR) if PROMPTS_DIR.is_dir() else [], key=lambda x: x[0]):
        digest.update(name.encode() + b"\0" + entry.read_bytes())
    return digest.hexdigest()[:12]


def _package_files(folder: Traversable, prefix: str = "") -> Iterator[tuple[str, Traversable]]:
    """The files under a package-data folder, each with its path below it ("examples/ade.json")."""
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _package_files(entry, f"{prefix}{entry.name}/")
        else:
            yield prefix + entry.name, entry


def run_fingerprint(
    spec: RunSpec, base: dict[str, Any], encoder_id: str, llm_id: Any, policy: Any, reconcile: str | None
) -> dict:
    fingerprint = {**base, "mode": spec.mode, "budget": spec.budget}
    if spec.uses_encoder:
        fingerprint["encoder"] = encoder_id
    if spec.uses_llm:
        fingerprint["llm"] = llm_id
    if spec.mode == "hybrid":
        fingerprint["policy"] = describe(policy)
        fingerprint["reconcile"] = reconcile
    return fingerprint
