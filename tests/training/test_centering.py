"""Label centering (`center_label_logits`), its tuning in `tune_thresholds`, and
`hybrid-ie calibrate` end to end on a tiny data folder with every tuning option."""

from __future__ import annotations

import json

import pytest
import torch
from support.tiny_data import tiny_data_dir
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.encoder.model import center_label_logits


def test_a_label_high_everywhere_is_lowered_and_a_peaked_one_raised():
    # one text, three spans (the third is padding), two labels: "broad" scores 2 on both real
    # spans, "peaked" 3 and -3; label means 2 and 0, their mean 1: offsets +1 and -1
    logits = torch.tensor([[[[2.0, 3.0]], [[2.0, -3.0]], [[50.0, 50.0]]]])  # [B=1, N=3, K=1, L=2]
    mask = torch.tensor([[[True], [True], [False]]])
    out = center_label_logits(logits, mask, 1.0)
    assert out[0, :2, 0].tolist() == [[1.0, 4.0], [1.0, -2.0]]
    half = center_label_logits(logits, mask, 0.5)
    assert half[0, :2, 0].tolist() == [[1.5, 3.5], [1.5, -2.5]]
    assert center_label_logits(logits, mask, 0.0) is logits


def test_tune_thresholds_tries_every_centering_with_every_threshold():
    from pathlib import Path

    from hybrid_ie.datasets import read_spert
    from hybrid_ie.schema import load_schema
    from hybrid_ie.training.calibration import tune_thresholds

    docs = read_spert(Path(__file__).parents[1] / "data" / "tiny_spert.json")
    enc = tiny_encoder(seed=0)
    out = tune_thresholds(enc, [(load_schema("conll04"), docs)], entity_grid=(0.3, 0.5),
                          relation_grid=(0.5,), centering_grid=(0.0, 0.5))
    assert [(r["label_centering"], r["threshold"]) for r in out["grid"]] == [(0.0, 0.3), (0.0, 0.5), (0.5, 0.3),
                                                                             (0.5, 0.5)]
    best = out["selected"]
    assert enc.config.label_centering == best["label_centering"] and enc.config.threshold == best["threshold"]


def test_predict_scores_change_with_centering():
    from hybrid_ie.schema import Schema

    enc = tiny_encoder(seed=0)
    schema = Schema.from_labels(["person", "location", "thing"])

    def scores(strength):
        enc.config.label_centering = strength
        (doc,) = enc.predict(["Ann met Bob in Paris ."], schema, threshold=0.0, candidate_floor=0.0)
        return sorted((e.start, e.end, e.label, round(e.score, 6)) for e in doc.entities)

    plain, centered = scores(0.0), scores(1.0)
    assert plain and centered and plain != centered


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("HYBRID_IE_DATA", str(tiny_data_dir(tmp_path / "data")))
    return tiny_encoder(seed=3).save_pretrained(tmp_path / "tiny"), tmp_path


def test_cli_calibrate_with_centering_and_label_thresholds(setup):
    ckpt, tmp_path = setup
    out = tmp_path / "cal"
    args = ["calibrate", str(ckpt), "-o", str(out), "--dev", "news", "--tune-on", "news,ner-a",
            "--centering-grid", "0,0.3", "--label-thresholds-on", "news"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    tuned = config["calibration"]["thresholds"]
    # each strength was tuned with its own label thresholds, then scored as stored
    trials = {c["label_centering"]: c for c in tuned["centering"]}
    assert set(trials) == {0.0, 0.3}
    best = max(trials.values(), key=lambda c: (c["score"], -c["label_centering"]))
    assert config["label_centering"] == best["label_centering"] == tuned["selected"]["label_centering"]
    assert config["threshold"] == best["threshold"]
    assert config["calibration"]["label_thresholds"]["datasets"] == ["news"]
    assert config["label_thresholds"] == config["calibration"]["label_thresholds"]["label_thresholds"]


@pytest.mark.parametrize("grid", ["0,x", "-0.2", ""])
def test_cli_calibrate_refuses_a_bad_centering_grid(setup, grid):
    ckpt, tmp_path = setup
    args = ["calibrate", str(ckpt), "-o", str(tmp_path / "cal"), "--dev", "news", "--tune-on", "news",
            "--centering-grid", grid]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "--centering-grid" in result.output
