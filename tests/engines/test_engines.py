"""The engine layer without Ray: `import hybrid_ie` and the local engine never import ray, a
missing extra is a one-line error, shards are written whole and read back, bad options fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.tiny_encoder import tiny_encoder

from hybrid_ie.engines import extract_dataset
from hybrid_ie.engines.shards import ShardWriter, clean_partial, read_shards, shard_files
from hybrid_ie.errors import InputError
from hybrid_ie.pipeline import Extractor


def test_the_package_and_the_local_engine_do_not_import_ray(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Ann left."}\n', encoding="utf-8")
    code = (
        "import sys, hybrid_ie, hybrid_ie.engines, hybrid_ie.cli\n"
        "from hybrid_ie.engines import extract_dataset\n"
        "from hybrid_ie.pipeline import Extractor\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from support.tiny_encoder import tiny_encoder\n"
        f"extract_dataset([{str(tmp_path / 'in.jsonl')!r}], {str(tmp_path / 'out.jsonl')!r},\n"
        "                Extractor('conll04', encoder=tiny_encoder(), mode='encoder'))\n"
        "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'ray was imported'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1


def test_a_missing_ray_extra_is_one_line_naming_the_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Ann left."}\n', encoding="utf-8")
    extractor = Extractor("conll04", encoder=str(tmp_path), mode="encoder")
    with pytest.raises(InputError) as info:
        extract_dataset([tmp_path / "in.jsonl"], tmp_path / "out", extractor, engine="ray")
    assert str(info.value) == "the ray engine needs Ray: pip install hybrid-ie[ray]"


def test_engine_options_are_checked(tmp_path):
    extractor = Extractor("conll04", encoder=tiny_encoder(), mode="encoder")
    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Ann left."}\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown engine 'spark'"):
        extract_dataset([tmp_path / "in.jsonl"], tmp_path / "o.jsonl", extractor, engine="spark")
    with pytest.raises(InputError, match="workers: options of the ray engine"):
        extract_dataset([tmp_path / "in.jsonl"], tmp_path / "o.jsonl", extractor, workers=2)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_shards_are_written_whole_and_read_back_in_order(tmp_path, fmt):
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="the ray extra is not installed (pip install hybrid-ie[ray])")
    docs = [{"id": f"d{i}", "text": "x", "entities": [], "relations": [], "meta": {}} for i in range(5)]
    writer = ShardWriter(tmp_path, fmt, size=2)
    for doc in docs:
        writer.add(json.dumps(doc))
    assert [p.name for p in shard_files(tmp_path)] == [f"part-0000{i}.{fmt}" for i in range(2)]
    writer.close()
    assert len(shard_files(tmp_path)) == 3 and not list(tmp_path.glob("*.tmp"))
    assert list(read_shards(tmp_path)) == docs
    (tmp_path / f"part-00003.{fmt}.tmp").write_text("torn")
    assert ShardWriter(tmp_path, fmt).next_index == 3
    assert clean_partial(tmp_path) == 1 and list(read_shards(tmp_path)) == docs
    with pytest.raises(InputError, match="output format must be one of jsonl, parquet"):
        ShardWriter(tmp_path, "csv")


def test_the_cli_refuses_ray_options_for_the_local_engine(tmp_path):
    from typer.testing import CliRunner

    from hybrid_ie.cli import app

    (tmp_path / "in.jsonl").write_text('{"id": "a", "text": "Ann left."}\n', encoding="utf-8")
    args = ["extract", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o.jsonl"), "--mode", "encoder", "--no-progress"]
    result = CliRunner().invoke(app, [*args, "--workers", "2", "--shard-size", "5"])
    assert result.exit_code == 2 and "--workers, --shard-size: options of --engine ray" in result.output
    result = CliRunner().invoke(app, [*args, "--engine", "spark"])
    assert result.exit_code == 2 and "--engine spark: choose one of local, ray" in result.output


def test_parquet_inputs_are_read_and_checked_like_jsonl(tmp_path):
    pa = pytest.importorskip("pyarrow", reason="the ray extra is not installed (pip install hybrid-ie[ray])")
    import pyarrow.parquet as pq

    from hybrid_ie.job_inputs import collect_inputs

    pq.write_table(pa.table({"id": ["a", None], "text": ["Ann left.", "Bob came."]}), tmp_path / "in.parquet")
    texts, _ = collect_inputs([tmp_path / "in.parquet"])
    assert [(t.id, t.text) for t in texts] == [("a", "Ann left."), ("in-2", "Bob came.")]
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "bad.parquet")
    with pytest.raises(InputError, match=r'bad\.parquet: expected a "text" column, found body'):
        collect_inputs([tmp_path / "bad.parquet"])
    pq.write_table(pa.table({"id": ["a"], "text": ["again"]}), tmp_path / "dup.parquet")
    with pytest.raises(InputError, match=r"dup\.parquet:row 1: duplicate document id 'a'"):
        collect_inputs([tmp_path / "in.parquet", tmp_path / "dup.parquet"])
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match=r"junk\.parquet: not a readable Parquet file"):
        collect_inputs([tmp_path / "junk.parquet"])
