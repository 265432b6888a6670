"""LLM mention strings -> character offsets in the chunk text.

An LLM answers with strings, not offsets. `Grounder(text).locate(mention)` finds the span, trying
in order:

1. exact        the string itself;
2. case         the same string ignoring case;
3. space        the same words with any (or no) whitespace between them, ignoring case
                ("Ford Motor Co." finds "Ford Motor Co ." of a tokenised corpus);
4. fuzzy        the word window most similar to the string (difflib ratio >= threshold);
                only for mentions of at most `FUZZY_MAX_WORDS` words, candidates first screened
                by difflib's cheap upper bounds, and never past the deadline set with
                `grounding_deadline` (the LLM call's): then the mention stays ungrounded.

Status is "exact" for stage 1 and "fuzzy" for stages 2-4; a mention found nowhere is
"ungrounded" (`locate` returns None). Matches that start and end on word boundaries are preferred.
Repeated mentions: the k-th request for the same string gets the k-th occurrence in the text (the
last one once they run out), unless a `hint` offset is given, in which case the occurrence nearest
to the hint wins. An answer that lists its mentions in reading order can pass `after` (the start of
the mention placed before) and `taken` (spans already placed): the first occurrence starting at or
after `after` that is not taken wins, so "U.S. Court" listed after "Kenneth Starr" is not put
inside an earlier "2nd U.S. Court" (when there is none, the k-th rule applies). Every returned
span satisfies `text[start:end] == span.text`.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Collection, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Literal

from hybrid_ie.chunking import WORD_RE, word_spans

GroundingStatus = Literal["exact", "fuzzy", "ungrounded"]
STRIP_CHARS = " \t\r\n\"'`“”‘’"
FUZZY_MAX_WORDS = 32  # an entity mention is a few words; a longer string is not searched fuzzily
_deadline: ContextVar[float | None] = ContextVar("grounding_deadline", default=None)


@contextlib.contextmanager
def grounding_deadline(deadline: float | None) -> Iterator[None]:
    """Fuzzy grounding inside the block stops at `deadline` (`time.monotonic()` seconds)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


@dataclass(frozen=True)
class GroundedSpan:
    start: int
    end: int
    text: str
    method: Literal["exact", "case", "space", "fuzzy"]

    @property
    def status(self) -> GroundingStatus:
        return "exact" if self.method == "exact" else "fuzzy"


def mention_key(mention: str) -> str:
    """A mention compared ignoring case and runs of whitespace."""
    return " ".join(mention.lower().split())


class Grounder:
    """Locates mention strings in one text; remembers how often each string was asked for."""

    def __init__(self, text: str, *, fuzzy_threshold: float = 0.85):
        self.text = text
        self.fuzzy_threshold = fuzzy_threshold
        self._words = word_spans(text)
        self._word_starts = {s for s, _ in self._words}
        self._word_ends = {e for _, e in self._words}
        self._asked: Counter[str] = Counter()

    def locate(
        self,
        mention: str,
        *,
        hint: int | None = None,
        after: int | None = None,
        taken: Collection[tuple[int, int]] = (),
    ) -> GroundedSpan | None:
        mention = mention.strip(STRIP_CHARS)
        if not mention:
            return None
        key = mention_key(mention)
        nth = self._asked[key]
        self._asked[key] += 1
        for method, spans in self._candidates(mention):
            if spans:
                start, end = self._pick(spans, nth, hint, after, taken)
                return GroundedSpan(start, end, self.text[start:end], method)
        return None

    # -- stages --------------------------------------------------------------------------------
    def _candidates(self, mention: str):
        yield "exact", self._prefer_word_aligned(self._find_all(re.escape(mention), 0))
        yield "case", self._prefer_word_aligned(self._find_all(re.escape(mention), re.IGNORECASE))
        tokens = WORD_RE.findall(mention)
        if tokens:
            pattern = r"\s*".join(re.escape(tok) for tok in tokens)
            yield "space", self._prefer_word_aligned(self._find_all(pattern, re.IGNORECASE))
        yield "fuzzy", self._fuzzy(mention, len(tokens))

    def _find_all(self, pattern: str, flags: int) -> list[tuple[int, int]]:
        # A lookahead finds overlapping occurrences too ("aa" in "aaa" at 0 and 1).
        return [
            (m.start(), m.start() + len(m.group(1)))
            for m in re.finditer(f"(?=({pattern}))", self.text, flags)
            if m.group(1)
        ]

    def _prefer_word_aligned(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        aligned = [(s, e) for s, e in spans if s in self._word_starts and e in self._word_ends]
        return aligned or spans

    def _fuzzy(self, mention: str, n_words: int) -> list[tuple[int, int]]:
        if not self._words or n_words == 0 or n_words > FUZZY_MAX_WORDS:
            return []
        deadline = _deadline.get()
        target = mention_key(mention)
        matcher = SequenceMatcher(None, autojunk=False)
        matcher.set_seq1(target)
        best, best_spans = self.fuzzy_threshold, []
        for size in range(max(1, n_words - 1), n_words + 2):
            for i in range(len(self._words) - size + 1):
                if deadline is not None and i % 64 == 0 and time.monotonic() > deadline:
                    return []
                start, end = self._words[i][0], self._words[i + size - 1][1]
                matcher.set_seq2(mention_key(self.text[start:end]))
                if matcher.real_quick_ratio() < best - 1e-9 or matcher.quick_ratio() < best - 1e-9:
                    continue
                ratio = matcher.ratio()
                if ratio > best + 1e-9:
                    best, best_spans = ratio, [(start, end)]
                elif abs(ratio - best) <= 1e-9 and best_spans:
                    best_spans.append((start, end))
        return sorted(set(best_spans))

    @staticmethod
    def _pick(
        spans: list[tuple[int, int]], nth: int, hint: int | None, after: int | None,
        taken: Collection[tuple[int, int]],
    ) -> tuple[int, int]:  # fmt: skip
        if hint is not None:
            return min(spans, key=lambda span: (abs(span[0] - hint), span[0]))
        if after is not None:
            later = [span for span in spans if span[0] >= after and span not in taken]
            if later:
                return later[0]
        return spans[min(nth, len(spans) - 1)]


def empty_counts() -> dict[str, int]:
    return {"exact": 0, "fuzzy": 0, "ungrounded": 0}
