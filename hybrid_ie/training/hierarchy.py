"""Coarse -> fine links between entity label prompts, for hierarchy-aware label sampling.

A user offers labels of several grains at once ("person" and "politician", "location" and
"country", a catch-all "miscellaneous"). The rule the encoder should learn: **the most specific
offered label wins; a coarser one is the answer only when no more specific label is offered**,
and a catch-all only when nothing specific fits. Training sets are annotated at one grain each,
so without the links a fine label of one set is shown as a *negative* on another set's coarse
mentions ("politician" on a conll04 person), which teaches the encoder to refuse specific labels.

`LabelHierarchy` holds the links of `label_hierarchy.json` (written from the training sets' own
taxonomies; its `_doc` names the sources), optionally completed with WordNet hypernym links
(`wordnet_parents`): a prompt the file does not list gets as parents the file's `wordnet_roots`
that lie on the hypernym chain of its head word's first sense ("writer" -> communicator ->
person). Catch-alls count as ancestors of every prompt below a `catch_all_covers` root.
`LabelSampler` (sampling.py) uses `ancestors` and `descendants`; no inference code needs this.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from hybrid_ie.errors import InputError
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
    """Prompt -> the `roots` on the hypernym chain of its head word's first WordNet noun sense
    (the whole prompt when WordNet knows it as one lemma, else its last word), nearest first.
    Prompts that are roots themselves, or whose chain meets no root, are left out."""
    from hybrid_ie.training.labellers.nouns import load_noun_types

    types = load_noun_types(wordnet_dir)
    wanted = [r.lower() for r in roots]
    out: dict[str, list[str]] = {}
    for prompt in prompts:
        key = prompt.lower()
        if key in wanted:
            continue
        lemma = key.replace(" ", "_")
        if lemma not in types.first_sense:
            lemma = key.split()[-1] if key.split() else key
        offset = types.first_sense.get(lemma)
        found: list[str] = []
        for _ in range(WORDNET_MAX_DEPTH):
            entry = types.synsets.get(offset) if offset is not None else None
            if entry is None or entry[2] is None:
                break
            offset = entry[2]
            name = types.synsets[offset][1] if offset in types.synsets else None
            if name in wanted and name not in found:
                found.append(name)
        if found:
            out[key] = found
    return out
