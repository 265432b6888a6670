"""Which strings the training sets annotate with which entity prompt: the lexicons of
`LabelSampler`'s lexical guard (`mention_lexicon`: a global negative that another set annotates
on a string of this text is left out) and of its distant supervision (`positive_lexicon`: strings
a prompt's own sets annotate often and reliably enough to show it as a positive elsewhere), and
the word n-grams of a text they are matched against."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hybrid_ie.training.sampling import Example, SetTypes

LEXICON_MAX_WORDS = 6  # longest mention the lexical guard looks for


def _annotation_counts(
    examples: dict[str, Sequence[Example]], sets: dict[str, SetTypes], *, skip_partial: bool = False
) -> tuple[dict[str, dict[str, int]], dict[str, set[str]]]:
    """Entity prompt -> lower-cased mention string (at most `LEXICON_MAX_WORDS` words) -> how
    often it is annotated with the prompt; and prompt -> the sets that annotate it."""
    counts: dict[str, dict[str, int]] = {}
    owners: dict[str, set[str]] = {}
    for name, exs in examples.items():
        own = sets[name].entities
        for ex in exs:
            if skip_partial and ex.partial:
                continue
            for start, end, label in ex.entities:
                if label in own and end - start < LEXICON_MAX_WORDS:
                    row = counts.setdefault(own[label], {})
                    key = " ".join(ex.words[start : end + 1]).lower()
                    row[key] = row.get(key, 0) + 1
                    owners.setdefault(own[label], set()).add(name)
    return counts, owners


def mention_lexicon(
    examples: dict[str, Sequence[Example]], sets: dict[str, SetTypes], min_count: int
) -> dict[str, frozenset[str]]:
    """Entity prompt -> the lower-cased mention strings (words joined by spaces, at most
    `LEXICON_MAX_WORDS` words) annotated with it at least `min_count` times over the sets."""
    counts, _ = _annotation_counts(examples, sets)
    return {p: frozenset(m for m, n in row.items() if n >= min_count) for p, row in counts.items()}


def positive_lexicon(
    examples: dict[str, Sequence[Example]], sets: dict[str, SetTypes], min_count: int, min_purity: float
) -> dict[str, frozenset[str]]:
    """Entity prompt -> the lower-cased strings its own sets annotate with it at least
    `min_count` times and in at least `min_purity` of the string's occurrences in those sets'
    texts (annotated or not), so that a match elsewhere is likely an instance. Partial sets do
    not count (their unmarked occurrences say nothing)."""
    annotated, owners = _annotation_counts(examples, sets, skip_partial=True)
    candidates = {m for row in annotated.values() for m, n in row.items() if n >= min_count}
    occurrences: dict[str, dict[str, int]] = {}
    for name in {n for names in owners.values() for n in names}:
        seen = occurrences.setdefault(name, {})
        for ex in examples[name]:
            for key, _, _ in _ngrams(ex.words):
                if key in candidates:
                    seen[key] = seen.get(key, 0) + 1
    out = {}
    for prompt, row in annotated.items():
        keep = set()
        for m, n in row.items():
            total = sum(occurrences[name].get(m, 0) for name in owners[prompt])
            if n >= min_count and total and n / total >= min_purity:
                keep.add(m)
        out[prompt] = frozenset(keep)
    return out


def _ngrams(words: Sequence[str], max_words: int = LEXICON_MAX_WORDS) -> Iterator[tuple[str, int, int]]:
    """Every lower-cased run of 1..max_words words, joined by spaces, with its (first, last) word."""
    low = [w.lower() for w in words]
    for i in range(len(low)):
        for j in range(i + 1, min(len(low), i + max_words) + 1):
            yield " ".join(low[i:j]), i, j - 1


def ngram_positions(
    words: Sequence[str], max_words: int = LEXICON_MAX_WORDS
) -> dict[str, list[tuple[int, int]]]:
    """Every lower-cased run of 1..max_words words -> its (first, last) word indices."""
    out: dict[str, list[tuple[int, int]]] = {}
    for key, first, last in _ngrams(words, max_words):
        out.setdefault(key, []).append((first, last))
    return out


def text_ngrams(words: Sequence[str], max_words: int = LEXICON_MAX_WORDS) -> set[str]:
    """Every lower-cased run of 1..max_words consecutive words, joined by spaces."""
    return {key for key, _, _ in _ngrams(words, max_words)}


__all__ = ["LEXICON_MAX_WORDS", "mention_lexicon", "ngram_positions", "positive_lexicon", "text_ngrams"]
