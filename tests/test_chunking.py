"""hybrid_ie.chunking: property tests (chunk text == text[start:end], windows cover every word)
and a few hand-checked sentence splits."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybrid_ie.chunking import (
    Chunk,
    span_end_before_closing_period,
    split_sentences,
    word_spans,
    word_windows,
    words_from_tokens,
)

texts = st.text(alphabet=st.sampled_from(list("abcXYZ019 .,!?'’-\"()\n\té")), max_size=120)
sentence_texts = st.lists(
    st.sampled_from(
        ["Mr.", "Smith", "went", "to", "U.S.", "Paris.", "He", "left!", "3.5", "(Yes?)", "and", "\n"]
    ),
    max_size=30,
).map(" ".join)
SETTINGS = settings(max_examples=150, deadline=None)


def non_space_positions(text: str) -> set[int]:
    return {i for i, ch in enumerate(text) if not ch.isspace()}


def covered(spans) -> set[int]:
    return {i for start, end in spans for i in range(start, end)}


@SETTINGS
@given(texts)
def test_words_are_exactly_the_non_space_characters(text):
    spans = word_spans(text)
    assert spans == sorted(spans)
    assert all(a_end <= b_start for (_, a_end), (b_start, _) in pairwise(spans))
    assert all(end > start and not any(ch.isspace() for ch in text[start:end]) for start, end in spans)
    assert covered(spans) == non_space_positions(text)


@SETTINGS
@given(st.lists(st.text(alphabet="ab.-", min_size=1, max_size=5), max_size=10))
def test_words_from_tokens(tokens):
    text, spans = words_from_tokens(tokens)
    assert text == " ".join(tokens)
    assert [text[s:e] for s, e in spans] == tokens


@SETTINGS
@given(st.one_of(texts, sentence_texts))
def test_sentences_are_exact_stripped_slices_that_lose_nothing(text):
    chunks = split_sentences(text)
    for i, chunk in enumerate(chunks):
        assert chunk.text == text[chunk.start : chunk.end]
        assert chunk.index == i
        assert chunk.text and chunk.text == chunk.text.strip()
    assert all(a.end <= b.start for a, b in pairwise(chunks))
    assert non_space_positions(text) <= covered((c.start, c.end) for c in chunks)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mr. Smith went to Washington. He left.", ["Mr. Smith went to Washington.", "He left."]),
        ("U.S. troops arrived.  Then 3 left!", ["U.S. troops arrived.", "Then 3 left!"]),
        ('He said "stop." And ran (fast.) Away?', ['He said "stop."', "And ran (fast.)", "Away?"]),
        ("  no end punctuation  ", ["no end punctuation"]),
        ("", []),
    ],
)
def test_sentence_examples(text, expected):
    assert [c.text for c in split_sentences(text)] == expected


@SETTINGS
@given(texts, st.integers(1, 8), st.data())
def test_windows_are_exact_slices_that_cover_every_word(text, max_words, data):
    stride = data.draw(st.one_of(st.none(), st.integers(1, max_words)))
    windows = word_windows(text, max_words, stride)
    spans = word_spans(text)
    step = stride or max(1, max_words // 2)
    for i, window in enumerate(windows):
        assert window.text == text[window.start : window.end]
        assert window.index == i
        inside = [s for s in spans if window.start <= s[0] and s[1] <= window.end]
        if spans:
            assert 1 <= len(inside) <= max_words
            assert (window.start, window.end) == (inside[0][0], inside[-1][1])  # word boundaries
    for span in spans:  # nothing is dropped
        assert any(w.start <= span[0] and span[1] <= w.end for w in windows)
    if len(spans) > max_words:
        starts = [spans.index(next(s for s in spans if s[0] == w.start)) for w in windows]
        assert starts == list(range(0, step * len(windows), step))
        assert windows[-1].end == spans[-1][1]


def test_window_edge_cases():
    assert word_windows("", 4) == []
    assert word_windows("  ", 4) == [Chunk(0, 2, "  ", 0)]
    assert word_windows(" one two ", 4) == [Chunk(1, 8, "one two", 0)]
    assert [c.text for c in word_windows("a b c d e", 2)] == ["a b", "b c", "c d", "d e"]
    assert [c.text for c in word_windows("a b c d e", 3, stride=3)] == ["a b c", "d e"]
    with pytest.raises(ValueError, match="max_words must be at least 1"):
        word_windows("a b", 0)
    with pytest.raises(ValueError, match="stride must not exceed max_words"):
        word_windows("a b c", 2, stride=3)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("Google's CEO", ["Google", "'", "s", "CEO"]),  # possessive clitic apart, as in the training data
        ("Lyle Brandt’s firm", ["Lyle", "Brandt", "’", "s", "firm"]),
        ("I'm sure they'd agree we've won", ["I", "'", "m", "sure", "they", "'", "d", "agree", "we", "'", "ve", "won"]),
        ("O'Neil's rock'n'roll", ["O'Neil", "'", "s", "rock'n'roll"]),  # inner apostrophes stay
        ("He left on Tuesday.", ["He", "left", "on", "Tuesday", "."]),
        ("U.S. 3.5% of IL-2", ["U.S", ".", "3.5", "%", "of", "IL-2"]),
        ("Berlin-based Winston-Salem", ["Berlin", "-", "based", "Winston-Salem"]),  # hyphen before lower case
        ("methotrexate-induced", ["methotrexate", "-", "induced"]),
    ],
)
def test_raw_text_is_split_as_the_training_data_is_tokenised(text, words):
    assert [text[s:e] for s, e in word_spans(text)] == words


@SETTINGS
@given(st.lists(st.sampled_from(["Google", "'s", "Brandt", "’s", "O'Neil", "I", "'m", "U.S.", "Tuesday", ".", ",",
                                 "they", "'d", "'re", "3.5"]), max_size=12))  # fmt: skip
def test_natural_text_splits_like_its_space_joined_tokens(tokens):
    """A possessive written as one word ("Google's") gives the same words as the space-joined
    SpERT tokens ("Google 's") that training reads."""
    joined = " ".join(tokens)
    glued = ""
    for tok in tokens:
        glued += tok if tok[:1] in "'’" and glued and glued[-1].isalnum() else (" " + tok if glued else tok)
    assert [joined[s:e] for s, e in word_spans(joined)] == [glued[s:e] for s, e in word_spans(glued)]


@pytest.mark.parametrize(
    ("text", "span", "expected"),
    [
        ("He left on Tuesday.", "Tuesday.", "Tuesday"),
        ("It grew in 1942. Then it fell.", "1942.", "1942"),
        ("He moved to the U.S.", "U.S.", "U.S."),  # an abbreviation's period closes the sentence too
        ("She works for Apple Inc.", "Apple Inc.", "Apple Inc."),
        ("As shown by Smith et al.", "Smith et al.", "Smith et al."),
        ("A gap of 2.5 cm.) deep", "2.5 cm.", "2.5 cm."),  # not followed by space: no sentence end here
        ("Kept at 4 ° C .", "4 ° C .", "4 ° C ."),  # a period a tokeniser set apart belongs to the set's gold
        ("Tuesday.", "Tuesday", "Tuesday"),  # nothing to trim
    ],
)
def test_a_sentence_closing_period_glued_to_a_mention_is_left_out(text, span, expected):
    start = text.index(span)
    end = span_end_before_closing_period(text, start, start + len(span))
    assert text[start:end] == expected
