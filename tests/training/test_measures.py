"""The rule-labelled `measures` set: patterns, derived examples, and how the mixture uses them."""


import pytest
import torch
from support.tiny_data import complete_and_partial

from hybrid_ie.datasets import discover_sets
from hybrid_ie.errors import InputError
from hybrid_ie.training.labellers.measures import (
    MEASURE_SET,
    find_measures,
    load_notations,
    measure_example,
    measure_labels,
    vary_notation,
)
from hybrid_ie.training.losses import entity_targets
from hybrid_ie.training.mixture import load_mixture
from hybrid_ie.training.sampling import Example


def _found(text):
    words = text.split(" ")
    return [(" ".join(words[s : e + 1]), kind) for s, e, kind in find_measures(words)]


def test_patterns_find_measures_in_tokenised_text():
    assert _found("Spin 1 - 5 ml for 30 sec at 11 , 000 x g and 4 ° C .") == [
        ("1 - 5 ml", "volume"), ("30 sec", "duration"), ("11 , 000 x g", "speed"), ("4 ° C", "temperature"),
    ]  # fmt: skip
    assert _found("Add 10 mM Tris , 70 % ethanol , 40 mg/kg daily overnight at room temperature") == [
        ("10 mM", "concentration"), ("70 %", "percentage"), ("40 mg/kg", "dose"), ("overnight", "duration"),
        ("room temperature", "temperature"),
    ]  # fmt: skip
    assert _found("On 12 March 1995 , in the 1960s , he paid $ 5 million at 3 pm for two weeks") == [
        ("12 March 1995", "date"), ("1960s", "date"), ("$ 5 million", "money"), ("3 pm", "clock time"),
        ("two weeks", "duration"),
    ]  # fmt: skip


def test_patterns_respect_word_boundaries_and_units_case():
    assert _found("ran 10 min and 10 m") == [("10 min", "duration"), ("10 m", "length")]
    assert _found("5 M NaCl") == [("5 M", "concentration")]
    assert _found("version 2.5mx of A3 in room 12") == []  # no unit, or a match inside a word
    assert _found("the 1990s") == [("1990s", "date")]  # a decade, not "1990 s(econds)"


def test_measure_example_marks_every_label_of_a_kind_and_keeps_gold_unknown():
    ex = Example("bio", ["Give", "aspirin", "40", "mg", "for", "2", "days", "."], [(1, 1, "chemical")], [])
    derived = measure_example(ex)
    assert derived.dataset == MEASURE_SET and not derived.partial and not derived.relations
    assert (2, 3, "mass") in derived.entities and (2, 3, "amount") in derived.entities
    assert {(s, e) for s, e, _ in derived.entities} == {(2, 3), (5, 6)}
    assert derived.unknown == [(1, 1)]
    assert measure_example(Example("bio", ["No", "numbers"], [], [])) is None
    labels = measure_labels()
    assert len(labels) == len(set(labels)) and {"duration", "time", "quantity", "temperature"} <= set(labels)
    # loss cells: a measure span is a positive for its labels, the gold mention counts for nothing
    index = {label: i for i, label in enumerate(labels)}
    valid = torch.ones(1, len(ex.words), 3, len(labels), dtype=torch.bool)
    gold, counted = entity_targets([derived], [index], valid)
    assert gold[0, 2, 1, index["mass"]] == 1 and gold[0, 2, 1, index["duration"]] == 0
    assert not counted[0, 1, 0].any() and counted[0, 0, 0].all()


def _data(root):
    sentence = {"tokens": ["Mice", "got", "aspirin", "at", "5", "mg", "for", "3", "days", "."],
                "entities": [{"type": "Chem", "start": 2, "end": 3}], "relations": []}  # fmt: skip
    rows = [sentence, {**sentence, "tokens": ["No", "numbers", "here", "x", "y", "z", "a", "b", "c", "."]}]
    return discover_sets(complete_and_partial(root, "bio-tiny", rows, "Chem", "chemical"))


def test_mixture_derives_the_measures_set_from_complete_sets(tmp_path):
    sets = _data(tmp_path / "data")
    examples, types = load_mixture(sets, measure_sets="all")
    assert len(examples[MEASURE_SET]) == 1  # one sentence of the complete set has measures
    assert types[MEASURE_SET].entities == {p: p for p in measure_labels()}
    # the source text's measure spans are no longer negatives for the global labels shown with it
    source = examples["bio-tiny"][0]
    assert source.unknown == [(4, 5), (7, 8)] and source.entities == [(2, 2, "Chem")]
    assert not examples["fewrel-tiny"][0].unknown
    without, _ = load_mixture(sets)
    assert MEASURE_SET not in without and not without["bio-tiny"][0].unknown
    with pytest.raises(InputError, match="partially annotated"):
        load_mixture(sets, measure_sets=["fewrel-tiny"])
    with pytest.raises(InputError, match="not in the mixture"):
        load_mixture(sets, measure_sets=["nope"])
    with pytest.raises(InputError, match="list of names or 'all'"):
        load_mixture(sets, measure_sets="some")


def test_vary_notation_rewrites_units_only_and_keeps_every_span():
    texts = [f"Incubate the sample at {t} degrees C for {m} min and spin at 3 , 000 x g ." for t in range(20, 60) for m in (5, 10)]
    forms, minutes = set(), set()
    for text in texts:
        words = text.split(" ")
        varied = vary_notation(words)
        assert len(varied) == len(words) and varied == vary_notation(words)  # reproducible
        before, after = find_measures(words), find_measures(varied)
        assert [(s, e, k) for s, e, k in after] == before  # same spans, same kinds
        changed = {i for i, (a, b) in enumerate(zip(words, varied, strict=True)) if a != b}
        assert changed <= {i for s, e, _ in before for i in range(s + 1, e + 1)}  # numbers and other words stay
        forms.add(" ".join(varied[5:7]))
        minutes.add(varied[9])
    assert forms == {"degrees C", "° C", "degrees Celsius", "degrees centigrade"}
    assert minutes == {"min", "mins", "minutes"}
    kept = ["Add", "5", "kg", "of", "salt"]
    assert vary_notation(kept) == kept  # no group


def test_notation_groups_are_checked(tmp_path):
    path = tmp_path / "patterns.json"
    path.write_text('{"notations": [["degrees C", "°C"]]}', encoding="utf-8")
    with pytest.raises(InputError, match="different numbers of words"):
        load_notations(path)
    path.write_text('{"notations": [["min", "minutes"], ["min", "mins"]]}', encoding="utf-8")
    with pytest.raises(InputError, match="two notation groups"):
        load_notations(path)
    assert all(len({len(f) for f in forms}) == 1 for forms in load_notations().values())


def test_mixture_varies_notation_in_the_derived_sets_only(tmp_path):
    sentence = {"tokens": ["Cells", "grew", "at", "37", "degrees", "C", "for", "30", "min", "."],
                "entities": [{"type": "Chem", "start": 0, "end": 1}], "relations": []}  # fmt: skip
    rows = [{**sentence, "tokens": [*sentence["tokens"][:3], str(t), *sentence["tokens"][4:]]} for t in range(30, 42)]
    sets = discover_sets(complete_and_partial(tmp_path / "data", "bio-tiny", rows, "Chem", "chemical"))
    plain, _ = load_mixture(sets, measure_sets="all")
    varied, _ = load_mixture(sets, measure_sets="all", measure_notations=True)
    assert [ex.words for ex in varied["bio-tiny"]] == [ex.words for ex in plain["bio-tiny"]]
    assert [ex.entities for ex in varied[MEASURE_SET]] == [ex.entities for ex in plain[MEASURE_SET]]
    units = {" ".join(ex.words[4:6]) for ex in varied[MEASURE_SET]}
    assert "degrees C" not in units or len(units) > 1
    assert units <= {"degrees C", "° C", "degrees Celsius", "degrees centigrade"}
    assert {ex.words[8] for ex in varied[MEASURE_SET]} <= {"min", "mins", "minutes"}
