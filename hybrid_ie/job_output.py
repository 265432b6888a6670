"""Where a batch job writes, and the rules that keep an earlier job's output safe.

- `check_output_path`: an existing output (or its lock, partial or summary file) must be a
  regular file; a device, a folder, a FIFO or a socket is refused with one line, so a job never
  unlinks or replaces anything but a file of its own.
- `OutputLock`: an advisory lock (``fcntl.flock``) on ``<OUT>.lock`` held for the job's
  lifetime. A second job on the same output stops at once with an `OutputLockedError` naming
  the first job's pid. The lock file holds the holder's pid and is removed on release.
- `plan_output`: decides where the documents go, after every other check has passed:

  * a fresh job (no output, or ``overwrite``) writes ``<OUT>.partial`` and renames it over
    ``OUT`` when it finishes (`JobOutput.commit`), so until then the earlier output is intact;
  * an existing non-empty output, or a ``<OUT>.partial`` left by a killed job, needs ``resume``
    (continue it) or ``overwrite`` (start again); neither is an error naming both;
  * ``resume`` continues the partial file when there is one (then renames it), else appends to
    ``OUT`` itself. The settings recorded by the job that made the file (``schema``, its
    fingerprint, ``mode``, ``model``, ``quantize``; `RESUME_KEYS`) must equal this job's, or the
    resume is refused naming the first difference.

Settings are recorded in the summary beside the file being written (``<OUT>.partial`` gets its
own, written when the job starts; ``OUT``'s is written when a job finishes).
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from hybrid_ie.errors import InputError

RESUME_KEYS = ("schema", "schema_fingerprint", "mode", "model", "quantize")
KINDS = {stat.S_IFDIR: "a folder", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
         stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}  # fmt: skip


class OutputLockedError(InputError):
    """Another job holds the output's lock."""


def partial_path(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


def summary_path(output: Path) -> Path:
    """``<OUT stem>.summary.json`` beside ``OUT``."""
    output = Path(output)
    return output.with_name(output.name.removesuffix(output.suffix) + ".summary.json")


def check_output_path(output: Path, *, folder: bool = False) -> None:
    """Refuse an output (or a file the job writes beside it) that exists and is not a regular
    file (`folder=True`: not a folder, for the sharded engine)."""
    paths = [output] if folder else [output, partial_path(output)]
    paths += [lock_path(output), summary_path(output)]
    for i, path in enumerate(paths):
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise InputError(f"{path}: cannot use it as the output ({exc.strerror or exc})") from exc
        wanted = stat.S_ISDIR if folder and i == 0 else stat.S_ISREG
        if not wanted(mode):
            kind = KINDS.get(stat.S_IFMT(mode), "not a regular file")
            need = "a folder" if folder and i == 0 else "a regular file"
            raise InputError(f"{path}: is {kind}; the output must be {need} (give another -o path)")


class OutputLock:
    """An exclusive advisory lock on ``<OUT>.lock`` (`fcntl.flock`, non-blocking)."""

    def __init__(self, output: str | Path):
        self.output = Path(output)
        self.path = lock_path(self.output)
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"{self.output}: cannot write the output ({exc.strerror or exc})") from exc
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise InputError(f"{self.path}: cannot create the output lock ({exc.strerror or exc})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 64).decode("ascii", "replace").strip() or "unknown"
                os.close(fd)
                raise OutputLockedError(
                    f"{self.output}: another job (pid {holder}) is writing this output; wait for it or give another -o"
                ) from None
            try:  # the holder before us may have removed the file after we opened it: lock the live one
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)  # closing drops the lock
        self._fd = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class JobOutput:
    """Where this job appends its documents (`target`) and how the output is finished."""

    output: Path
    target: Path
    resumed: bool  # the target's documents are kept (resume), not started afresh
    warnings: list[str]

    @property
    def temporary(self) -> bool:
        return self.target != self.output

    def commit(self) -> None:
        """Make the finished target the output (rename a partial file over OUT)."""
        if self.temporary:
            os.replace(self.target, self.output)
            summary_path(self.target).unlink(missing_ok=True)


def count_lines(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            count += block.count(b"\n")
    return count


def recorded_settings(path: Path) -> dict[str, Any] | None:
    """The settings in the summary beside `path`, or None when there is none to read."""
    try:
        data = json.loads(summary_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    settings = data.get("settings") if isinstance(data, dict) else None
    return settings if isinstance(settings, dict) else None


def check_same_settings(path: Path, settings: dict[str, Any] | None) -> str | None:
    """Raise when `path` was made with other `RESUME_KEYS` settings than `settings`; returns a
    warning when there is nothing recorded to check against."""
    if not settings:
        return None
    before = recorded_settings(path)
    if before is None:
        return f"{path}: no settings recorded beside it ({summary_path(path).name}); resuming without a check"
    for key in RESUME_KEYS:
        if key in before and key in settings and before[key] != settings[key]:
            raise InputError(
                f"{path}: made with {key}={before[key]!r}, this job has {key}={settings[key]!r}; "
                "resume only with the same settings (or --overwrite)"
            )
    return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def plan_output(output: Path, *, resume: bool, overwrite: bool, settings: dict[str, Any] | None) -> JobOutput:
    """Decide the job's target (see the module doc); call it holding the `OutputLock`."""
    if resume and overwrite:
        raise InputError("--resume and --overwrite exclude each other")
    partial = partial_path(output)
    out_size, partial_size = _size(output), _size(partial)
    warnings: list[str] = []
    if resume:
        target = output if partial_size < 0 and out_size >= 0 else partial
        if _size(target) > 0:
            warning = check_same_settings(target, settings)
            warnings += [warning] if warning else []
        return JobOutput(output, target, resumed=True, warnings=warnings)
    if not overwrite:
        if partial_size > 0:
            raise InputError(
                f"{partial}: a stopped job's {count_lines(partial)} documents are here; "
                "--resume continues that job, --overwrite starts again"
            )
        if out_size > 0:
            raise InputError(
                f"{output}: exists with {count_lines(output)} documents; "
                "--resume continues it, --overwrite replaces it when this job finishes"
            )
    elif out_size > 0:
        warnings.append(f"{output}: overwrote {count_lines(output)} documents of an earlier run")
    return JobOutput(output, partial, resumed=False, warnings=warnings)


__all__ = [
    "RESUME_KEYS",
    "JobOutput",
    "OutputLock",
    "OutputLockedError",
    "check_output_path",
    "check_same_settings",
    "count_lines",
    "lock_path",
    "partial_path",
    "plan_output",
    "summary_path",
]
