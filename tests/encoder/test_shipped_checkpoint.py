"""The shipped checkpoint in models/ on a few sentences (slow: loads the real MiniLM model)."""

import pytest

from hybrid_ie.encoder import JointEncoder
from hybrid_ie.encoder.inference import DEFAULT_MODEL_DIR
from hybrid_ie.schema import load_schema

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (DEFAULT_MODEL_DIR / "model.safetensors").exists(), reason="no shipped checkpoint"),
]

TEXTS = [
    "John Smith , a spokesman for General Motors , said the plant in Detroit will close .",
    "Lee Harvey Oswald killed President Kennedy in Dallas .",
    "The company is based in Tokyo , Japan .",
]


@pytest.fixture(scope="module")
def encoder():
    return JointEncoder.from_pretrained(None, device="cpu")


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


ZS_DIR = DEFAULT_MODEL_DIR.parent / "hybrid-ie-minilm-zs"


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
