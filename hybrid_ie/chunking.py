"""Text -> words, sentences and overlapping word windows, all with global character offsets.

Every unit here is a `Chunk` whose `text == document_text[start:end]`, so anything found inside a
chunk maps back to the document by adding `chunk.start`.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

# A word is a run of letters/digits with inner dots, apostrophes or hyphens ("U.S", "3.5",
# "O'Neil", "IL-2", "Winston-Salem"), or any single other non-space character; offsets are always
# the text's own. Two joins are refused, so that raw text splits the way the training data is
# tokenised (SpERT tokens joined by spaces, split by this same pattern):
# - an apostrophe that starts a clitic at the end of a word ('s 'd 'm 're 've 'll: "Google's",
#   "I'm") ends the word: "Google" "'" "s", as the tokens "Google 's" give;
# - a hyphen before a lower-case letter ("Berlin-based", "methotrexate-induced") is a word of its
#   own, as in the biomedical sets' tokens ("methotrexate - induced").
CLITIC_APOSTROPHE = r"['’](?!(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b)"  # an inner apostrophe, not a clitic's
WORD_RE = re.compile(rf"\w+(?:(?:\.|-(?![a-z])|{CLITIC_APOSTROPHE})\w+)*|[^\w\s]", re.UNICODE)
SENTENCE_END_RE = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
# "Mr.", "Dr.", "Inc.", "U.S.", "J." end in a period without ending a sentence.
ABBREVIATION_LOOKBACK = 64  # characters; longer than any abbreviation the pattern matches
# Abbreviations whose period also closes the sentence they end: dotted letters ("U.S.", "a.m.",
# "J."), and words that stand at a name's or a list's end ("Apple Inc.", "Smith Jr.", "et al.").
CLOSING_ABBREVIATION_RE = re.compile(
    r"(?:\b[A-Za-z](?:\.[A-Za-z])*|\b(?:Inc|Corp|Co|Ltd|Bros|Jr|Sr|St|Ave|Dept|Univ|etc|al|vs|No))\.$", re.IGNORECASE
)
MAX_CHUNK_WORDS = 400  # the longest chunk (`chunk_text`) in words
ABBREVIATION_RE = re.compile(r"(?:\b[A-Z][a-z]{0,3}|\b[A-Za-z](?:\.[A-Za-z])+|\b(?:etc|vs|e\.g|i\.e|approx|No))\.$")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: `text` equals the full text's `[start:end]`."""

    start: int
    end: int
    text: str
    index: int = 0


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character (start, end) of each word of `text` (whitespace never belongs to a word)."""
    return [m.span() for m in WORD_RE.finditer(text)]


def words_from_tokens(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Text and word spans for pre-tokenised input (tokens joined by single spaces)."""
    spans, pos = [], 0
    for tok in tokens:
        spans.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return " ".join(tokens), spans


def ends_in_abbreviation(text: str, end: int) -> bool:
    """Whether `text[:end]` ends in an abbreviation's period ("Mr.", "Inc.", "U.S.", "a.m."):
    a period there need not end a sentence, and belongs to the word before it."""
    return ABBREVIATION_RE.search(text, max(0, end - ABBREVIATION_LOOKBACK), end) is not None


def span_end_before_closing_period(text: str, start: int, end: int) -> int:
    """Where the span `text[start:end]` ends once a sentence's closing period glued to its last
    word is left out ("on Tuesday." -> "Tuesday"); else `end`. The period is such when it follows
    a letter or digit directly, ends the text or is followed by whitespace, and the word before it
    is no abbreviation that keeps its period at a sentence's end (`CLOSING_ABBREVIATION_RE`:
    "U.S.", "J.", "Inc.", "et al."). A mention names a thing; the sentence's period is not part of
    it, however a data set's tokeniser glued it on."""
    if end - start < 2 or text[end - 1] != "." or not text[end - 2].isalnum():
        return end
    if end < len(text) and not text[end].isspace():
        return end
    if CLOSING_ABBREVIATION_RE.search(text, max(start, end - ABBREVIATION_LOOKBACK), end):
        return end
    return end - 1


def split_sentences(text: str) -> list[Chunk]:
    """Split on sentence-final punctuation followed by whitespace and a capital or digit.

    Cheap and predictable; a sentence that is too long for the encoder is windowed later.
    Leading/trailing whitespace of each sentence is excluded from its span.
    """
    chunks: list[Chunk] = []
    pos = 0
    boundaries = [
        m.end()
        for m in SENTENCE_END_RE.finditer(text)
        # look back a bounded stretch only: slicing text[:m.start()] made long texts quadratic
        if not ends_in_abbreviation(text, m.start())
    ] + [len(text)]
    for end in boundaries:
        piece = text[pos:end]
        stripped_start = pos + (len(piece) - len(piece.lstrip()))
        stripped_end = pos + len(piece.rstrip())
        if stripped_end > stripped_start:
            chunks.append(Chunk(stripped_start, stripped_end, text[stripped_start:stripped_end], len(chunks)))
        pos = end
    return chunks


def word_windows(text: str, max_words: int, stride: int | None = None) -> list[Chunk]:
    """Overlapping windows of at most `max_words` words; consecutive windows start `stride`
    words apart (default: half a window). A text of at most `max_words` words is one chunk.
    Windows always cover every word: nothing is dropped."""
    if max_words < 1:
        raise ValueError("max_words must be at least 1")
    stride = stride or max(1, max_words // 2)
    if stride > max_words:
        raise ValueError("stride must not exceed max_words (windows would skip words)")
    spans = word_spans(text)
    if not spans:
        return [Chunk(0, len(text), text, 0)] if text else []
    if len(spans) <= max_words:
        return [Chunk(spans[0][0], spans[-1][1], text[spans[0][0] : spans[-1][1]], 0)]
    chunks: list[Chunk] = []
    first = 0
    while True:
        last = min(first + max_words, len(spans)) - 1
        start, end = spans[first][0], spans[last][1]
        chunks.append(Chunk(start, end, text[start:end], len(chunks)))
        if last == len(spans) - 1:
            break
        first += stride
    return chunks


def chunk_text(text: str, max_words: int = MAX_CHUNK_WORDS, breaks: Sequence[int] = ()) -> list[Chunk]:
    """Sentences of `text`, also cut at each offset of `breaks` (hard boundaries, e.g. between
    table cells: no chunk, so no entity, crosses one), each cut into consecutive windows of at
    most `max_words` words."""
    chunks: list[Chunk] = []
    for sentence in _cut_at(split_sentences(text), text, breaks):
        if len(word_spans(sentence.text)) <= max_words:
            chunks.append(Chunk(sentence.start, sentence.end, sentence.text, len(chunks)))
            continue
        for piece in word_windows(sentence.text, max_words, stride=max_words):
            start = sentence.start + piece.start
            chunks.append(Chunk(start, start + len(piece.text), piece.text, len(chunks)))
    return chunks


def _cut_at(sentences: list[Chunk], text: str, breaks: Sequence[int]) -> list[Chunk]:
    """The sentences cut at the `breaks` inside them (leading / trailing whitespace dropped)."""
    if not breaks:
        return sentences
    cuts = sorted(set(breaks))
    out: list[Chunk] = []
    for sentence in sentences:
        lo, hi = bisect.bisect_right(cuts, sentence.start), bisect.bisect_left(cuts, sentence.end)
        bounds = [sentence.start, *cuts[lo:hi], sentence.end]
        for start, end in itertools.pairwise(bounds):
            piece = text[start:end]
            start, end = start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())
            if end > start:
                out.append(Chunk(start, end, text[start:end], len(out)))
    return out
