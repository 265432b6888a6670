"""The rule-labelled `actions` set: WordNet reading, verb verdicts, derived examples, the mixture.

`tests/data/wordnet` holds the real WordNet 3.0 lines (index.*, verb.exc, cntlist.rev) of eleven
words, so the verdicts below follow from counts one can read in those files."""

import json
from pathlib import Path

import pytest
import torch
from support.tiny_data import complete_and_partial

from hybrid_ie.datasets import discover_sets
from hybrid_ie.errors import InputError
from hybrid_ie.training.config import TrainConfig
from hybrid_ie.training.labellers.actions import (
    ACTION_LABELS,
    ACTION_SET,
    LINKED_SET,
    action_example,
    classify_words,
    link_measures,
    load_links,
    load_wordnet,
)
from hybrid_ie.training.losses import entity_targets
from hybrid_ie.training.mixture import load_mixture
from hybrid_ie.training.sampling import Example

WORDNET = str(Path(__file__).parents[1] / "data" / "wordnet")


def _words(text):
    return text.split(" ")


def test_wordnet_reader_finds_base_forms_and_sums_tagged_senses():
    wn = load_wordnet(WORDNET)
    assert wn.base_forms("said", "verb") == ["say"]  # verb.exc
    assert wn.base_forms("Washed", "verb") == ["wash"] and wn.base_forms("washed", "noun") == []  # -ed rule
    assert wn.base_forms("tubes", "noun") == ["tube"]
    # tube: noun senses tagged 26 + 7 + 1 times, listed as a noun and as a verb (never tagged)
    assert wn.pos_weights("tube") == {"noun": 34.5, "verb": 0.5, "adj": 0.0, "adv": 0.0}
    # buffer: noun 8, verb 5 (cntlist.rev), + 0.5 each for being listed
    assert wn.pos_weights("buffer")["noun"] == 8.5 and wn.pos_weights("buffer")["verb"] == 5.5


def test_verdicts_verbs_auxiliaries_determiners_and_undecided_words():
    wn = load_wordnet(WORDNET)
    words = _words("The president said he will wash the tube , then added buffer to the buffer 3 times")
    verdicts = dict(zip(range(len(words)), classify_words(words, wn)))
    assert [words[i] for i, v in verdicts.items() if v] == ["said", "added"]
    assert verdicts[4] is False  # "will": an auxiliary
    assert verdicts[7] is False  # "tube": 0.5 of 35 is a verb
    # undecided: "wash" (verb 31.5 of 43: below 0.8), "buffer" (5.5 of 14), after a determiner or not
    assert [words[i] for i, v in verdicts.items() if v is None] == ["wash", "buffer", "buffer"]
    assert verdicts[0] is False and verdicts[16] is False  # not in WordNet at all: "The", "3"


def test_action_example_marks_verbs_and_leaves_gold_and_undecided_unknown():
    wn = load_wordnet(WORDNET)
    ex = Example("bio", ["Add", "buffer", "and", "incubate", "the", "tube", "."], [(5, 5, "device")], [])
    derived = action_example(ex, wn)
    assert derived.dataset == ACTION_SET and not derived.partial and not derived.relations
    assert derived.entities == [(i, i, label) for i in (0, 3) for label in ACTION_LABELS]
    assert derived.unknown == [(5, 5), (1, 1)]
    assert action_example(Example("bio", ["The", "tube", "."], [], []), wn) is None
    # loss cells: a verb is a positive for both labels; a longer span with it is a negative
    index = {label: i for i, label in enumerate(ACTION_LABELS)}
    valid = torch.ones(1, len(ex.words), 3, len(ACTION_LABELS), dtype=torch.bool)
    gold, counted = entity_targets([derived], [index], valid)
    assert gold[0, 0, 0].all() and gold[0, 3, 0].all() and not gold[0, 3, 1].any()
    assert counted[0, 3, 1].all() and not counted[0, 1, 0].any() and not counted[0, 5, 0].any()


def test_missing_wordnet_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"WordNet 3\.0 database in .*missing index\.verb.*wordnet-base"):
        load_wordnet(str(tmp_path))


def _data(root):
    rows = [
        {"tokens": ["They", "said", "Bob", "added", "buffer", "."], "entities": [{"type": "Per", "start": 2, "end": 3}], "relations": []},
        {"tokens": ["The", "tube", "."], "entities": [], "relations": []},
    ]  # fmt: skip
    return discover_sets(complete_and_partial(root, "news-tiny", rows, "Per", "person"))


def test_mixture_derives_the_actions_set_beside_measures(tmp_path):
    sets = _data(tmp_path / "data")
    examples, types = load_mixture(sets, action_sets="all", measure_sets="all", wordnet_dir=WORDNET)
    assert [ex.entities for ex in examples[ACTION_SET]] == [[(1, 1, "action"), (1, 1, "verb"), (3, 3, "action"), (3, 3, "verb")]]
    assert types[ACTION_SET].entities == {"action": "action", "verb": "verb"}
    assert examples["measures"] == []  # no measures in these texts: an empty set, still declared
    source = examples["news-tiny"][0]
    assert source.unknown == [(1, 1), (3, 3)] and source.entities == [(2, 2, "Per")]
    assert not examples["fewrel-tiny"][0].unknown
    with pytest.raises(InputError, match="partially annotated"):
        load_mixture(sets, action_sets=["fewrel-tiny"], wordnet_dir=WORDNET)
    with pytest.raises(InputError, match="action_sets must be a list of names or 'all'"):
        load_mixture(sets, action_sets="verbs", wordnet_dir=WORDNET)
    with pytest.raises(InputError, match="WordNet"):
        load_mixture(sets, action_sets="all", wordnet_dir=str(tmp_path / "nowhere"))
    assert TrainConfig.from_dict({"action_sets": "all"}).data.wordnet_dir == "/usr/share/wordnet"


def test_links_join_each_measure_to_the_nearest_verb_before_it_in_its_clause():
    wn, links = load_wordnet(WORDNET), load_links()
    words = _words("Incubate the tube for 30 min at 37 ° C ; add 5 ml buffer and wash . Then 10 min later")
    derived = action_example(Example("bio", words, [], []), wn, links)
    spans = {(s, e): i for i, (s, e, _) in reversed(list(enumerate(derived.entities)))}  # first entry of a span
    assert (7, 9, "temperature") in derived.entities and (19, 20, "duration") in derived.entities
    linked = {(words[derived.entities[h][0]], " ".join(words[derived.entities[t][0] : derived.entities[t][1] + 1]), label)
              for h, t, label in derived.relations}  # fmt: skip
    assert linked == {
        ("Incubate", "30 min", "has duration"), ("Incubate", "30 min", "lasts for"), ("Incubate", "30 min", "has condition"),
        ("Incubate", "37 ° C", "has temperature"), ("Incubate", "37 ° C", "has condition"),
        ("add", "5 ml", "has quantity"),
    }  # fmt: skip
    # heads and tails point at the first entry of their span; "10 min" follows a sentence mark
    assert {h for h, _, _ in derived.relations} == {spans[(0, 0)], spans[(11, 11)]}
    assert link_measures(words, [0, 11], [(19, 20, "duration")], links) == []
    assert link_measures(words, [0], [(12, 13, "volume")], links) == []  # ";" between
    assert set(links.relation_labels()) >= {"has duration", "has temperature", "has condition"}


def test_mixture_keeps_linked_texts_in_their_own_set(tmp_path):
    sets = _data(tmp_path / "data")
    rows = [{"tokens": _words("They said Bob added 5 ml buffer ."), "entities": [], "relations": []},
            {"tokens": _words("They said Bob left ."), "entities": [], "relations": []}]  # fmt: skip
    (tmp_path / "data" / "news-tiny" / "train.json").write_text(json.dumps(rows))
    examples, types = load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET, action_links=True)
    assert [ex.words[3] for ex in examples[LINKED_SET]] == ["added"]
    assert [ex.words[3] for ex in examples[ACTION_SET]] == ["left"]
    assert {ex.dataset for ex in examples[LINKED_SET]} == {LINKED_SET}
    assert types[LINKED_SET] is types[ACTION_SET] and "has quantity" in types[ACTION_SET].relations
    assert {"action", "volume"} <= set(types[ACTION_SET].entities)
    unlinked, unlinked_types = load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET)
    assert LINKED_SET not in unlinked and unlinked_types[ACTION_SET].relations == {}


def test_action_links_may_name_another_links_file(tmp_path):
    sets = _data(tmp_path / "data")
    links = tmp_path / "links.json"
    links.write_text(json.dumps({"max_distance": 12, "kinds": {"volume": ["has volume"]}}))
    rows = [{"tokens": _words("They said Bob added 5 ml buffer ."), "entities": [], "relations": []}]
    (tmp_path / "data" / "news-tiny" / "train.json").write_text(json.dumps(rows))
    examples, types = load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET, action_links=str(links))
    assert types[ACTION_SET].relations == {"has volume": "has volume"}
    assert [label for _, _, label in examples[LINKED_SET][0].relations] == ["has volume"]
    with pytest.raises(InputError, match="no links file"):
        load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET, action_links=str(tmp_path / "none.json"))
    links.write_text(json.dumps({"kinds": {"volume": ["has volume"]}}))
    with pytest.raises(InputError, match="lacks max_distance"):
        load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET, action_links=str(links))
    links.write_text(json.dumps({"max_distance": 12, "kinds": {"volumes": ["has volume"]}}))
    with pytest.raises(InputError, match=r"does not define: \['volumes'\]"):
        load_mixture(sets, action_sets=["news-tiny"], wordnet_dir=WORDNET, action_links=str(links))
