"""Weak labels for actions (verbs) from WordNet (the mixture's derived `actions` set).

No training set annotates a verb: every entity the encoder has seen is a noun phrase, so a label
such as "action" (an instruction's verb, an event trigger) never fires. The rules here mark, in
the training sets' own texts, the single words that WordNet says are verbs, and
`action_example` turns one training example into an NER example whose labels are `ACTION_LABELS`:

* a word whose senses tagged in WordNet's SemCor counts (`cntlist.rev`) are mostly verb senses
  (share >= `VERB_SHARE`), not an auxiliary or a participle used as a preposition ("following"),
  not after a determiner, is a positive;
* a word that is no verb in WordNet (function words, names, numbers, nouns only), an auxiliary
  or prepositional participle, or mostly another part of speech, is a negative, like every span
  longer than one word;
* other words (the undecided ones in between) are `unknown`, as are the example's own gold
  mentions (they carry the source set's types, not ours);
* with `links` (`action_links.json`), the measures of the text (`measures.find_measures`) are
  marked too, with their labels, and each is linked to the nearest action verb before it in the
  same clause (at most `max_distance` words back, no sentence or clause mark between) by the
  relation labels of its kind ("30 min": "has duration"): the event-argument relations that no
  training set has (every relation it knows links two noun phrases). Other pairs are negatives.
  Few texts have such a link, so the mixture keeps those in a set of their own, `actions+links`,
  that training can weight.

WordNet 3.0 is read from its database files (index.*, *.exc, cntlist.rev; Debian: `apt-get install
wordnet-base` puts them in /usr/share/wordnet). The reader is these few lines rather than NLTK's,
which also needs files the Debian package does not ship (`lexnames`) and a POS tagger model that
cannot be downloaded here. Only training needs WordNet; inference never does.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hybrid_ie.errors import InputError
from hybrid_ie.labels.wordnet import DEFAULT_WORDNET_DIR
from hybrid_ie.training.labellers.measures import MeasureKind, find_measures, load_kinds
from hybrid_ie.training.sampling import Example

ACTION_SET = "actions"
LINKED_SET = "actions+links"
LINKS_FILE = Path(__file__).with_name("action_links.json")
CLAUSE_MARKS = frozenset({".", ";", "!", "?", ":"})
ACTION_LABELS = ("action", "verb")

VERB_SHARE = 0.8  # a word is a verb when at least this share of its tagged senses are verb senses
NOT_VERB_SHARE = 0.1  # at most this share: a negative
_SS_TYPE = {"1": "noun", "2": "verb", "3": "adj", "4": "adv", "5": "adj"}
# WordNet's morphy detachment rules (WordNet 3.0, morph(7WN)): suffix -> replacement
_RULES = {
    "noun": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")],
    "verb": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "adj": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "adv": [],
}  # fmt: skip
AUXILIARIES = frozenset(
    "be am is are was were been being 's 're 'm have has had having 've 'd do does did done doing "  # noqa: SIM905
    "can could may might must shall should will would wo ca need dare ought".split()
)
# participles that work as prepositions ("following ingestion of 5 mg"): no actions
PREPOSITIONAL = frozenset(
    "following according including regarding concerning considering excluding given provided during".split()  # noqa: SIM905
)
DETERMINERS = frozenset(
    "a an the this that these those its their his her our my your each every no any some another".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class WordNet:
    """Lemmas per part of speech, inflection exceptions and tagged-sense counts per (lemma, pos)."""

    lemmas: dict[str, frozenset[str]]
    exceptions: dict[str, dict[str, tuple[str, ...]]]
    counts: dict[tuple[str, str], int]
    _weights: dict[str, dict[str, float]] = field(default_factory=dict, compare=False, repr=False)

    def base_forms(self, word: str, pos: str) -> list[str]:
        """The lemmas of `pos` that `word` may be an inflection of (morphy)."""
        word = word.lower()
        forms = [*self.exceptions[pos].get(word, ()), word]
        forms += [word[: -len(suffix)] + ending for suffix, ending in _RULES[pos] if word.endswith(suffix)]
        return [f for f in dict.fromkeys(forms) if f in self.lemmas[pos]]

    def pos_weights(self, word: str) -> dict[str, float]:
        """How much WordNet supports each part of speech for `word`: tagged-sense counts of its
        base forms, plus 0.5 for being listed at all (so untagged rare words still count).
        Remembered per lower-cased word: a training mixture repeats its ~100k words 2M times."""
        word = word.lower()
        if (weights := self._weights.get(word)) is None:
            weights = {}
            for pos in self.lemmas:
                forms = self.base_forms(word, pos)
                weights[pos] = sum(self.counts.get((f, pos), 0) for f in forms) + (0.5 if forms else 0.0)
            self._weights[word] = weights
        return weights


@lru_cache(maxsize=2)
def load_wordnet(directory: str = DEFAULT_WORDNET_DIR) -> WordNet:
    root = Path(directory)
    missing = [n for n in ("index.verb", "index.noun", "cntlist.rev") if not (root / n).is_file()]
    if missing:
        raise InputError(
            f"the actions set needs the WordNet 3.0 database in {root} (missing {', '.join(missing)}); "
            "Debian: apt-get install wordnet-base, or set wordnet_dir"
        )
    lemmas: dict[str, frozenset[str]] = {}
    exceptions: dict[str, dict[str, tuple[str, ...]]] = {}
    for pos in ("noun", "verb", "adj", "adv"):
        index = root / f"index.{pos}"
        words = set()
        if index.is_file():
            for line in index.read_text(encoding="utf-8").splitlines():
                if line and not line.startswith(" "):
                    words.add(line.split(" ", 1)[0])
        lemmas[pos] = frozenset(words)
        exc: dict[str, tuple[str, ...]] = {}
        path = root / f"{pos}.exc"
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                form, *bases = line.split()
                exc[form] = tuple(bases)
        exceptions[pos] = exc
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for lemma, pos, _, count in sense_counts(root):
        counts[(lemma, pos)] += count
    return WordNet(lemmas, exceptions, dict(counts))


def sense_counts(root: Path) -> Iterator[tuple[str, str, int, int]]:
    """(lemma, part of speech, lexicographer file, SemCor tag count) of each sense in `root`'s
    cntlist.rev (line: `lemma%ss_type:lex_filenum:lex_id:head_word:head_id sense_number count`)."""
    for line in (root / "cntlist.rev").read_text(encoding="utf-8").splitlines():
        key, _, count = line.split()
        lemma, _, rest = key.partition("%")
        yield lemma, _SS_TYPE[rest[0]], int(rest.split(":")[1]), int(count)


def classify_words(words: list[str], wordnet: WordNet) -> list[bool | None]:
    """Per word: True (an action verb), False (not one) or None (undecided)."""
    out: list[bool | None] = []
    for i, word in enumerate(words):
        low = word.lower()
        if low in AUXILIARIES or low in PREPOSITIONAL or not low.isalpha():
            out.append(False)
            continue
        weights = wordnet.pos_weights(low)
        total = sum(weights.values())
        share = weights["verb"] / total if total else 0.0
        after_determiner = i > 0 and words[i - 1].lower() in DETERMINERS
        if weights["verb"] == 0 or share <= NOT_VERB_SHARE:
            out.append(False)
        elif share >= VERB_SHARE and not after_determiner:
            out.append(True)
        else:
            out.append(None)
    return out


@dataclass(frozen=True)
class Links:
    """Relation labels from an action verb to a measure, per measure kind."""

    labels: dict[str, tuple[str, ...]]
    max_distance: int
    kinds: tuple[MeasureKind, ...]

    def relation_labels(self) -> list[str]:
        return list(dict.fromkeys(label for labels in self.labels.values() for label in labels))


def load_links(path: Path = LINKS_FILE) -> Links:
    if not path.is_file():
        raise InputError(f"action_links: no links file {path}")
    raw = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in ("kinds", "max_distance") if key not in raw]
    if missing:
        raise InputError(f"{path} lacks {', '.join(missing)} (see action_links.json)")
    kinds = load_kinds()
    unknown = set(raw["kinds"]) - {k.name for k in kinds}
    if unknown:
        raise InputError(f"{path} links measure kinds that measure_patterns.json does not define: {sorted(unknown)}")
    return Links({k: tuple(v) for k, v in raw["kinds"].items()}, int(raw["max_distance"]), kinds)


def link_measures(words: list[str], verbs: list[int], measures: list[tuple[int, int, str]], links: Links) -> list[tuple[int, int]]:
    """(verb word, measure index) for each linked measure: the nearest verb before the measure,
    at most `max_distance` words back, with no clause mark between."""
    out = []
    verb_set = set(verbs)
    for m, (start, _, kind) in enumerate(measures):
        if kind not in links.labels:
            continue
        for i in range(start - 1, max(-1, start - 1 - links.max_distance), -1):
            if words[i] in CLAUSE_MARKS:
                break
            if i in verb_set:
                out.append((i, m))
                break
    return out


def action_example(ex: Example, wordnet: WordNet, links: Links | None = None) -> Example | None:
    """The NER example of the verbs in `ex` (None when it has none); with `links`, also its
    measures and the verb -> measure relations."""
    verdicts = classify_words(ex.words, wordnet)
    verbs = [i for i, v in enumerate(verdicts) if v]
    if not verbs:
        return None
    entities = [(i, i, label) for i in verbs for label in ACTION_LABELS]
    relations = []
    if links is not None:
        measures = find_measures(ex.words, links.kinds)
        labels_of = {k.name: k.labels for k in links.kinds}
        first = {}
        for start, end, kind in measures:
            first[(start, end)] = len(entities)
            entities += [(start, end, label) for label in labels_of[kind]]
        head_of = {i: n * len(ACTION_LABELS) for n, i in enumerate(verbs)}
        for verb, m in link_measures(ex.words, verbs, measures, links):
            start, end, kind = measures[m]
            relations += [(head_of[verb], first[(start, end)], label) for label in links.labels[kind]]
    undecided = [(i, i) for i, v in enumerate(verdicts) if v is None]
    unknown = list(dict.fromkeys([*((s, e) for s, e, _ in ex.entities), *undecided]))
    return Example(ACTION_SET, ex.words, entities, relations, False, unknown)
