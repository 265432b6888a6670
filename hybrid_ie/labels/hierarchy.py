"""Coarse -> fine links between entity label prompts: for label sampling in training, and for
decoding, where the most specific offered label that passes its cut-off wins a span.

A user offers labels of several grains at once ("person" and "politician", "location" and
"country", a catch-all "miscellaneous"). The rule: **the most specific offered label wins; a
coarser one is the answer only when no more specific label fits**, and a catch-all only when
nothing specific does. Training sets are annotated at one grain each, so without the links a fine
label of one set is shown as a *negative* on another set's coarse mentions ("politician" on a
conll04 person), which teaches the encoder to refuse specific labels.

`LabelHierarchy` holds the links of `label_hierarchy.json` (written from the training sets' own
taxonomies; its `_doc` names the sources), optionally completed with WordNet hypernym links
(`wordnet_parents`): a prompt the file does not list gets as parents the given roots that lie on
the hypernym chain of its head word's first sense ("writer" -> communicator -> person).
Catch-alls count as ancestors of every prompt below a `catch_all_covers` root. `LabelSampler`
(training) uses `ancestors` and `descendants`; decoding uses `general_labels`, the links among
the labels of one schema (`offered_ancestors`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from hybrid_ie.errors import InputError
from hybrid_ie.labels.wordnet import DEFAULT_WORDNET_DIR, NounSenses, has_wordnet, noun_lookup, read_nouns
from hybrid_ie.schema import Schema
from hybrid_ie.settings_files import read_settings

HIERARCHY_FILE = Path(__file__).with_name("label_hierarchy.json")
WORDNET_MAX_DEPTH = 12  # hypernym steps followed up from a head word's first sense


@dataclass
class LabelHierarchy:
    """Parent links between prompts (lower-cased), catch-alls and the roots they cover."""

    parents: dict[str, list[str]]
    catch_alls: frozenset[str] = frozenset()
    catch_all_covers: frozenset[str] = frozenset()
    wordnet_roots: tuple[str, ...] = ()
    _ancestors: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _children: dict[str, set[str]] = field(default_factory=dict, repr=False)
    _descendants: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.parents = {k.lower(): [p.lower() for p in v] for k, v in self.parents.items()}
        self._children = {}
        for child, ps in self.parents.items():
            for p in ps:
                self._children.setdefault(p, set()).add(child)

    def ancestors(self, prompt: str) -> tuple[str, ...]:
        """Every ancestor of `prompt`, nearest first (breadth-first over the parent links), then
        the catch-alls when `prompt` lies below (or is) a covered root. A catch-all has none."""
        key = prompt.lower()
        if (found := self._ancestors.get(key)) is not None:
            return found
        order: list[str] = []
        frontier = [key]
        while frontier:
            nxt = []
            for node in frontier:
                for p in self.parents.get(node, ()):
                    if p == key:
                        raise InputError(f"label hierarchy: the links make a cycle through {key!r}")
                    if p not in order:
                        order.append(p)
                        nxt.append(p)
            frontier = nxt
        if key not in self.catch_alls and ({key, *order} & self.catch_all_covers):
            order += sorted(self.catch_alls - {key})
        self._ancestors[key] = found = tuple(order)
        return found

    def descendants(self, prompt: str) -> frozenset[str]:
        """Every prompt below `prompt` by the parent links (catch-alls do not count here: a
        catch-all is not treated as a parent of everything when deciding what may be true)."""
        key = prompt.lower()
        if (found := self._descendants.get(key)) is not None:
            return found
        out: set[str] = set()
        frontier = [key]
        while frontier:
            nxt = []
            for node in frontier:
                for c in self._children.get(node, ()):
                    if c not in out:
                        out.add(c)
                        nxt.append(c)
            frontier = nxt
        self._descendants[key] = found = frozenset(out)
        return found

    def with_parents(self, extra: dict[str, list[str]]) -> LabelHierarchy:
        """A copy with `extra` links added for prompts that have none yet."""
        merged = dict(self.parents)
        for child, ps in extra.items():
            if child.lower() not in merged and ps:
                merged[child.lower()] = list(ps)
        return LabelHierarchy(merged, self.catch_alls, self.catch_all_covers, self.wordnet_roots)


def load_hierarchy(path: str | Path = HIERARCHY_FILE) -> LabelHierarchy:
    raw = read_settings(path, "a label hierarchy")
    parents = raw.get("parents")
    if not isinstance(parents, dict) or not all(
        isinstance(v, list) and all(isinstance(p, str) for p in v) for v in parents.values()
    ):
        raise InputError(f"{path}: 'parents' must map each prompt to a list of parent prompts")
    hierarchy = LabelHierarchy(
        parents,
        frozenset(s.lower() for s in raw.get("catch_alls", [])),
        frozenset(s.lower() for s in raw.get("catch_all_covers", [])),
        tuple(s.lower() for s in raw.get("wordnet_roots", [])),
    )
    for child in hierarchy.parents:
        hierarchy.ancestors(child)  # raises on a cycle
    return hierarchy


def wordnet_parents(prompts: Iterable[str], roots: Iterable[str], wordnet_dir: str) -> dict[str, list[str]]:
    """Prompt -> the `roots` above it in WordNet (`wordnet_above`), nearest first. Prompts that are
    roots themselves, or that no root lies above, are left out."""
    nouns = read_nouns(wordnet_dir)
    wanted = [r.lower() for r in roots]
    return {key: found for p in prompts if (key := p.lower()) not in wanted and (found := wordnet_above(nouns, key, wanted))}


def wordnet_above(nouns: NounSenses, prompt: str, names: Collection[str]) -> list[str]:
    """The `names` whose meaning lies above the prompt's in WordNet, nearest first: a name is
    above when its own first noun sense (the whole name must be a WordNet lemma: "person",
    "political party") is on the hypernym chain of the first sense of the prompt's head word
    (`NounDatabase.head_lemma`: "musical artist" -> artist). First senses only, so that a word's
    rarer meaning ("organization" as an arrangement) links nothing."""
    lemma = nouns.head_lemma(prompt)
    if lemma is None:
        return []
    depth = {offset: i for i, offset in enumerate(nouns.hypernym_chain(lemma, WORDNET_MAX_DEPTH))}
    found = [(depth[sense], name) for name in names if (sense := nouns.first_sense(name)) in depth]
    return [name for _, name in sorted(found)]


def offered_ancestors(
    prompts: Sequence[str], hierarchy: LabelHierarchy | None = None, wordnet_dir: str | None = DEFAULT_WORDNET_DIR
) -> dict[str, frozenset[str]]:
    """For each offered prompt (as given), the offered prompts more general than it: its
    ancestors in `hierarchy` (default: `label_hierarchy.json`), the offered prompts on its WordNet
    hypernym chain when the database is in `wordnet_dir` (None: not read), and every offered
    catch-all ("miscellaneous": for mentions no specific offered label fits). Two prompts that
    would each be above the other are linked neither way. Prompts with none are left out."""
    hierarchy = hierarchy if hierarchy is not None else default_hierarchy()
    by_key: dict[str, str] = {}
    for prompt in prompts:
        by_key.setdefault(prompt.lower(), prompt)
    links = {key: {a for a in hierarchy.ancestors(key) if a in by_key} for key in by_key}
    if wordnet_dir is not None and has_wordnet(wordnet_dir):
        nouns = noun_lookup(wordnet_dir)
        for key in by_key:
            links[key].update(wordnet_above(nouns, key, by_key))
    for key in by_key:
        if key not in hierarchy.catch_alls:
            links[key].update(c for c in hierarchy.catch_alls if c in by_key)
    out = {}
    for key, above in links.items():
        kept = frozenset(by_key[a] for a in above if a != key and key not in links[a])
        if kept:
            out[by_key[key]] = kept
    return out


@lru_cache(maxsize=1)
def default_hierarchy() -> LabelHierarchy:
    """The links of `label_hierarchy.json`, read once."""
    return load_hierarchy()


def general_labels(schema: Schema) -> dict[str, frozenset[str]]:
    """Entity type name -> the schema's types whose prompts are more general than its prompt
    (`offered_ancestors` over the prompts, remembered per prompt tuple: `prompt_links`)."""
    prompts = tuple(t.prompt for t in schema.entity_types)
    if len(prompts) < 2:
        return {}
    name_of = {t.prompt: t.name for t in schema.entity_types}
    return {name_of[p]: frozenset(name_of[a] for a in above) for p, above in prompt_links(prompts).items()}


@lru_cache(maxsize=64)
def prompt_links(prompts: tuple[str, ...]) -> dict[str, frozenset[str]]:
    """`offered_ancestors(prompts)` with the default sources, computed once per prompt tuple."""
    return offered_ancestors(prompts)
