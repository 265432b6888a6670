"""The WordNet 3.0 noun database: each noun lemma's senses and each synset's lemmas and hypernym.

Read from Princeton's `index.noun` (a lemma's synsets, most frequent sense first) and `data.noun`
(a synset's lexicographer file, lemmas and pointers) in `directory`: Debian's `wordnet-base`
installs them in `/usr/share/wordnet`; `HYBRID_IE_WORDNET` names another folder. Inference reads
it when present (more label words get a place in the label hierarchy) and works without it;
training's noun labeller needs it.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class NounDatabase:
    senses: dict[str, tuple[str, ...]]  # lemma (words joined by "_") -> its synsets' offsets, most frequent first
    # (an excerpt of the database may lack some of those synsets)
    synsets: dict[str, NounSynset]

    def head_lemma(self, phrase: str) -> str | None:
        """The lemma a label phrase is read as: the whole phrase when WordNet knows it ("political
        party"), else its last word ("musical artist" -> "artist"); None when neither is a noun."""
        words = phrase.lower().split()
        for lemma in ("_".join(words), words[-1] if words else ""):
            if lemma in self.senses:
                return lemma
        return None

    def first_sense(self, lemma: str) -> str | None:
        """The offset of the lemma's most frequent sense (words joined by "_" or spaces)."""
        senses = self.senses.get(lemma.lower().replace(" ", "_"))
        return senses[0] if senses and senses[0] in self.synsets else None

    def hypernym_chain(self, lemma: str, max_depth: int) -> list[str]:
        """The offsets of the synsets above the first sense of `lemma`, nearest first, at most
        `max_depth`."""
        chain: list[str] = []
        offset = self.first_sense(lemma)
        while offset is not None and len(chain) < max_depth:
            offset = self.synsets[offset].hypernym
            if offset is None or offset not in self.synsets:
                break
            chain.append(offset)
        return chain


def has_wordnet(directory: str | os.PathLike = DEFAULT_WORDNET_DIR) -> bool:
    return all((Path(directory) / name).is_file() for name in NOUN_FILES)


@lru_cache(maxsize=2)
def read_nouns(directory: str = DEFAULT_WORDNET_DIR) -> NounDatabase:
    """Parse the noun database in `directory`; InputError names the files that are missing."""
    root = Path(directory)
    missing = [name for name in NOUN_FILES if not (root / name).is_file()]
    if missing:
        raise InputError(f"the WordNet 3.0 database in {root} lacks {', '.join(missing)} (Debian: apt-get install "
                         "wordnet-base, or set HYBRID_IE_WORDNET)")  # fmt: skip
    synsets: dict[str, NounSynset] = {}
    for line in (root / "data.noun").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith(" "):
            continue
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
        synsets[parts[0]] = NounSynset(int(parts[1]), lemmas, hypernym)
    senses: dict[str, tuple[str, ...]] = {}
    for line in (root / "index.noun").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith(" "):
            continue
        parts = line.split()
        n_synsets, n_pointers = int(parts[2]), int(parts[3])
        offsets = tuple(parts[6 + n_pointers : 6 + n_pointers + n_synsets])
        if offsets:
            senses[parts[0]] = offsets
    return NounDatabase(senses, synsets)
