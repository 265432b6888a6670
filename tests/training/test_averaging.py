"""Checkpoint averaging: the weights are the element-wise mean, the result loads and predicts,
networks that differ are refused with a clear error, and the CLI writes the average."""

from __future__ import annotations

import pytest
import torch
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.inference import EncoderLoadError
from hybrid_ie.schema import Schema
from hybrid_ie.training.averaging import average_checkpoints, primary_training


def saved(tmp_path, name, seed, **config):
    enc = tiny_encoder(seed=seed, **config)
    enc.config.training = {"datasets": "all", "seed": seed}
    enc.config.known_labels = [f"label {seed}", f"relation {seed}"]
    enc.config.known_relation_labels = [f"relation {seed}"]
    enc.config.relation_backoff = 1.0
    enc.config.threshold = 0.3
    return enc, enc.save_pretrained(tmp_path / name)


def test_average_is_the_mean_of_the_weights_and_predicts(tmp_path):
    a, pa = saved(tmp_path, "a", 0)
    b, pb = saved(tmp_path, "b", 1)
    out = average_checkpoints([pa, pb], tmp_path / "avg")
    avg = JointEncoder.from_pretrained(out, device="cpu")
    sa, sb, sm = a.model.state_dict(), b.model.state_dict(), avg.model.state_dict()
    for key in ("entity_bias", next(k for k in sm if k.endswith("word_embeddings.weight"))):
        assert torch.allclose(sm[key], (sa[key] + sb[key]) / 2, atol=1e-6)
    assert avg.config.known_labels == ["label 0", "label 1", "relation 0", "relation 1"]
    assert avg.config.known_relation_labels == ["relation 0", "relation 1"]
    assert avg.config.relation_backoff == 0.0  # a calibrated setting: calibrate the average again
    assert avg.config.threshold == 0.5 and avg.config.calibration == {}  # uncalibrated: calibrate next
    assert [s["path"] for s in avg.config.training["averaged_from"]] == [str(pa), str(pb)]
    assert primary_training(avg.config.training) == {"datasets": "all", "seed": 0}
    (doc,) = avg.predict(["Ann lives in Paris ."], Schema.from_labels(["person", "location"]))
    assert all(doc.text[e.start : e.end] == e.text for e in doc.entities)


def test_different_networks_are_not_averaged(tmp_path):
    _, pa = saved(tmp_path, "a", 0)
    _, pb = saved(tmp_path, "b", 1, max_width=8)
    with pytest.raises(EncoderLoadError, match="max_width differ"):
        average_checkpoints([pa, pb], tmp_path / "avg")
    with pytest.raises(EncoderLoadError, match="at least two"):
        average_checkpoints([pa], tmp_path / "avg")


def test_cli_average_writes_a_checkpoint_and_reports_bad_input(tmp_path):
    _, pa = saved(tmp_path, "a", 0)
    _, pb = saved(tmp_path, "b", 1)
    runner = CliRunner()
    result = runner.invoke(app, ["average", str(pa), str(pb), "-o", str(tmp_path / "avg")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "avg" / "model.safetensors").exists()
    result = runner.invoke(app, ["average", str(pa), str(tmp_path / "nope"), "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "nope" in result.output
