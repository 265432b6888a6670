"""Any number of labels: prompt sets past the encoder's prompt budget run in label groups, and a
schema whose prompts fit runs exactly as one pass."""

from __future__ import annotations

import json

import pytest
from support.tiny_encoder import tiny_encoder
from typer.testing import CliRunner

from hybrid_ie.cli import app
from hybrid_ie.encoder import label_groups
from hybrid_ie.encoder.label_groups import needs_groups, pack, prompt_budget, prompt_costs
from hybrid_ie.schema import Schema, load_schema

TEXTS = ["Mary Smith works for Acme Corp in Boston .", "The patient took aspirin for a headache on Monday ."]


def big_schema(n: int = 300) -> Schema:
    entities = [f"category number {i} of things" for i in range(n)]
    return Schema.from_labels(entities, ["related to", "part of"])


@pytest.fixture(scope="module")
def encoder():
    return tiny_encoder(seed=0)


def test_pack_keeps_order_and_budget():
    assert pack([3, 3, 3, 5, 1], 6) == [[0, 1], [2], [3, 4]]
    assert pack([9, 1], 4) == [[0], [1]]  # one item over the budget is a group of its own
    assert pack([], 4) == []


def test_a_schema_that_fits_runs_as_exactly_one_pass(encoder, monkeypatch):
    schema = load_schema("conll04")
    ents = [t.prompt for t in schema.entity_types]
    assert not needs_groups(encoder, ents, encoder.relation_prompts(schema))
    grouped = encoder.predict(TEXTS, schema)
    monkeypatch.setattr("hybrid_ie.encoder.windowed.needs_groups", lambda *a: False)
    assert [d.to_dict() for d in encoder.predict(TEXTS, schema)] == [d.to_dict() for d in grouped]


def test_300_labels_extract_every_text(encoder):
    schema = big_schema()
    costs = prompt_costs(encoder, [t.prompt for t in schema.entity_types])
    assert sum(costs) > encoder.max_tokens  # one input could not hold them
    docs = encoder.predict(TEXTS, schema, threshold=0.0)
    for doc in docs:
        assert doc.entities and all(doc.text[e.start : e.end] == e.text for e in doc.entities)
        assert {e.label for e in doc.entities} <= set(schema.entity_labels)
    groups = pack(costs, prompt_budget(encoder))
    assert len(groups) >= 3
    labels = {e.label for d in docs for e in d.entities} | {
        c["label"] for d in docs for c in d.meta["encoder"]["candidates"]
    }
    first, last = schema.entity_labels[groups[0][0]], schema.entity_labels[groups[-1][0]]
    assert first in labels or last in labels or len(labels) > len(groups[0])


def test_a_group_scores_its_labels_as_their_own_schema_does(encoder):
    """The entity pass of one group is the one-pass run of that group's labels alone."""
    schema = big_schema()
    costs = prompt_costs(encoder, [t.prompt for t in schema.entity_types])
    group = pack(costs, prompt_budget(encoder))[1]
    names = [schema.entity_labels[i] for i in group]
    alone = schema.subset(names, [], why="one group")
    seen = []

    def score(windows, part, ents, rels):
        encoder._score(windows, part, ents, rels, cut, 16, False)
        if part.entity_labels == names:
            seen.append([sorted((c.start, c.end, c.label, round(c.score, 6)) for c in w.entities) for w in windows])

    from hybrid_ie.encoder.windowed import Thresholds

    cut = Thresholds(entity=0.5, relation=0.5, nested=False, floor=0.1)
    label_groups.grouped_windows(encoder, TEXTS, schema, cut, score)
    prompts = [t.prompt for t in alone.entity_types]
    windows = [w for i, t in enumerate(TEXTS) for w in encoder._windows(i, t, prompts, [])]
    encoder._score(windows, alone, prompts, [], cut, 16, False)
    assert seen == [[sorted((c.start, c.end, c.label, round(c.score, 6)) for c in w.entities) for w in windows]]


def test_cli_extracts_every_document_with_300_labels(tmp_path, encoder):
    checkpoint = encoder.save_pretrained(tmp_path / "ckpt")
    schema_file = tmp_path / "big.json"
    schema_file.write_text(json.dumps(big_schema().to_dict()), encoding="utf-8")
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n" for i, t in enumerate(TEXTS)))
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["extract", str(corpus), "--schema", str(schema_file), "--model", str(checkpoint),
                                      "--mode", "encoder", "-o", str(out), "--no-progress"])  # fmt: skip
    assert result.exit_code == 0, result.output
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(docs) == 2 and not any(d.get("error") for d in docs)
