import json
import random
from pathlib import Path

import pytest
import torch
from support.tiny_encoder import tiny_encoder

from hybrid_ie.datasets import spert_to_document
from hybrid_ie.encoder import EncoderLoadError, JointEncoder
from hybrid_ie.encoder.training import LabelSampler, TrainConfig, Trainer, initial_encoder, to_example
from hybrid_ie.errors import InputError
from hybrid_ie.schema import load_schema

SENTENCE = {
    "tokens": ["John", "Smith", "works", "for", "U.S.", "Steel", "in", "Pittsburgh", "."],
    "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 6},
                 {"type": "Loc", "start": 7, "end": 8}],
    "relations": [{"type": "Work_For", "head": 0, "tail": 1}, {"type": "OrgBased_In", "head": 1, "tail": 2}],
}


def test_to_example_maps_gold_to_word_indices():
    ex = to_example(spert_to_document(SENTENCE, "s-0"), "conll04")
    # word_spans splits "U.S." into "U.S" and "."; spans stay unions of words
    assert ex.words == ["John", "Smith", "works", "for", "U.S", ".", "Steel", "in", "Pittsburgh", "."]
    assert ex.entities == [(0, 1, "Peop"), (4, 6, "Org"), (8, 8, "Loc")]
    assert ex.relations == [(0, 1, "Work_For"), (1, 2, "OrgBased_In")]


def test_label_sampler_maps_types_to_their_prompts():
    schemas = {n: load_schema(n) for n in ("conll04", "scierc", "ade")}
    cfg = TrainConfig(label_drop=0.0, synonym_prob=0.0, max_negative_labels=3)
    sampler = LabelSampler(schemas, cfg, random.Random(0))
    own = {t.prompt for t in schemas["conll04"].entity_types}
    others = {t.prompt for n in ("scierc", "ade") for t in schemas[n].entity_types}
    for _ in range(20):
        prompts, index, rel_prompts, rel_index = sampler.sample("conll04")
        assert {prompts[i] for i in index.values()} == own
        assert set(prompts) - own <= others
        assert {schemas["conll04"].entity_type(name).prompt for name in index} == {prompts[i] for i in index.values()}
        assert {rel_prompts[i] for i in rel_index.values()} == {t.prompt for t in schemas["conll04"].relation_types}
    assert "person" in sampler.known_labels() and "side effect" in sampler.known_labels()


def test_label_sampler_drops_labels_but_keeps_at_least_one():
    schemas = {"ade": load_schema("ade")}
    sampler = LabelSampler(schemas, TrainConfig(label_drop=1.0), random.Random(0))
    prompts, index, _, _ = sampler.sample("ade")
    assert len(index) == 1 and len(prompts) == 1  # no other dataset to draw negatives from


def _tiny_conll04(root):
    """A hermetic stand-in for ../shared/data/conll04: the test needs no benchmark data."""
    folder = root / "conll04"
    folder.mkdir(parents=True)
    other = json.loads((Path(__file__).parents[1] / "data" / "tiny_spert.json").read_text())
    sentences = [SENTENCE, *other] * 3
    (folder / "train.json").write_text(json.dumps(sentences[:6]))
    (folder / "dev.json").write_text(json.dumps(sentences[:3]))


def test_tiny_training_run_lowers_the_loss_and_keeps_the_best(tmp_path, monkeypatch):
    _tiny_conll04(tmp_path / "data")
    monkeypatch.setenv("HYBRID_IE_DATA", str(tmp_path / "data"))
    enc = tiny_encoder(seed=0)
    cfg = TrainConfig(
        datasets=["conll04"], oversample={}, output_dir=str(tmp_path / "run"), epochs=1, max_steps=3,
        batch_size=2, limit=6, dev_limit=3, eval_every=2, threads=0, label_drop=0.0, synonym_prob=0.0,
        max_negative_labels=0, lr_heads=3e-3, lr_backbone=3e-3, warmup_ratio=0.0,
    )
    trainer = Trainer(cfg, encoder=enc)
    batch = trainer.load_examples()[:2]
    enc.model.train()
    before = float(trainer.loss(batch)[0].detach())
    best = trainer.train()
    assert 0.0 <= best["mean_f1"] <= 1.0
    rows = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3]
    enc.model.train()
    trainer.rng.seed(0)
    after = float(trainer.loss(batch)[0].detach())
    assert after < before
    loaded = JointEncoder.from_pretrained(tmp_path / "run" / "best", device="cpu")
    assert "person" in loaded.known_labels
    assert loaded.config.training["best"]["step"] == best["step"]


def test_config_file_rejects_unknown_keys(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"epochs": 1, "learning_rate": 3}))
    with pytest.raises(InputError, match="unknown training settings"):
        TrainConfig.from_file(path)
    path.write_text(json.dumps({"epochs": 1}))
    assert TrainConfig.from_file(path, seed=5).seed == 5


def test_init_from_continues_a_trained_checkpoint_without_its_calibration(tmp_path):
    enc = tiny_encoder(seed=3, max_width=5, use_shape=False)
    enc.config.entity_temperature, enc.config.threshold = 2.5, 0.3
    enc.config.calibration = {"entity": {"ece_after": 0.01}}
    enc.save_pretrained(tmp_path / "ckpt")
    cfg = TrainConfig(init_from=str(tmp_path / "ckpt"), max_width=12, use_shape=True, threads=0)
    start = initial_encoder(cfg)
    assert (cfg.max_width, cfg.use_shape) == (5, False)  # the checkpoint's architecture wins
    c = start.config
    assert (c.entity_temperature, c.entity_shift, c.threshold, c.relation_threshold, c.calibration) == (
        1.0, 0.0, 0.5, 0.5, {})
    for name, tensor in enc.model.state_dict().items():
        assert torch.equal(tensor, start.model.state_dict()[name]), name


def test_init_from_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderLoadError, match="not-there"):
        initial_encoder(TrainConfig(init_from=str(tmp_path / "not-there")))
