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
