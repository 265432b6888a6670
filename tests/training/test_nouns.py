"""The rule-labelled `nouns` set: WordNet noun types, noun verdicts, verb -> noun links, the mixture.

`tests/data/wordnet` holds real WordNet 3.0 lines: index.noun of ten words, and data.noun of their
first senses and five levels of hypernyms, so every type below can be read in those files."""

import json
from pathlib import Path

import pytest
from support.tiny_data import complete_and_partial

from hybrid_ie.datasets import discover_sets
from hybrid_ie.errors import InputError
from hybrid_ie.training.config import TrainConfig
from hybrid_ie.training.labellers.actions import load_wordnet
from hybrid_ie.training.labellers.nouns import (
    NOUN_SET,
    link_arguments,
    load_noun_links,
    load_noun_types,
    noun_example,
    noun_runs,
    noun_verdicts,
)
from hybrid_ie.training.mixture import _most_frequent_labels, load_mixture
from hybrid_ie.training.sampling import Example

WORDNET = str(Path(__file__).parents[1] / "data" / "wordnet")


def _words(text):
    return text.split(" ")


def test_types_are_three_hypernyms_of_the_first_sense_and_its_supersense():
    nouns = load_noun_types(WORDNET)
    # centrifuge (06 = noun.artifact) -> apparatus -> equipment -> instrumentality -> artifact (noun.Tops)
    assert nouns.types("centrifuge") == ("apparatus", "equipment", "instrumentality", "artifact")
    # ethanol's synset is named by its first lemma, ethyl alcohol; hypernyms in noun.substance (27)
    assert nouns.types("ethanol") == ("alcohol", "liquid", "fluid", "substance")
    assert nouns.types("buffer") == ("compound", "chemical", "material", "substance")
    # person's first sense lies in noun.Tops and so do its hypernyms: no type
    assert nouns.types("person") == ()
    # kill -> termination -> change of state -> change; "action" (its next hypernym) names verbs here
    assert nouns.types("kill") == ("termination", "change of state", "change", "act")
    assert nouns.types("nothing-like-it") == ()


def test_verdicts_runs_and_the_derived_example():
    wn, nouns = load_wordnet(WORDNET), load_noun_types(WORDNET)
    words = _words("Ethanol and buffer : the person tube , 5 ml ethanol , Tube")
    verdicts = noun_verdicts(words, wn)
    # "Ethanol" opens the text (its capital is no name); "Tube" inside it may be a name: undecided;
    # "buffer": 8.5 of its 14 tagged-sense weights are noun senses (below 0.8): undecided
    assert verdicts[0] is True and verdicts[12] is None and verdicts[2] is None
    assert verdicts[1] is False and verdicts[3] is False and verdicts[8] is False  # function word, mark, number
    assert verdicts[9] is False  # "ml": not in (this) WordNet
    assert noun_runs(verdicts) == [(0, 0), (5, 6), (10, 10)]
    ex = Example("bio", words, [(2, 2, "chemical")], [])
    derived = noun_example(ex, wn, nouns)
    assert derived.dataset == NOUN_SET and not derived.partial and not derived.relations
    by_span = {}
    for s, e, label in derived.entities:
        by_span.setdefault((s, e), []).append(label)
    # "person tube" is typed by its head
    assert by_span == {
        (0, 0): ["alcohol", "liquid", "fluid", "substance"],
        (5, 6): ["conduit", "passage", "way", "artifact"],
        (10, 10): ["alcohol", "liquid", "fluid", "substance"],
    }
    unknown = set(derived.unknown)
    assert {(6, 6), (4, 6), (3, 6), (2, 6)} <= unknown  # the head alone, up to 3 modifier words before
    assert (8, 9) in unknown  # the measure "5 ml" is the measures set's business
    assert {(12, 12), (2, 2)} <= unknown  # undecided words; the source's gold mention
    assert (5, 5) not in unknown and (1, 6) not in unknown  # the run without its head; too far back
    assert noun_example(Example("bio", _words("They said so ."), [], []), wn, nouns) is None


def test_links_name_the_role_of_the_noun_run_a_verb_governs():
    wn, nouns, links = load_wordnet(WORDNET), load_noun_types(WORDNET), load_noun_links()
    words = _words("They added the ethanol to the tube and said into the tube ; added , buffer")
    derived = noun_example(Example("bio", words, [], []), wn, nouns, links)

    def text(i):
        s, e, _ = derived.entities[i]
        return " ".join(words[s : e + 1])

    linked = {(text(h), text(t), label) for h, t, label in derived.relations}
    assert linked == {
        ("added", "ethanol", "has patient"), ("added", "ethanol", "has theme"),
        ("said", "tube", "has destination"),
    }  # fmt: skip
    # the last "added" reaches no run ("buffer" is undecided: no run), so it is no action here
    actions = [s for s, e, label in derived.entities if label == "action"]
    assert [words[i] for i in actions] == ["added", "said"] and (13, 13) in derived.unknown
    assert link_arguments(words, [1], [(3, 3)], links) == [(1, 0, ("has patient", "has theme"))]
    assert link_arguments(_words("added ; the tube"), [0], [(3, 3)], links) == []  # a clause mark between
    assert link_arguments(_words("added in into the tube"), [0], [(4, 4)], links) == []  # two prepositions
    assert link_arguments(_words("added of the tube"), [0], [(3, 3)], links) == []  # "of": no role
    assert set(links.relation_labels()) == {"has patient", "has theme", "has instrument", "has location",
                                            "has destination", "has source"}  # fmt: skip


def test_only_the_most_frequent_labels_are_kept_and_relations_follow():
    ex = Example(NOUN_SET, _words("added the tube"), [(2, 2, "conduit"), (2, 2, "rare"), (0, 0, "action")],
                 [(2, 0, "has patient")])  # fmt: skip
    other = Example(NOUN_SET, _words("a tube"), [(1, 1, "conduit"), (1, 1, "rarer")], [])
    lonely = Example(NOUN_SET, _words("a thing"), [(1, 1, "rarest")], [])
    kept_examples, kept = _most_frequent_labels([ex, other, lonely], 2)
    assert kept == {"conduit", "action"} and kept_examples == [ex, other]
    assert ex.entities == [(2, 2, "conduit"), (0, 0, "action")] and ex.relations == [(1, 0, "has patient")]
    assert other.unknown == []  # a dropped label on a span that keeps another is no unknown span


def _data(root):
    rows = [
        {"tokens": _words("They added ethanol to the tube ."), "entities": [{"type": "Per", "start": 0, "end": 1}], "relations": []},
        {"tokens": _words("They said so ."), "entities": [], "relations": []},
    ]  # fmt: skip
    return discover_sets(complete_and_partial(root, "news-tiny", rows, "Per", "person"))


def test_mixture_derives_the_nouns_set_without_unmarking_its_sources(tmp_path):
    sets = _data(tmp_path / "data")
    examples, types = load_mixture(sets, noun_sets="all", noun_links=True, wordnet_dir=WORDNET)
    (derived,) = examples[NOUN_SET]
    assert {label for _, _, label in derived.entities} >= {"alcohol", "conduit", "action"}
    # a verb links only the first run it governs ("added ethanol", not "to the tube")
    assert {label for _, _, label in derived.relations} == {"has patient", "has theme"}
    assert set(types[NOUN_SET].entities) == {label for _, _, label in derived.entities}
    assert "has instrument" in types[NOUN_SET].relations
    assert examples["news-tiny"][0].unknown == []  # its nouns stay negatives of "person"
    plain, plain_types = load_mixture(sets, noun_sets=["news-tiny"], wordnet_dir=WORDNET)
    assert not plain[NOUN_SET][0].relations and plain_types[NOUN_SET].relations == {}
    with pytest.raises(InputError, match="partially annotated"):
        load_mixture(sets, noun_sets=["fewrel-tiny"], wordnet_dir=WORDNET)
    assert TrainConfig.from_dict({"noun_sets": "all", "noun_links": True}).data.noun_links is True


def test_missing_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match=r"nouns set needs the WordNet 3\.0 database .*lacks index\.noun, data\.noun"):
        load_noun_types(str(tmp_path))
    bad = tmp_path / "links.json"
    bad.write_text(json.dumps({"object": ["has patient"]}))
    with pytest.raises(InputError, match="lacks prepositions, max_gap"):
        load_noun_links(bad)
    with pytest.raises(InputError, match="no links file"):
        load_noun_links(tmp_path / "none.json")


def test_strict_types_only_confident_first_senses_and_defers_to_annotated_labels(tmp_path):
    wn, nouns = load_wordnet(WORDNET), load_noun_types(WORDNET)
    # tube: 33 of 34 SemCor noun tags in the first sense's file (noun.artifact); ethanol: one sense;
    # buffer: 8 of 8 tags in noun.substance; wash: 6 of its 11 tags in its first sense's file (0.55)
    assert nouns.confident("tube") and nouns.confident("ethanol") and nouns.confident("buffer")
    assert nouns.n_senses["wash"] == 8 and not nouns.confident("wash") and not nouns.confident("unknown-word")
    words = _words("Ethanol and the wash tube")
    assert (3, 4) not in {(s, e) for s, e, _ in noun_example(Example("x", words, [], []), wn, nouns).entities}
    assert [(s, e) for s, e, _ in noun_example(Example("x", words, [], []), wn, nouns, only_confident=True).entities][:1] == [(0, 0)]
    # a weak noun type that a data set annotates ("person" here) is dropped from the nouns set
    rows = [{"tokens": _words("The tube holds ethanol ."), "entities": [], "relations": []}]
    sets = discover_sets(complete_and_partial(tmp_path / "data", "news-tiny", rows, "Per", "artifact"))
    strict, types = load_mixture(sets, noun_sets=["news-tiny"], noun_strict=True, wordnet_dir=WORDNET)
    loose, _ = load_mixture(sets, noun_sets=["news-tiny"], wordnet_dir=WORDNET)
    assert "artifact" in {label for ex in loose[NOUN_SET] for _, _, label in ex.entities}
    assert "artifact" not in {label for ex in strict[NOUN_SET] for _, _, label in ex.entities}
    assert "artifact" not in types[NOUN_SET].entities and "conduit" in types[NOUN_SET].entities
