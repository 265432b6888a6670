import random
from collections import Counter

import pytest

from hybrid_ie.training.lexicon import mention_lexicon, ngram_positions, positive_lexicon, text_ngrams
from hybrid_ie.training.sampling import (
    Example,
    LabelSampler,
    LabelSettings,
    NearMisses,
    SetSampler,
    SetTypes,
)

SETS = {
    "news": SetTypes(
        entities={"Peop": "person", "Org": "organization", "Loc": "location"},
        relations={"Work_For": "works for", "Spouse": "spouse"},
        symmetric={"Spouse"},
    ),
    "bio": SetTypes(entities={"Chem": "chemical", "Dis": "disease", "Gene": "gene or protein"}, relations={}),
    "web": SetTypes(entities={"Corp": "company", "City": "city"}, relations={"Born": "born in"}),
    "rel": SetTypes(entities={"entity": "entity"}, relations={"P1": "member of", "P2": "part of", "P3": "capital of"}),
}
NEWS = Example("news", ["Ann", "works", "for", "Acme", "."], [(0, 0, "Peop"), (3, 3, "Org")], [(0, 1, "Work_For")])

# A fake embedding: 'company' is close to 'organization', 'city' to 'location'.
VECS = {
    "person": [1, 0, 0, 0], "organization": [0, 1, 0, 0], "company": [0, 0.95, 0.3, 0], "location": [0, 0, 0, 1],
    "city": [0, 0, 0.2, 0.98], "chemical": [0.3, 0.1, 0.9, 0], "disease": [0.2, 0.2, 0.8, 0.1],
    "gene or protein": [0.1, 0.1, 0.9, 0.2], "entity": [0.5, 0.5, 0.5, 0.5],
}


def embed(prompts):
    return [VECS.get(p, [0.1, 0.2, 0.3, 0.4]) for p in prompts]


def test_set_sampler_probabilities_follow_size_to_the_power_one_over_t():
    sizes = {"big": 10000, "small": 100}
    by_size = SetSampler(sizes, random.Random(0), temperature=1.0).probabilities
    assert by_size["big"] == pytest.approx(10000 / 10100)
    sqrt = SetSampler(sizes, random.Random(0), temperature=2.0).probabilities
    assert sqrt["big"] == pytest.approx(100 / 110)
    flat = SetSampler(sizes, random.Random(0), temperature=1e6).probabilities
    assert flat["small"] == pytest.approx(0.5, abs=1e-3)
    weighted = SetSampler(sizes, random.Random(0), temperature=2.0, weights={"small": 10}).probabilities
    assert weighted["small"] == pytest.approx(0.5)


def test_set_sampler_draws_by_probability_and_without_replacement_inside_a_set():
    sampler = SetSampler({"a": 30, "b": 10}, random.Random(1), temperature=1.0)
    draws = [sampler.next() for _ in range(4000)]
    share = Counter(n for n, _ in draws)["a"] / len(draws)
    assert share == pytest.approx(0.75, abs=0.03)
    first_b = [i for n, i in draws if n == "b"][:10]
    assert sorted(first_b) == list(range(10))  # every example once before any repeats
    with pytest.raises(ValueError):
        SetSampler({"a": 0}, random.Random(0))


def test_set_sampler_state_round_trip_continues_the_same_sequence():
    a = SetSampler({"x": 7, "y": 5}, random.Random(3))
    for _ in range(5):
        a.next()
    state, rng_state = a.state(), a.rng.getstate()
    expected = [a.next() for _ in range(20)]
    b = SetSampler({"x": 7, "y": 5}, random.Random(99))
    b.load_state(state)
    b.rng.setstate(rng_state)
    assert [b.next() for _ in range(20)] == expected


def test_labels_map_gold_types_to_their_prompts_and_respect_the_caps():
    settings = LabelSettings(label_drop=0.0, synonym_prob=0.0, max_entity_labels=6, max_relation_labels=3)
    sampler = LabelSampler(SETS, settings, random.Random(0), synonyms={}, embed=embed)
    seen_global = set()
    for _ in range(200):
        ents, ent_index, rels, rel_index = sampler.sample(NEWS)
        assert ents[ent_index["Peop"]] == "person" and ents[ent_index["Org"]] == "organization"
        assert rels[rel_index["Work_For"]] == "works for"
        assert len(ents) <= 6 and len(rels) <= 3
        assert len(set(ents)) == len(ents)
        own = set(SETS["news"].entities.values())
        seen_global |= set(ents) - own
        assert "organization" not in [ents[i] for n, i in ent_index.items() if n != "Org"]
    assert seen_global  # negatives from the other sets' prompts do appear
    # 'company' is a near synonym of the gold 'organization' (cosine > 0.85): never a negative here
    assert "company" not in seen_global
    assert "person" in sampler.known_labels() and "born in" in sampler.known_labels()
    relations = sampler.known_relation_labels()
    assert "born in" in relations and "works for" in relations and "person" not in relations
    assert set(relations) <= set(sampler.known_labels())


def test_near_miss_negatives_come_from_the_closest_prompts():
    near = NearMisses(["person", "organization", "company", "chemical", "disease", "gene or protein"], embed)
    assert near.nearest("chemical", 3) == ["disease", "gene or protein", "company"]
    assert near.similarity("organization", "company") > 0.9
    settings = LabelSettings(label_drop=0.0, synonym_prob=0.0, near_miss_share=1.0, near_miss_k=3, max_entity_labels=25)
    bio = Example("bio", ["aspirin", "."], [(0, 0, "Chem")], [])
    sampler = LabelSampler({"bio": SETS["bio"], "news": SETS["news"], "web": SETS["web"]}, settings,
                           random.Random(0), synonyms={}, embed=embed)
    picked = Counter()
    for _ in range(300):
        ents, _index, _, _ = sampler.sample(bio)
        picked.update(p for p in ents if p not in SETS["bio"].entities.values())
    # near_miss_share 1: the negative drawn most is the gold prompt's nearest one outside its set
    assert picked.most_common(1)[0][0] == "company"


def test_dropped_gold_labels_leave_the_prompt_list_but_one_is_kept():
    sampler = LabelSampler(SETS, LabelSettings(label_drop=1.0, synonym_prob=0.0), random.Random(0), synonyms={})
    for _ in range(20):
        ents, index, _, _ = sampler.sample(NEWS)
        assert len(index) >= 1
        dropped = {"Peop", "Org"} - set(index)
        assert all(SETS["news"].entities[t] not in ents for t in dropped)


def test_partial_examples_see_every_own_relation_label_within_the_cap():
    settings = LabelSettings(label_drop=0.0, synonym_prob=0.0, max_relation_labels=10)
    sampler = LabelSampler(SETS, settings, random.Random(0), synonyms={})
    ex = Example("rel", ["Paris", "capital", "France"], [(0, 0, "entity"), (2, 2, "entity")], [(0, 1, "P3")], True)
    for _ in range(20):
        ents, ent_index, _rels, rel_index = sampler.sample(ex)
        assert set(rel_index) == {"P1", "P2", "P3"}
        assert ents[ent_index["entity"]] == "entity"


def test_synonyms_replace_prompts_sometimes():
    sampler = LabelSampler(SETS, LabelSettings(label_drop=0.0, synonym_prob=1.0), random.Random(0),
                           synonyms={"person": ["human"]})
    ents, index, _, _ = sampler.sample(NEWS)
    assert ents[index["Peop"]] == "human"
    assert "human" in sampler.known_labels()


def test_mention_lexicon_counts_annotated_strings_per_prompt():
    examples = {
        "web": [Example("web", ["New", "York", "is", "big"], [(0, 1, "City")], []),
                Example("web", ["new", "york", "."], [(0, 1, "City")], []),
                Example("web", ["Acme", "grew"], [(0, 0, "Corp")], [])],
        "news": [Example("news", ["Acme", "hired", "Ann"], [(0, 0, "Org"), (2, 2, "Peop")], [])],
    }
    lex = mention_lexicon(examples, SETS, min_count=2)
    assert lex == {"city": frozenset({"new york"}), "company": frozenset(), "organization": frozenset(),
                   "person": frozenset()}
    assert mention_lexicon(examples, SETS, min_count=1)["company"] == {"acme"}
    assert text_ngrams(["New", "York", "."], max_words=2) == {"new", "york", ".", "new york", "york ."}


def test_lexical_guard_leaves_out_negatives_another_set_annotates_in_the_text():
    # if another set annotates "acme" as a chemical, a news text about Acme says nothing against it
    settings = LabelSettings(label_drop=0.0, synonym_prob=0.0, max_entity_labels=25, lexical_guard=1)
    lexicon = {"chemical": frozenset({"acme"}), "disease": frozenset({"flu"})}
    guarded = LabelSampler(SETS, settings, random.Random(0), synonyms={}, embed=embed, lexicon=lexicon)
    unguarded = LabelSampler(SETS, LabelSettings(label_drop=0.0, synonym_prob=0.0), random.Random(0),
                             synonyms={}, embed=embed, lexicon=lexicon)
    seen_guarded, seen_unguarded = Counter(), Counter()
    for _ in range(200):
        seen_guarded.update(guarded.sample(NEWS)[0])
        seen_unguarded.update(unguarded.sample(NEWS)[0])
    assert seen_unguarded["chemical"] > 0 and seen_guarded["chemical"] == 0
    assert seen_guarded["disease"] > 0  # no flu in the text: still a negative
    assert seen_guarded["person"] == seen_guarded["organization"] == 200  # gold prompts always shown


def test_positive_lexicon_keeps_strings_annotated_often_and_reliably():
    examples = {
        "web": [Example("web", ["New", "York", "is", "big"], [(0, 1, "City")], []),
                Example("web", ["new", "york", "."], [(0, 1, "City")], []),
                Example("web", ["Acme", "grew", "in", "new", "york"], [(0, 0, "Corp")], [])],
        "news": [Example("news", ["Acme", "hired", "Ann"], [(0, 0, "Org"), (2, 2, "Peop")], [])],
    }
    # "new york": annotated twice as a city in 3 occurrences in web's texts (purity 2/3)
    assert positive_lexicon(examples, SETS, min_count=2, min_purity=0.5)["city"] == {"new york"}
    assert positive_lexicon(examples, SETS, min_count=2, min_purity=0.7)["city"] == frozenset()
    assert positive_lexicon(examples, SETS, min_count=3, min_purity=0.5)["city"] == frozenset()
    assert ngram_positions(["a", "b", "a"], max_words=2) == {"a": [(0, 0), (2, 2)], "b": [(1, 1)], "a b": [(0, 1)],
                                                             "b a": [(1, 2)]}


def test_projection_shows_a_global_label_as_a_positive_on_its_strings():
    settings = LabelSettings(label_drop=0.0, synonym_prob=0.0, projection_prob=1.0, max_projected=3)
    positives = {"chemical": frozenset({"acme"}), "disease": frozenset({"flu"}), "person": frozenset({"acme"})}
    sampler = LabelSampler(SETS, settings, random.Random(0), synonyms={}, embed=embed, positives=positives)
    for _ in range(20):
        prompts, index, _, _, extra = sampler.sample_with_projections(NEWS)
        assert extra == [(3, 3, "@chemical")]  # "person" is news' own label, "flu" is not in the text
        assert prompts[index["@chemical"]] == "chemical" and prompts.count("chemical") == 1
    partial = Example("news", NEWS.words, NEWS.entities, [], partial=True)
    assert sampler.sample_with_projections(partial)[4] == []
    off = LabelSampler(SETS, LabelSettings(label_drop=0.0, synonym_prob=0.0), random.Random(0), synonyms={},
                       embed=embed, positives=positives)
    assert off.sample_with_projections(NEWS)[4] == []
