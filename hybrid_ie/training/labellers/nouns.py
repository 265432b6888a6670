"""Weak labels for common nouns from WordNet (the mixture's derived `nouns` set).

The training sets annotate named entities and a few term types; a user's labels are often
kinds of things ("reagent", "device", "substance", "animal") that no set annotates, and the
encoder has met too few label words to place a new one. WordNet types every noun: its most
frequent sense sits in a hypernym chain (centrifuge -> apparatus -> equipment ->
instrumentality) and in one of 25 lexicographer files, the supersenses (noun.artifact). The
rules here mark, in the training sets' own texts, runs of words that WordNet says are nouns and
give each run the types of its last word (the head): the names of the hypernyms of its first
sense, `HYPERNYM_LEVELS` levels up (WordNet's most general synsets, file noun.Tops, left out, and
"action", which names verbs here),
and the name of its supersense (`noun_labels.json`). This opens the label pool to thousands of
types, the way fine-grained entity typing sets were made from WordNet heads.

`noun_example` turns one training example into an NER example:

* a run of lower-case words that are mostly nouns (share of tagged senses >= `NOUN_SHARE`,
  none a function word) is a positive for each of its head's types;
* the same head with up to `MODIFIER_WORDS` words before the run (adjectives, a name: "cold
  PBS buffer"), the head alone, and the example's own gold mentions are `unknown` (naming
  conventions differ); so is a single word WordNet leaves undecided, or a capitalised one
  inside the text (a name: the source set's business), and a measure ("10 min": the `measures`
  set's business; a run inside one is not marked);
* every other span is a negative for the types shown.

With `links` (`noun_links.json`), the verbs of the text (`actions.classify_words`) are marked as
actions too, and each is linked to the noun run it governs: the first run after it, with only
determiners, numbers or adjectives between ("add the cold buffer": object), or behind one
preposition of a listed group ("spin in a centrifuge": location); relation labels name the
argument's role (VerbNet's thematic roles: patient, instrument, location, source).

The reader parses WordNet 3.0's index.noun (senses in frequency order) and data.noun (lexicographer
file and hypernym of each synset); `actions.load_wordnet` gives the parts of speech. Training
only; inference never needs WordNet.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hybrid_ie.errors import InputError
from hybrid_ie.labels.wordnet import read_nouns
from hybrid_ie.training.labellers.actions import (
    ACTION_LABELS,
    CLAUSE_MARKS,
    DETERMINERS,
    WordNet,
    classify_words,
    sense_counts,
)
from hybrid_ie.training.labellers.measures import find_measures, load_kinds
from hybrid_ie.training.sampling import Example

NOUN_SET = "nouns"
LABELS_FILE = Path(__file__).with_name("noun_labels.json")
LINKS_FILE = Path(__file__).with_name("noun_links.json")
FIRST_FILE_SHARE = 0.8  # see NounTypes.confident
NOUN_SHARE = 0.8  # a word is a noun when at least this share of its tagged senses are noun senses
NOT_NOUN_SHARE = 0.2  # at most this share (or no noun sense at all): not a noun
HYPERNYM_LEVELS = 3
MODIFIER_WORDS = 3
MAX_RUN = 4  # longer noun runs are left unknown (lists, headlines)
TOPS_FILE = 3  # noun.Tops: entity, physical entity, abstraction, whole, ...
FUNCTION_WORDS = DETERMINERS | frozenset(
    "i you he she it we they me him us them who whom whose which what there here one ones "  # noqa: SIM905
    "and or but nor of in on at by for with from to into onto about as than per via".split()
)


@dataclass(frozen=True)
class NounTypes:
    """First sense of each noun lemma, and (lexicographer file, name, hypernym) of each synset."""

    first_sense: dict[str, str]
    synsets: dict[str, tuple[int, str, str | None]]
    supersenses: dict[int, str]
    n_senses: dict[str, int] = field(default_factory=dict)
    file_counts: dict[str, dict[int, int]] = field(default_factory=dict)  # tagged senses per lexicographer file
    levels: int = HYPERNYM_LEVELS
    _cache: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def confident(self, lemma: str) -> bool:
        """True when the first sense is safe to type with: the lemma has one noun sense, or at
        least `FIRST_FILE_SHARE` of its SemCor-tagged noun senses lie in the first sense's
        lexicographer file ("cell": compartment 72 of 116 tags, the biological cell 44: not safe;
        an untagged lemma of several senses is not safe either)."""
        if self.n_senses.get(lemma, 0) == 1:
            return True
        counts = self.file_counts.get(lemma, {})
        total = sum(counts.values())
        offset = self.first_sense.get(lemma)
        if not total or offset is None:
            return False
        return counts.get(self.synsets[offset][0], 0) / total >= FIRST_FILE_SHARE

    def types(self, lemma: str) -> tuple[str, ...]:
        """The labels of `lemma`'s first sense: its hypernyms' names (not noun.Tops), nearest first,
        then its supersense's name; () when WordNet does not know it as a noun."""
        if (found := self._cache.get(lemma)) is None:
            found = ()
            offset = self.first_sense.get(lemma)
            if offset is not None:
                lexfile, _, hypernym = self.synsets[offset]
                names: list[str] = []
                for _ in range(self.levels):
                    if hypernym not in self.synsets:
                        break
                    file, name, hypernym = self.synsets[hypernym]
                    if file != TOPS_FILE:
                        names.append(name)
                if lexfile in self.supersenses:
                    names.append(self.supersenses[lexfile])
                own = lemma.replace("_", " ")
                found = tuple(dict.fromkeys(n for n in names if n != own and n not in ACTION_LABELS))
            self._cache[lemma] = found
        return found


@lru_cache(maxsize=2)
def load_noun_types(directory: str, labels_file: Path = LABELS_FILE) -> NounTypes:
    try:
        nouns = read_nouns(directory)
    except InputError as exc:
        raise InputError(f"the nouns set needs {exc}, or set wordnet_dir") from exc
    root = Path(directory)
    first = {lemma: offsets[0] for lemma, offsets in nouns.senses.items()}
    n_senses = {lemma: len(offsets) for lemma, offsets in nouns.senses.items()}
    file_counts: dict[str, dict[int, int]] = defaultdict(dict)
    if (root / "cntlist.rev").is_file():
        for lemma, pos, lexfile, count in sense_counts(root):
            if pos == "noun":
                file_counts[lemma][lexfile] = file_counts[lemma].get(lexfile, 0) + count
    synsets = {offset: (s.lexfile, s.name, s.hypernym) for offset, s in nouns.synsets.items()}
    raw = json.loads(labels_file.read_text(encoding="utf-8"))
    supersenses = {int(k): v for k, v in raw["supersenses"].items()}
    return NounTypes({k: v for k, v in first.items() if v in synsets}, synsets, supersenses, n_senses, dict(file_counts))


@dataclass(frozen=True)
class NounLinks:
    """Relation labels from a verb to the noun run it governs, by the role of the run."""

    object_labels: tuple[str, ...]
    prepositions: dict[str, tuple[str, ...]]  # preposition -> labels
    max_gap: int

    def relation_labels(self) -> list[str]:
        labels = [*self.object_labels, *(x for v in self.prepositions.values() for x in v)]
        return list(dict.fromkeys(labels))


def load_noun_links(path: Path = LINKS_FILE) -> NounLinks:
    if not path.is_file():
        raise InputError(f"noun_links: no links file {path}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in ("object", "prepositions", "max_gap") if key not in raw]
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)} (see noun_links.json)")
    preps = {p: tuple(group["labels"]) for group in raw["prepositions"] for p in group["words"]}
    return NounLinks(tuple(raw["object"]), preps, int(raw["max_gap"]))


def noun_verdicts(words: list[str], wordnet: WordNet) -> list[bool | None]:
    """Per word: True (a common noun), False (not one) or None (undecided)."""
    out: list[bool | None] = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in FUNCTION_WORDS or not low.isalpha():
            out.append(False)
            continue
        if i > 0 and not word.islower():
            out.append(None)  # a name, or part of one
            continue
        weights = wordnet.pos_weights(low)
        total = sum(weights.values())
        share = weights["noun"] / total if total else 0.0
        if weights["noun"] == 0 or share <= NOT_NOUN_SHARE:
            out.append(False)
        elif share >= NOUN_SHARE:
            out.append(True)
        else:
            out.append(None)
    return out


def noun_runs(verdicts: list[bool | None]) -> list[tuple[int, int]]:
    """Maximal runs (start, end inclusive) of noun words."""
    runs, start = [], None
    for i, v in enumerate([*verdicts, False]):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


def link_arguments(words: list[str], verbs: list[int], runs: list[tuple[int, int]], links: NounLinks) -> list[tuple[int, int, tuple[str, ...]]]:
    """(verb word, run index, labels): for each verb, the first noun run after it when only
    determiners, numbers or other non-nouns (no verb, clause mark or second preposition) lie
    between, at most `max_gap` words; labels by the preposition before the run, if any."""
    run_at = {s: r for r, (s, _) in enumerate(runs)}
    verb_set = set(verbs)
    out = []
    for v in verbs:
        preposition = None
        for i in range(v + 1, min(len(words), v + 2 + links.max_gap)):
            if i in run_at:
                labels = links.prepositions.get(preposition, ()) if preposition else links.object_labels
                if labels:
                    out.append((v, run_at[i], labels))
                break
            low = words[i].lower()
            if i in verb_set or words[i] in CLAUSE_MARKS or low in {"and", "or", "but"}:
                break
            if low in links.prepositions or low in FUNCTION_WORDS - DETERMINERS:
                if preposition is not None:
                    break
                preposition = low
    return out


def noun_example(
    ex: Example, wordnet: WordNet, nouns: NounTypes, links: NounLinks | None = None, *, only_confident: bool = False
) -> Example | None:
    """The NER example of the common nouns in `ex` (None when it has none); with `links`, also its
    verbs and the verb -> noun relations. `only_confident`: a run whose head is not
    `NounTypes.confident` is unknown instead of typed."""
    verdicts = noun_verdicts(ex.words, wordnet)
    entities: list[tuple[int, int, str]] = []
    first_of: dict[int, int] = {}
    measures = [(s, e) for s, e, _ in find_measures(ex.words, load_kinds())]
    in_measure = {i for s, e in measures for i in range(s, e + 1)}
    unknown: list[tuple[int, int]] = [*((s, e) for s, e, _ in ex.entities), *measures]
    runs = []
    for start, end in noun_runs(verdicts):
        if in_measure.intersection(range(start, end + 1)):
            continue
        bases = wordnet.base_forms(ex.words[end], "noun")
        lemma = bases[0].replace(" ", "_") if bases else ""
        types = nouns.types(lemma) if lemma and (nouns.confident(lemma) or not only_confident) else ()
        if not types or end - start + 1 > MAX_RUN:
            unknown.append((start, end))
            continue
        first_of[len(runs)] = len(entities)
        runs.append((start, end))
        entities += [(start, end, label) for label in types]
        unknown += [(s, end) for s in range(max(0, start - MODIFIER_WORDS), end + 1) if s != start]
    if not entities:
        return None
    unknown += [(i, i) for i, v in enumerate(verdicts) if v is None]
    relations: list[tuple[int, int, str]] = []
    if links is not None:
        verbs = [i for i, v in enumerate(classify_words(ex.words, wordnet)) if v]
        verbs = [i for i in verbs if verdicts[i] is not True]
        linked = link_arguments(ex.words, verbs, runs, links)
        head_of: dict[int, int] = {}
        for v in dict.fromkeys(v for v, _, _ in linked):
            head_of[v] = len(entities)
            entities += [(v, v, label) for label in ACTION_LABELS]
        relations = [(head_of[v], first_of[r], label) for v, r, labels in linked for label in labels]
        unknown += [(i, i) for i in verbs if i not in head_of]
    gold = {(s, e) for s, e, _ in entities}
    unknown = [span for span in dict.fromkeys(unknown) if span not in gold]
    return Example(NOUN_SET, ex.words, entities, relations, False, unknown)
