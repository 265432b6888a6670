"""The WordNet 3.0 noun database: each noun lemma's senses and each synset's lemmas and hypernym.

Read from Princeton's `index.noun` (a lemma's synsets, most frequent sense first; lines sorted by
lemma) and `data.noun` (a synset's lexicographer file, lemmas and pointers; a synset's offset is
its line's byte offset) in `directory`: Debian's `wordnet-base` installs them in
`/usr/share/wordnet`; `HYBRID_IE_WORDNET` names another folder. `read_nouns` parses everything
(training's noun labeller walks all of it); `noun_lookup` answers the same questions by bisecting
and seeking, for the few labels of a schema. Inference works without the database.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from hybrid_ie.errors import InputError

DEFAULT_WORDNET_DIR = os.environ.get("HYBRID_IE_WORDNET", "/usr/share/wordnet")
NOUN_FILES = ("index.noun", "data.noun")


@dataclass(frozen=True)
class NounSynset:
    """A noun synset: its lexicographer file number, its lemmas (lower case, spaces between
    words, the first one its name) and the offset of its first hypernym (None at a root)."""

    lexfile: int
    lemmas: tuple[str, ...]
    hypernym: str | None

    @property
    def name(self) -> str:
        return self.lemmas[0]


def parse_synset(line: str) -> tuple[str, NounSynset]:
    """One data.noun line -> (offset, synset)."""
    parts = line.split(" | ", 1)[0].split()
    n_words = int(parts[3], 16)
    lemmas = tuple(parts[4 + 2 * i].replace("_", " ").lower() for i in range(n_words))
    at = 4 + 2 * n_words
    hypernym = None
    for p in range(int(parts[at])):
        symbol, target = parts[at + 1 + 4 * p], parts[at + 2 + 4 * p]
        if symbol in ("@", "@i"):
            hypernym = target
            break
    return parts[0], NounSynset(int(parts[1]), lemmas, hypernym)


def parse_index(line: str) -> tuple[str, tuple[str, ...]]:
    """One index.noun line -> (lemma with "_" between words, its synsets' offsets in sense order)."""
    parts = line.split()
    n_synsets, n_pointers = int(parts[2]), int(parts[3])
    return parts[0], tuple(parts[6 + n_pointers : 6 + n_pointers + n_synsets])


class NounSenses:
    """Questions about label words, over `_senses(lemma)` and `_synset(offset)`."""

    def _senses(self, lemma: str) -> tuple[str, ...]:
        raise NotImplementedError

    def _synset(self, offset: str) -> NounSynset | None:
        raise NotImplementedError

    def head_lemma(self, phrase: str) -> str | None:
        """The lemma a label phrase is read as: the whole phrase when WordNet knows it ("political
        party"), else its last word ("musical artist" -> "artist"); None when neither is a noun."""
        words = phrase.lower().split()
        for lemma in ("_".join(words), words[-1] if words else ""):
            if lemma and self._senses(lemma):
                return lemma
        return None

    def first_sense(self, lemma: str) -> str | None:
        """The offset of the lemma's most frequent sense (words joined by "_" or spaces)."""
        senses = self._senses(lemma.lower().replace(" ", "_"))
        return senses[0] if senses and self._synset(senses[0]) is not None else None

    def hypernym_chain(self, lemma: str, max_depth: int) -> list[str]:
        """The offsets of the synsets above the first sense of `lemma`, nearest first, at most
        `max_depth`."""
        chain: list[str] = []
        offset = self.first_sense(lemma)
        while offset is not None and len(chain) < max_depth:
            synset = self._synset(offset)
            offset = synset.hypernym if synset is not None else None
            if offset is None or self._synset(offset) is None:
                break
            chain.append(offset)
        return chain


@dataclass(frozen=True)
class NounDatabase(NounSenses):
    senses: dict[str, tuple[str, ...]]  # lemma (words joined by "_") -> its synsets' offsets, most frequent first
    # (an excerpt of the database may lack some of those synsets)
    synsets: dict[str, NounSynset]

    def _senses(self, lemma: str) -> tuple[str, ...]:
        return self.senses.get(lemma, ())

    def _synset(self, offset: str) -> NounSynset | None:
        return self.synsets.get(offset)


class NounLookup(NounSenses):
    """`NounSenses` read on demand: index.noun bisected in memory, data.noun read at offsets."""

    def __init__(self, directory: Path):
        self._index = [line for line in (directory / "index.noun").read_text(encoding="utf-8").splitlines()
                       if line and not line.startswith(" ")]  # fmt: skip
        self._data = (directory / "data.noun").read_bytes()
        self._synsets: dict[str, NounSynset | None] = {}
        self._senses_of: dict[str, tuple[str, ...]] = {}

    def _senses(self, lemma: str) -> tuple[str, ...]:
        if lemma not in self._senses_of:
            at = bisect.bisect_left(self._index, lemma + " ")
            found = at < len(self._index) and self._index[at].startswith(lemma + " ")
            self._senses_of[lemma] = parse_index(self._index[at])[1] if found else ()
        return self._senses_of[lemma]

    def _synset(self, offset: str) -> NounSynset | None:
        if offset not in self._synsets:
            start = int(offset)
            end = self._data.find(b"\n", start)
            line = self._data[start : end if end >= 0 else None].decode("utf-8")
            self._synsets[offset] = parse_synset(line)[1] if line.startswith(offset + " ") else None
        return self._synsets[offset]


def _missing(directory: str | os.PathLike) -> list[str]:
    return [name for name in NOUN_FILES if not (Path(directory) / name).is_file()]


def has_wordnet(directory: str | os.PathLike = DEFAULT_WORDNET_DIR) -> bool:
    return not _missing(directory)


def _checked(directory: str) -> Path:
    root = Path(directory)
    if missing := _missing(root):
        raise InputError(f"the WordNet 3.0 database in {root} lacks {', '.join(missing)} (Debian: apt-get install "
                         "wordnet-base, or set HYBRID_IE_WORDNET)")  # fmt: skip
    return root


@lru_cache(maxsize=2)
def read_nouns(directory: str = DEFAULT_WORDNET_DIR) -> NounDatabase:
    """Parse the whole noun database in `directory`; InputError names the files that are missing."""
    root = _checked(directory)
    lines = (root / "data.noun").read_text(encoding="utf-8").splitlines()
    synsets = dict(parse_synset(line) for line in lines if line and not line.startswith(" "))
    lines = (root / "index.noun").read_text(encoding="utf-8").splitlines()
    senses = {lemma: offsets for lemma, offsets in map(parse_index, (x for x in lines if x and not x.startswith(" ")))
              if offsets}  # fmt: skip
    return NounDatabase(senses, synsets)


@lru_cache(maxsize=2)
def noun_lookup(directory: str = DEFAULT_WORDNET_DIR) -> NounLookup:
    """The database in `directory` for a few questions at a time (`NounLookup`)."""
    return NounLookup(_checked(directory))
