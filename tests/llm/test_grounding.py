"""Grounding LLM strings to character offsets: stages, repeated mentions, near misses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid_ie.llm.grounding import Grounder

WORDS = st.sampled_from(["Apple", "apple", "New", "York", "Inc.", "Jobs", "Steve", "of", ",", "the", "U.S.", "Co"])
SETTINGS = settings(max_examples=60, deadline=None)


def test_stages_in_order():
    text = "Ford Motor Co . said NEW YORK police arrested Jon Smyth ."
    g = Grounder(text)
    exact = g.locate("Ford Motor Co")
    assert (exact.start, exact.end, exact.method, exact.status) == (0, 13, "exact", "exact")
    case = g.locate("new york")
    assert (case.text, case.method, case.status) == ("NEW YORK", "case", "fuzzy")
    space = g.locate("Ford Motor Co.")
    assert (space.text, space.method) == ("Ford Motor Co .", "space")
    fuzzy = g.locate("John Smyth")
    assert (fuzzy.text, fuzzy.method) == ("Jon Smyth", "fuzzy")
    assert g.locate("Microsoft Corporation") is None
    assert g.locate("  ") is None


def test_quotes_around_a_mention_are_ignored():
    assert Grounder('He said " Acme " twice .').locate('"Acme"').text == "Acme"


def test_word_aligned_matches_win_over_substrings():
    span = Grounder("Palestinians and a Palestinian flag").locate("Palestinian")
    assert (span.start, span.end) == (19, 30)


def test_hint_picks_the_nearest_occurrence():
    text = "Paris , not Paris , Texas , nor Paris again ."
    assert Grounder(text).locate("Paris", hint=14).start == 12
    assert Grounder(text).locate("Paris", hint=40).start == 32


def test_a_mention_listed_after_another_goes_to_the_occurrence_after_it():
    """Answers list mentions in reading order: "U.S. Court" listed after "Starr" is the second
    occurrence, not the one inside "2nd U.S. Court" (found by the exact-oracle benchmark)."""
    text = "Winter of the 2nd U.S. Court and Starr of the U.S. Court ."
    g = Grounder(text)
    first = g.locate("2nd U.S. Court", after=0)
    starr = g.locate("Starr", after=first.start, taken={(first.start, first.end)})
    court = g.locate("U.S. Court", after=starr.start, taken={(first.start, first.end), (starr.start, starr.end)})
    assert court.start == text.rindex("U.S. Court")
    assert Grounder(text).locate("U.S. Court").start == text.index("U.S. Court")  # without: the first one
    nested = Grounder(text).locate("U.S.", after=first.start, taken={(first.start, first.end)})
    assert nested.start == text.index("U.S.")  # a nested mention right after its container's start


def test_relations_bind_the_closest_pair_of_a_repeated_mention():
    from hybrid_ie.llm.answers import AnswerBuilder
    from hybrid_ie.schema import load_schema

    text = "Smith visited Rome . Later Smith joined Acme ."
    out = AnswerBuilder(text, load_schema("conll04"))
    for mention, label in (("Smith", "Peop"), ("Rome", "Loc"), ("Smith", "Peop"), ("Acme", "Org")):
        out.ground_entity(mention, label)
    out.relate_mentions("Smith", "Work_For", "Acme")
    head = next(e for e in out.entities if e.id == out.relations[0].head)
    assert head.start == text.rindex("Smith")


def test_an_llm_mention_with_the_sentence_period_ends_before_it():
    from hybrid_ie.llm.answers import AnswerBuilder
    from hybrid_ie.schema import load_schema

    text = "Smith met Jones in Galveston. They left for Washington."
    out = AnswerBuilder(text, load_schema("conll04"))
    found = [out.ground_entity(m, "Loc") for m in ("Galveston.", "Washington.")]
    assert [e.text for e in found] == ["Galveston", "Washington"]
    assert all(text[e.start : e.end] == e.text for e in found)


@SETTINGS
@given(words=st.lists(WORDS, min_size=1, max_size=25), data=st.data())
def test_any_word_sequence_of_the_text_is_found_exactly(words, data):
    text = " ".join(words)
    i = data.draw(st.integers(0, len(words) - 1))
    j = data.draw(st.integers(i + 1, min(len(words), i + 4)))
    mention = " ".join(words[i:j])
    span = Grounder(text).locate(mention)
    assert span is not None and span.method == "exact"
    assert span.text == mention == text[span.start : span.end]


@SETTINGS
@given(
    filler=st.lists(st.sampled_from(["said", "and", "then", "of", ","]), min_size=1, max_size=4),
    k=st.integers(2, 5),
    extra=st.integers(0, 3),
)
def test_kth_mention_goes_to_the_kth_occurrence(filler, k, extra):
    text = " ".join(["Acme", *filler] * k)
    occurrences = [i for i in range(len(text)) if text.startswith("Acme", i)]
    g = Grounder(text)
    found = [g.locate("Acme").start for _ in range(k + extra)]
    assert found[:k] == occurrences
    assert all(start == occurrences[-1] for start in found[k:])  # more mentions than occurrences


@SETTINGS
@given(
    before=st.lists(WORDS, max_size=6),
    after=st.lists(WORDS, max_size=6),
    name=st.sampled_from(["Constantinople Trading Company", "Massachusetts Institute", "Gutenberg Printing"]),
    position=st.integers(0, 100),
    typo=st.sampled_from(["drop", "swap", "case"]),
)
def test_near_miss_is_grounded_fuzzily_and_keeps_the_invariant(before, after, name, position, typo):
    text = " ".join([*before, name, *after])
    i = 1 + position % (len(name) - 2)
    if typo == "drop":
        mention = name[:i] + name[i + 1 :]
    elif typo == "swap":
        mention = name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]
    else:
        mention = name.upper()
    span = Grounder(text).locate(mention)
    assert span is not None
    assert text[span.start : span.end] == span.text
    if mention != name:
        assert span.status == "fuzzy"
    assert span.text == name


@SETTINGS
@given(text=st.text(min_size=0, max_size=80), mentions=st.lists(st.text(min_size=0, max_size=20), max_size=6))
def test_whatever_is_returned_satisfies_the_offset_invariant(text, mentions):
    g = Grounder(text)
    for mention in mentions:
        span = g.locate(mention)
        if span is not None:
            assert 0 <= span.start < span.end <= len(text)
            assert text[span.start : span.end] == span.text
