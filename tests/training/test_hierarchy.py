"""The label hierarchy and the label sampling that follows it: a fine label is never a negative on
a coarse set's text, ancestors are shown beside the gold as negatives, an offered ancestor takes
over a gold that is not offered; relation phrasings, reversed ones with swapped pairs."""

import json
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

from hybrid_ie.errors import InputError
from hybrid_ie.labels.hierarchy import LabelHierarchy, load_hierarchy, offered_ancestors, wordnet_parents
from hybrid_ie.labels.wordnet import noun_lookup, read_nouns
from hybrid_ie.training.sampling import (
    REVERSED,
    Example,
    LabelSampler,
    LabelSettings,
    Phrasings,
    SetTypes,
    load_phrasings,
)

H = LabelHierarchy(
    {"politician": ["person"], "city": ["human settlement", "location"], "human settlement": ["location"]},
    catch_alls=frozenset({"miscellaneous"}), catch_all_covers=frozenset({"person", "location"}),
)
SETS = {
    "coarse": SetTypes({"Peop": "person", "Loc": "location"}, {"Live": "lives in"}),
    "fine": SetTypes({"Pol": "politician", "City": "city"}, {}),
    "other": SetTypes({"Misc": "miscellaneous", "Chem": "chemical"}, {"Emp": "employer"}),
}
COARSE = Example("coarse", ["Ann", "lives", "in", "Rome"], [(0, 0, "Peop"), (3, 3, "Loc")], [(0, 1, "Live")])
FINE = Example("fine", ["Ann", "visited", "Rome"], [(0, 0, "Pol"), (2, 2, "City")], [])


def sampler(hierarchy=H, phrasings=None, **settings):
    return LabelSampler(SETS, LabelSettings(**settings), random.Random(7), synonyms={}, hierarchy=hierarchy,
                        phrasings=phrasings)  # fmt: skip


def test_ancestors_nearest_first_then_catch_alls_and_descendants():
    assert H.ancestors("city") == ("human settlement", "location", "miscellaneous")
    assert H.ancestors("politician") == ("person", "miscellaneous")
    assert H.ancestors("miscellaneous") == ()
    assert H.ancestors("chemical") == ()  # below no covered root
    assert H.descendants("location") == {"city", "human settlement"}
    assert H.descendants("miscellaneous") == set()


def test_shipped_hierarchy_loads_without_cycles_and_names_real_parents():
    h = load_hierarchy()
    assert "person" in h.ancestors("politician") and "location" in h.ancestors("country")
    assert "anatomical entity" in h.ancestors("tissue")
    assert "politician" in h.descendants("person")


def test_a_cycle_or_a_malformed_file_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "h.json"
    bad.write_text(json.dumps({"parents": {"a": ["b"], "b": ["a"]}}), encoding="utf-8")
    with pytest.raises(InputError, match="cycle"):
        load_hierarchy(bad)
    bad.write_text(json.dumps({"parents": {"a": "b"}}), encoding="utf-8")
    with pytest.raises(InputError, match="list of parent prompts"):
        load_hierarchy(bad)


def test_a_fine_label_is_never_a_negative_on_a_coarse_text():
    s = sampler(ancestor_prob=0.5, label_drop=0.0)
    seen = Counter()
    for _ in range(400):
        prompts, _, _, _ = s.sample(COARSE)
        seen.update(prompts)
        assert "politician" not in prompts and "city" not in prompts and "human settlement" not in prompts
    assert seen["chemical"] > 0  # other global negatives still come


def test_without_a_hierarchy_fine_labels_are_negatives_as_before():
    s = sampler(hierarchy=None, label_drop=0.0)
    assert any("politician" in s.sample(COARSE)[0] for _ in range(200))


def test_ancestors_beside_the_gold_are_negatives_and_the_fine_gold_wins():
    s = sampler(ancestor_prob=1.0, label_drop=0.0)
    beside = raised = 0
    for _ in range(400):
        prompts, index, _, _ = s.sample(FINE)
        if "Pol" in index and prompts[index["Pol"]] == "politician" and "person" in prompts:
            beside += 1
            assert index["Pol"] != prompts.index("person")
        if "Pol" in index and prompts[index["Pol"]] == "person":
            raised += 1
            assert "politician" not in prompts
    assert beside > 50 and raised > 50


def test_raising_has_its_own_probability_and_zero_keeps_every_fine_gold():
    s = sampler(ancestor_prob=1.0, ancestor_raise_prob=0.0, label_drop=0.0)
    beside = 0
    for _ in range(300):
        prompts, index, _, _ = s.sample(FINE)
        assert prompts[index["Pol"]] == "politician" and prompts[index["City"]] == "city"
        beside += "person" in prompts
    assert beside > 100
    with pytest.raises(InputError, match="ancestor_raise_prob"):
        LabelSettings(ancestor_raise_prob=1.5)


def test_no_projection_of_an_ancestor_onto_a_finer_gold_mention():
    positives = {"person": frozenset({"ann"}), "location": frozenset({"rome", "visited"})}
    settings = LabelSettings(label_drop=0.0, projection_prob=1.0, max_projected=3)
    with_h = LabelSampler(SETS, settings, random.Random(3), synonyms={}, hierarchy=H, positives=positives)
    without = LabelSampler(SETS, settings, random.Random(3), synonyms={}, positives=positives)
    for _ in range(50):
        assert with_h.sample_with_projections(FINE)[4] == [(1, 1, "@location")]  # a word no gold holds
    assert (0, 0, "@person") in without.sample_with_projections(FINE)[4]


def test_a_dropped_gold_takes_its_nearest_offered_ancestor():
    s = sampler(ancestor_prob=0.0, label_drop=1.0)  # label_drop 1 keeps one gold at random
    hits = 0
    for _ in range(300):
        prompts, index, _, _ = s.sample(FINE)
        if "City" in index and prompts[index["City"]] != "city":
            shown = prompts[index["City"]]
            offered = [a for a in H.ancestors("city") if a in prompts]
            assert shown == offered[0]
            hits += 1
    assert hits > 0


def test_phrasings_replace_relation_prompts_and_reversed_ones_are_marked():
    table = Phrasings(same={"lives in": ["resident of"]}, reversed={"lives in": ["home of"]})
    s = sampler(phrasings=table, phrasing_prob=1.0, label_drop=0.0)
    names = Counter()
    for _ in range(200):
        _, _, rel_prompts, rel_index = s.sample(COARSE)
        assert len(set(rel_prompts)) == len(rel_prompts)
        for name, col in rel_index.items():
            names[(name, rel_prompts[col])] += 1
    assert names[("Live", "resident of")] > 0 and names[(REVERSED + "Live", "home of")] > 0
    assert ("Live", "home of") not in names and ("Live", "lives in") not in names
    assert "resident of" in s.known_relation_labels() and "home of" in s.known_labels()


def test_a_symmetric_relation_is_never_reversed():
    sets = {"s": SetTypes({"P": "person"}, {"Sp": "spouse"}, symmetric={"Sp"})}
    table = Phrasings(same={"spouse": ["married to"]}, reversed={"spouse": ["wife of"]})
    s = LabelSampler(sets, LabelSettings(phrasing_prob=1.0, label_drop=0.0), random.Random(1), synonyms={},
                     phrasings=table)  # fmt: skip
    ex = Example("s", ["Ann", "married", "Bob"], [(0, 0, "P"), (2, 2, "P")], [(0, 1, "Sp")])
    for _ in range(50):
        _, _, rel_prompts, rel_index = s.sample(ex)
        assert set(rel_index) == {"Sp"} and rel_prompts[rel_index["Sp"]] == "married to"


def test_shipped_phrasings_parse_and_cover_the_canonical_relations():
    table = load_phrasings()
    for prompt in ("works for", "employer", "causes adverse effect", "used for", "founded by"):
        assert table.same.get(prompt) or table.reversed.get(prompt)
    assert "employs" in table.reversed["employer"]


def fake_wordnet(folder: Path) -> str:
    """Three synsets in WordNet 3.0's layout (an offset is its line's byte offset in data.noun):
    writer -> communicator -> person (alias "individual")."""
    header = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
    rows = [("person", 3, "person 0 individual 0", None), ("communicator", 18, "communicator 0", "person"),
            ("writer", 18, "writer 0", "communicator")]  # fmt: skip
    offsets: dict[str, str] = {}
    data = header
    for name, lexfile, words, parent in rows:
        offsets[name] = f"{len(data.encode()):08d}"
        pointer = f"001 @ {offsets[parent]} n 0000" if parent else "000"
        data += f"{offsets[name]} {lexfile:02d} n {len(words.split()) // 2:02x} {words} {pointer} | gloss\n"
    (folder / "data.noun").write_text(data, encoding="utf-8")
    index = {"communicator": "communicator", "individual": "person", "person": "person", "writer": "writer"}
    (folder / "index.noun").write_text(header + "".join(f"{lemma} n 1 1 @ 1 0 {offsets[synset]}\n"
                                                        for lemma, synset in sorted(index.items())), encoding="utf-8")  # fmt: skip
    (folder / "cntlist.rev").write_text("", encoding="utf-8")
    return str(folder)


def test_wordnet_parents_on_real_wordnet_lines(tmp_path: Path):
    found = wordnet_parents(["writer", "person", "novel writer", "spoon"], ["person"], fake_wordnet(tmp_path))
    assert found == {"writer": ["person"], "novel writer": ["person"]}


def test_offered_labels_know_which_of_them_is_more_general(tmp_path: Path):
    wordnet = fake_wordnet(tmp_path)
    full, lookup = read_nouns(wordnet), noun_lookup(wordnet)
    for lemma in ("writer", "individual", "novel", "person"):
        assert full.hypernym_chain(lemma, 5) == lookup.hypernym_chain(lemma, 5)
    assert [full.synsets[o].name for o in full.hypernym_chain("writer", 5)] == ["communicator", "person"]
    offered = ["Politician", "person", "City", "location", "writer", "Individual", "miscellaneous", "spoon"]
    above = offered_ancestors(offered, H, wordnet)
    assert above == {
        "Politician": {"person", "miscellaneous"},  # the file's link; names as offered
        "City": {"location", "miscellaneous"},  # "human settlement" between them is not offered
        "writer": {"person", "Individual", "miscellaneous"},  # WordNet, any lemma of a synset above
        "person": {"miscellaneous"}, "location": {"miscellaneous"}, "Individual": {"miscellaneous"},
        "spoon": {"miscellaneous"},  # a catch-all is above every specific label
    }  # fmt: skip
    assert offered_ancestors(["politician", "person"], H, None) == {"politician": {"person"}}  # no WordNet
    assert offered_ancestors(["politician", "person"], H, str(tmp_path / "none")) == {"politician": {"person"}}
    both_ways = LabelHierarchy({"a": ["b"], "b": ["c"]})
    assert offered_ancestors(["a", "b", "c"], both_ways, None) == {"a": {"b", "c"}, "b": {"c"}}
    assert offered_ancestors(["solo"], H, wordnet) == {}


def test_reversed_phrasing_swaps_the_gold_pair_in_the_loss(tmp_path: Path):
    """A reversed phrasing's loss on (head, tail) equals the plain prompt's on (tail, head)."""
    from support.tiny_encoder import tiny_encoder
    from test_training import _cfg, _tiny_data

    from hybrid_ie.training.trainer import Trainer

    _tiny_data(tmp_path / "data")
    trainer = Trainer(_cfg(tmp_path, hard_negative_spans=0), encoder=tiny_encoder(seed=0))
    trainer.model.eval()
    words = ["Ann", "lives", "in", "Rome"]
    forward = Example("conll04", words, [(0, 0, "Peop"), (3, 3, "Loc")], [(0, 1, "Live")])
    swapped = Example("conll04", words, [(0, 0, "Peop"), (3, 3, "Loc")], [(1, 0, "Live")])

    def shown(rel_name):
        return lambda ex: (["person", "location"], {"Peop": 0, "Loc": 1}, ["home of"], {rel_name: 0}, [])

    losses = {}
    for key, ex, name in (("rev", forward, REVERSED + "Live"), ("plain_swapped", swapped, "Live"), ("plain", forward, "Live")):
        trainer.labels.sample_with_projections = shown(name)
        with torch.no_grad():
            losses[key] = trainer.loss([ex])[1]["rel"]
    assert losses["rev"] == pytest.approx(losses["plain_swapped"], rel=1e-6)
    assert losses["rev"] != pytest.approx(losses["plain"], rel=1e-6)


def test_known_labels_name_the_ancestors_training_can_show():
    s = sampler(ancestor_prob=0.3)
    assert {"human settlement", "miscellaneous"} <= set(s.known_labels())
    assert "human settlement" not in sampler(hierarchy=None).known_labels()


def test_training_phrasings_stay_apart_from_the_evaluation_phrasings():
    """Protocol phrasings (eval/relation_wording.json) and the paraphrase check's names
    (eval/relation_paraphrases.json) are fixed before training and must stay unseen by it."""
    root = Path(__file__).parents[2] / "eval"
    unseen = set()
    for name in ("relation_wording.json", "relation_paraphrases.json"):
        for key, value in json.loads((root / name).read_text(encoding="utf-8")).items():
            if not key.startswith("_"):
                for v in value.values():
                    unseen.update(x.lower() for x in (v if isinstance(v, list) else [v]))
    table = load_phrasings()
    assert {p.lower() for p in table.all_prompts()} & unseen == set()


def test_lowercase_prob_lowers_the_words_a_step_sees(tmp_path: Path):
    from support.tiny_encoder import tiny_encoder
    from test_training import _cfg, _tiny_data

    from hybrid_ie.training.trainer import Trainer

    _tiny_data(tmp_path / "data")
    trainer = Trainer(_cfg(tmp_path, lowercase_prob=1.0), encoder=tiny_encoder(seed=0))
    seen = []
    encode = trainer.encoder.inputs.encode
    trainer.encoder.inputs.encode = lambda words, *a: seen.append(list(words)) or encode(words, *a)
    ex = Example("conll04", ["Ann", "lives", "in", "Rome"], [(0, 0, "Peop")], [])
    trainer.loss([ex])
    assert seen == [["ann", "lives", "in", "rome"]]
    assert ex.words == ["Ann", "lives", "in", "Rome"]  # the stored example is untouched
