import json
from pathlib import Path

import pytest
import torch
from support.tiny_encoder import tiny_encoder

from hybrid_ie.datasets import spert_to_document
from hybrid_ie.encoder import EncoderLoadError, JointEncoder
from hybrid_ie.errors import InputError
from hybrid_ie.training.config import TrainConfig
from hybrid_ie.training.losses import entity_loss_weights, entity_targets, partial_pairs
from hybrid_ie.training.mixture import select_sets, to_examples
from hybrid_ie.training.sampling import Example, SetTypes
from hybrid_ie.training.trainer import Trainer, initial_encoder, to_example

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


FEWREL = [
    {"tokens": ["Paris", "is", "the", "capital", "of", "France", "."],
     "entities": [{"type": "entity", "start": 0, "end": 1}, {"type": "entity", "start": 5, "end": 6}],
     "relations": [{"type": "P1376", "head": 0, "tail": 1}]},
    {"tokens": ["Ann", "married", "Bob", "in", "Rome", "."],
     "entities": [{"type": "entity", "start": 0, "end": 1}, {"type": "entity", "start": 2, "end": 3}],
     "relations": [{"type": "P26", "head": 0, "tail": 1}]},
]
FEWREL_TYPES = {"entities": {"entity": {"short": "entity", "verbose": "entity"}},
                "relations": {"P1376": {"short": "P1376", "verbose": "capital of", "symmetric": False},
                              "P26": {"short": "P26", "verbose": "spouse", "symmetric": True}}}


def _tiny_data(root):
    """A hermetic stand-in for ../shared/data: conll04 (complete) and a fewrel set (partial)."""
    folder = root / "conll04"
    folder.mkdir(parents=True)
    other = json.loads((Path(__file__).parents[1] / "data" / "tiny_spert.json").read_text())
    sentences = [SENTENCE, *other] * 3
    (folder / "train.json").write_text(json.dumps(sentences[:6]))
    (folder / "dev.json").write_text(json.dumps(sentences[:3]))
    (folder / "types.json").write_text(json.dumps({"entities": {"Peop": {"verbose": "people"}}, "relations": {}}))
    fewrel = root / "fewrel-tiny"
    fewrel.mkdir()
    (fewrel / "train.json").write_text(json.dumps(FEWREL * 2))
    (fewrel / "types.json").write_text(json.dumps(FEWREL_TYPES))


def _cfg(tmp_path, data=None, **kw):
    base = {
        "datasets": "all", "output_dir": str(tmp_path / "run"), "max_steps": 3, "batch_size": 2, "limit": 6,
        "dev_sets": [{"set": "conll04", "metrics": ["entity", "relation"], "limit": 3}], "eval_every": 2,
        "save_every": 1, "threads": 0, "label_drop": 0.0, "synonym_prob": 0.0, "lr_heads": 3e-3, "lr_backbone": 3e-3,
        "warmup_ratio": 0.0, "data_dir": str(data or tmp_path / "data"),
    }
    base.update(kw)
    return TrainConfig.from_dict(base)


def test_mixture_reads_every_set_with_its_annotation_and_labels(tmp_path):
    _tiny_data(tmp_path / "data")
    trainer = Trainer(_cfg(tmp_path), encoder=tiny_encoder(seed=0))
    assert sorted(trainer.examples) == ["conll04", "fewrel-tiny"]
    assert all(ex.partial for ex in trainer.examples["fewrel-tiny"])
    assert not any(ex.partial for ex in trainer.examples["conll04"])
    # conll04 keeps the repo schema's prompts; the fewrel set gets its types.json verbose names
    assert trainer.types["conll04"].entities["Peop"] == "person"
    assert trainer.types["fewrel-tiny"].relations == {"P1376": "capital of", "P26": "spouse"}
    assert trainer.types["fewrel-tiny"].symmetric == {"P26"}
    excluded = Trainer(_cfg(tmp_path, exclude_datasets=["fewrel-tiny"]), encoder=tiny_encoder(seed=0))
    assert list(excluded.examples) == ["conll04"]
    with pytest.raises(InputError, match="unknown data sets"):
        Trainer(_cfg(tmp_path, datasets=["conll04", "nope"]), encoder=tiny_encoder(seed=0))
    # no set named: no data dir is read (it need not exist), all-named still needs one
    assert select_sets([], root=tmp_path / "missing") == []
    with pytest.raises(InputError, match="data folder"):
        select_sets("all", root=tmp_path / "missing")


def test_long_documents_are_cut_into_windows_at_sentence_ends():
    tokens = ("A b c . " * 30).split()  # 120 words, a sentence end every 4
    sentence = {"tokens": tokens, "entities": [{"type": "Peop", "start": 0, "end": 1},
                                               {"type": "Peop", "start": 116, "end": 117}],
                "relations": [{"type": "Kill", "head": 0, "tail": 1}]}
    exs = to_examples(spert_to_document(sentence, "d-0"), "conll04", max_words=50)
    assert [len(e.words) for e in exs] == [48, 48, 24]
    assert exs[0].entities == [(0, 0, "Peop")] and exs[2].entities == [(20, 20, "Peop")]
    assert all(not e.relations for e in exs)  # the relation crosses windows: dropped
    assert len(to_examples(spert_to_document(sentence, "d-0"), "conll04")) == 1


def test_a_sentence_final_period_token_leaves_the_mention_but_an_abbreviation_keeps_it():
    tokens = ["He", "moved", "from", "Jamestown", "N.Y.", "to", "Galveston", ",", "Texas."]
    sentence = {"tokens": tokens, "entities": [{"type": "Loc", "start": 3, "end": 5},
                                               {"type": "Loc", "start": 6, "end": 7},
                                               {"type": "Loc", "start": 8, "end": 9}],
                "relations": [{"type": "Near", "head": 1, "tail": 2}]}
    doc = spert_to_document(sentence, "d-0")
    assert [e.text for e in doc.entities] == ["Jamestown N.Y.", "Galveston", "Texas"]
    ex = to_examples(doc, "conll04")[0]
    assert [" ".join(ex.words[a:b + 1]) for a, b, _ in ex.entities] == ["Jamestown N.Y .", "Galveston", "Texas"]
    assert ex.words[-1] == "." and ex.relations == [(1, 2, "Near")]


def test_partial_annotation_counts_only_marked_spans_and_pairs():
    complete = Example("c", ["a", "b", "c"], [(0, 0, "X")], [])
    partial = Example("p", ["a", "b", "c"], [(0, 0, "entity"), (2, 2, "entity")], [(0, 1, "R")], True)
    valid = torch.ones(2, 3, 2, 2, dtype=torch.bool)  # B, N words, K widths, L labels
    gold, counted = entity_targets([complete, partial], [{"X": 1}, {"entity": 0}], valid)
    assert gold[0, 0, 0, 1] == 1 and gold[0].sum() == 1
    assert counted[0].all()  # complete: every span x label is a positive or a negative
    assert gold[1, 0, 0, 0] == 1 and gold[1, 2, 0, 0] == 1
    assert counted[1].sum() == 2 and counted[1, 0, 0, 0] and counted[1, 2, 0, 0]  # only the marked spans
    pairs, cols = partial_pairs({((0, 0), (2, 2)): {0, 1}}, symmetric={1})
    assert pairs == [((0, 0), (2, 2)), ((2, 2), (0, 0))]
    assert cols == {((2, 2), (0, 0)): {0}}  # the reversal is a negative only for the non-symmetric label
    pairs, cols = partial_pairs({((0, 0), (2, 2)): {1}}, symmetric={1})
    assert pairs == [((0, 0), (2, 2))] and cols == {}


def test_foreign_negatives_count_fully_only_on_annotated_spans():
    # labels 0 = the example's own "Peop", 1 = another set's prompt shown as a global negative
    ex = Example("c", ["John", "runs", "fast"], [(0, 0, "Peop")], [])
    valid = torch.ones(1, 3, 2, 2, dtype=torch.bool)
    gold, counted = entity_targets([ex], [{"Peop": 0}], valid)
    full = entity_loss_weights([ex], [{"Peop": 0}], gold, counted)
    assert torch.equal(full, counted.float())  # default 1.0: every cell as before
    w = entity_loss_weights([ex], [{"Peop": 0}], gold, counted, foreign_weight=0.25)
    assert torch.equal(w[..., 0], full[..., 0])  # own label: unchanged everywhere
    assert w[0, 0, 0, 1] == 1.0  # "John" is annotated (as Peop): a known negative for the foreign label
    assert w[0, 1, 0, 1] == 0.25 and w[0, 1, 1, 1] == 0.25 and w[0, 2, 0, 1] == 0.25  # unannotated spans
    zero = entity_loss_weights([ex], [{"Peop": 0}], gold, counted, foreign_weight=0.0)
    assert zero[..., 1].sum() == 1.0  # only the annotated span counts for the foreign label


def test_foreign_negative_weight_is_checked():
    with pytest.raises(InputError, match="foreign_negative_weight"):
        TrainConfig.from_dict({"foreign_negative_weight": 1.5})


def test_a_partial_example_trains_without_pushing_unmarked_spans_down(tmp_path):
    _tiny_data(tmp_path / "data")
    trainer = Trainer(_cfg(tmp_path, datasets=["fewrel-tiny"], dev_sets=[]), encoder=tiny_encoder(seed=0))
    ex = trainer.examples["fewrel-tiny"][0]
    trainer.model.train()
    loss, parts = trainer.loss([ex])
    loss.backward()
    assert parts["ent"] > 0 and parts["rel"] > 0
    # every entity-loss term is a positive: the loss equals -log sigmoid of the marked spans' logits
    assert torch.isfinite(loss)


def test_tiny_training_run_lowers_the_loss_and_keeps_the_best(tmp_path):
    _tiny_data(tmp_path / "data")
    enc = tiny_encoder(seed=0)
    trainer = Trainer(_cfg(tmp_path), encoder=enc)
    batch = trainer.examples["conll04"][:2]
    enc.model.train()
    trainer.rng.seed(0)
    before = float(trainer.loss(batch)[0].detach())
    best = trainer.train()
    assert 0.0 <= best["selection"] <= 1.0
    rows = [json.loads(x) for x in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 3]
    assert set(rows[0]) >= {"conll04_entity_f1", "conll04_relation_f1", "selection"}
    enc.model.train()
    trainer.rng.seed(0)
    after = float(trainer.loss(batch)[0].detach())
    assert after < before
    loaded = JointEncoder.from_pretrained(tmp_path / "run" / "best", device="cpu")
    assert "person" in loaded.known_labels and "capital of" in loaded.known_labels
    assert "capital of" in loaded.config.known_relation_labels and "person" not in loaded.config.known_relation_labels
    assert loaded.config.training["best"]["step"] == best["step"]


class _Killed(Exception):
    pass


def test_a_killed_run_resumes_from_last_and_ends_where_an_unbroken_run_ends(tmp_path):
    _tiny_data(tmp_path / "data")
    full = Trainer(_cfg(tmp_path / "a", tmp_path / "data", max_steps=5, eval_every=100), encoder=tiny_encoder(seed=0))
    full.train()
    broken = Trainer(_cfg(tmp_path / "b", tmp_path / "data", max_steps=5, eval_every=100), encoder=tiny_encoder(seed=0))
    calls = {"n": 0}
    real_next = broken.next_batch

    def dies_at_step_4():
        calls["n"] += 1
        if calls["n"] == 4:
            raise _Killed
        return real_next()

    broken.next_batch = dies_at_step_4
    with pytest.raises(_Killed):
        broken.train()
    resumed = Trainer(_cfg(tmp_path / "b", tmp_path / "data", max_steps=5, eval_every=100), encoder=tiny_encoder(seed=7))
    assert resumed.resume_state["step"] == 3
    resumed.train()
    a = full.model.state_dict()
    for name, tensor in resumed.model.state_dict().items():
        assert torch.allclose(tensor, a[name], atol=1e-6), name
    fresh = Trainer(_cfg(tmp_path / "b", tmp_path / "data", max_steps=5, eval_every=100, resume=False), encoder=tiny_encoder(seed=0))
    assert fresh.resume_state is None


def test_the_resume_state_loads_without_unpickling_code(tmp_path, monkeypatch):
    """A training state file from elsewhere cannot run code: it is read with weights_only=True."""
    _tiny_data(tmp_path / "data")
    Trainer(_cfg(tmp_path, tmp_path / "data", max_steps=2, eval_every=100), encoder=tiny_encoder(seed=0)).train()
    seen = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **kw: seen.append(kw.get("weights_only")) or real_load(*a, **kw))
    assert Trainer(_cfg(tmp_path, tmp_path / "data", max_steps=2), encoder=tiny_encoder(seed=0)).resume_state["step"] == 2
    assert seen == [True]


def test_config_file_rejects_unknown_keys(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps({"max_steps": 1, "learning_rate": 3}))
    with pytest.raises(InputError, match="unknown training settings"):
        TrainConfig.from_file(path)
    path.write_text(json.dumps({"optim": {"max_steps": 1, "rate": 2}}))
    with pytest.raises(InputError, match=r"optim\.rate"):
        TrainConfig.from_file(path)
    path.write_text(json.dumps({"_doc": "comments are allowed", "max_steps": 1}))
    assert TrainConfig.from_file(path, seed=5).optim.seed == 5


def test_config_sections_and_flat_keys_read_the_same(tmp_path):
    flat = {"max_steps": 7, "datasets": "all", "label_drop": 0.3, "init_from": "x", "eval_every": 3}
    nested = {"optim": {"max_steps": 7}, "data": {"datasets": "all"}, "sampling": {"label_drop": 0.3},
              "model": {"init_from": "x"}, "run": {"eval_every": 3}}
    a, b = TrainConfig.from_dict(flat), TrainConfig.from_dict(nested)
    assert a == b and a.optim.max_steps == 7 and a.sampling.label_drop == 0.3
    assert TrainConfig.from_dict(a.to_dict()) == a  # what a run writes reads back
    assert a.flat()["max_steps"] == 7 and "optim" not in a.flat()
    with pytest.raises(InputError, match="label_drop"):
        TrainConfig.from_dict({"label_drop": 2.0})


def test_init_from_continues_a_trained_checkpoint_without_its_calibration(tmp_path):
    enc = tiny_encoder(seed=3, max_width=5, use_shape=False)
    enc.config.entity_temperature, enc.config.threshold = 2.5, 0.3
    enc.config.calibration = {"entity": {"ece_after": 0.01}}
    enc.save_pretrained(tmp_path / "ckpt")
    cfg = TrainConfig.from_dict({"init_from": str(tmp_path / "ckpt"), "max_width": 12, "use_shape": True, "threads": 0})
    start = initial_encoder(cfg)
    assert (cfg.model.max_width, cfg.model.use_shape) == (5, False)  # the checkpoint's architecture wins
    c = start.config
    assert (c.entity_temperature, c.entity_shift, c.threshold, c.relation_threshold, c.calibration) == (
        1.0, 0.0, 0.5, 0.5, {})
    for name, tensor in enc.model.state_dict().items():
        assert torch.equal(tensor, start.model.state_dict()[name]), name


def test_init_from_a_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(EncoderLoadError, match="not-there"):
        initial_encoder(TrainConfig.from_dict({"init_from": str(tmp_path / "not-there")}))


def test_relation_roles_turn_relation_arguments_into_typed_entities():
    from hybrid_ie.training.mixture import role_example

    ex = Example("docs", ["Nolan", "directed", "Tenet", "in", "London", "."],
                 [(0, 0, "PER"), (2, 2, "MISC"), (4, 4, "LOC")], [(2, 0, "P57"), (2, 4, "P1")])
    roles = {"director": {"tail": "film director"}, "narrative location": {"tail": "fictional setting"}}
    derived = role_example(ex, {"P57": "director", "P1": "unmapped relation"}, roles)
    assert derived.dataset == "docs+roles" and derived.entities == [(0, 0, "film director")]
    assert derived.unknown == [(0, 0), (2, 2), (4, 4)] and not derived.partial and not derived.relations
    assert role_example(ex, {"P57": "x", "P1": "y"}, roles) is None
    # loss cells: mentions are unknown except the marked role; non-mentions are negatives
    valid = torch.ones(1, 6, 2, 3, dtype=torch.bool)
    gold, counted = entity_targets([derived], [{"film director": 2}], valid)
    assert gold[0, 0, 0, 2] == 1 and gold.sum() == 1
    assert counted[0, 0, 0].tolist() == [False, False, True]
    assert not counted[0, 2, 0].any() and not counted[0, 4, 0].any()
    assert counted[0, 1, 0].all() and counted[0, 3, 1].all()


def test_mixture_derives_a_roles_set_only_from_complete_sets(tmp_path):
    _tiny_data(tmp_path / "data")
    docred = tmp_path / "data" / "docred-tiny"
    docred.mkdir()
    (docred / "train.json").write_text(json.dumps([
        {"tokens": ["Tenet", "was", "directed", "by", "Nolan", "."],
         "entities": [{"type": "MISC", "start": 0, "end": 1}, {"type": "PER", "start": 4, "end": 5}],
         "relations": [{"type": "P57", "head": 0, "tail": 1}]}]))
    (docred / "types.json").write_text(json.dumps({
        "entities": {"MISC": {"verbose": "miscellaneous"}, "PER": {"verbose": "person"}},
        "relations": {"P57": {"verbose": "director"}}}))
    trainer = Trainer(_cfg(tmp_path, relation_roles=["docred-tiny"]), encoder=tiny_encoder(seed=0))
    assert trainer.examples["docred-tiny+roles"][0].entities == [(4, 4, "film director")]
    assert trainer.types["docred-tiny+roles"].entities == {"film director": "film director"}
    assert "film director" in trainer.labels.known_labels()
    trainer.model.train()
    loss, _ = trainer.loss(trainer.examples["docred-tiny+roles"])
    assert torch.isfinite(loss)
    with pytest.raises(InputError, match="partially annotated"):
        Trainer(_cfg(tmp_path, relation_roles=["fewrel-tiny"]), encoder=tiny_encoder(seed=0))
    with pytest.raises(InputError, match="not in the mixture"):
        Trainer(_cfg(tmp_path, relation_roles=["nope"]), encoder=tiny_encoder(seed=0))


def test_projected_positives_join_the_gold_of_a_training_step(tmp_path):
    _tiny_data(tmp_path / "data")
    web = [Example("web", ["Pittsburgh", "is", "a", "city"], [(0, 0, "City")], [])] * 2
    trainer = Trainer(
        _cfg(tmp_path, projection_prob=1.0, projection_min_count=2, projection_min_purity=0.5, lexical_guard=1),
        encoder=tiny_encoder(seed=0), extra_sets={"web": (web, SetTypes({"City": "city"}, {}))},
    )
    assert trainer.labels.positives["city"] == {"pittsburgh"}
    ex = next(e for e in trainer.examples["conll04"] if "Pittsburgh" in e.words)
    prompts, index, _, _, extra = trainer.labels.sample_with_projections(ex)
    at = ex.words.index("Pittsburgh")
    assert extra == [(at, at, "@city")] and prompts[index["@city"]] == "city"
    trainer.model.train()
    loss, parts = trainer.loss([ex])
    assert torch.isfinite(loss) and parts["ent"] > 0
    loss.backward()
