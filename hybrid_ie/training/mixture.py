"""The training mixture: data sets of the data folder -> word-level `Example`s.

Which sets: a list of names, or `"all"` (every folder of the data dir, minus `exclude`, which is
where the zero-shot protocol's held-out sets go). Each set's labels come from its repo schema
(`schemas/<name>.json`, for the sets the shipped checkpoint was first trained on) or else from its
`types.json` verbose names; its annotation (complete / partial) from the registry.

Words are `hybrid_ie.chunking.word_spans` of the text (the segmentation used at inference).
A mention whose token glued the sentence's closing period on ("Texas.") already ends before it
(`hybrid_ie.datasets.spert_to_document`), so no mention is learned ending in that period.
Texts longer than `max_words` words (document-level sets) are cut into windows of at most that
many words, at a sentence end where one is near; items crossing a cut are dropped.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from hybrid_ie.chunking import word_spans
from hybrid_ie.datasets import DataSet, discover_sets
from hybrid_ie.document import Document
from hybrid_ie.errors import InputError
from hybrid_ie.schema import Schema, prompt_key
from hybrid_ie.training.labellers.actions import (
    ACTION_LABELS,
    ACTION_SET,
    DEFAULT_WORDNET_DIR,
    LINKED_SET,
    LINKS_FILE,
    action_example,
    load_links,
    load_wordnet,
)
from hybrid_ie.training.labellers.measures import (
    MEASURE_SET,
    measure_example,
    measure_labels,
    with_varied_notation,
)
from hybrid_ie.training.labellers.nouns import LINKS_FILE as NOUN_LINKS_FILE
from hybrid_ie.training.labellers.nouns import NOUN_SET, load_noun_links, load_noun_types, noun_example
from hybrid_ie.training.sampling import Example, SetTypes, load_synonyms, with_synonyms

log = logging.getLogger("hybrid_ie.training.mixture")
SENTENCE_END = {".", "!", "?"}
ROLES_FILE = Path(__file__).with_name("relation_roles.json")
ROLE_SUFFIX = "+roles"
NOUN_MAX_LABELS = 1000


def select_sets(names: Sequence[str] | str, exclude: Sequence[str] = (), root: str | Path | None = None) -> list[DataSet]:
    """The registry's sets named in `names` (or all of them for `"all"`), minus `exclude`. An empty
    list reads no data dir at all (distillation without replay trains on its own examples only)."""
    if not isinstance(names, str) and not names:
        return []
    available = {s.name: s for s in discover_sets(root)}
    if isinstance(names, str):
        if names != "all":
            raise InputError(f"datasets must be a list of names or 'all', got {names!r}")
        wanted = list(available)
    else:
        wanted = list(names)
    missing = [n for n in [*wanted, *exclude] if n not in available]
    if missing:
        raise InputError(f"unknown data sets {missing}; available: {', '.join(available)}")
    return [available[n] for n in wanted if n not in set(exclude)]


def set_types(schema: Schema) -> SetTypes:
    return SetTypes(
        entities={t.name: t.prompt for t in schema.entity_types},
        relations={t.name: t.prompt for t in schema.relation_types},
        symmetric=schema.symmetric_relations,
    )


def to_examples(
    doc: Document,
    dataset: str,
    *,
    partial: bool = False,
    max_words: int = 0,
    weights: tuple[dict[str, float], dict[int, float]] | None = None,
    negative_weight: float = 1.0,
) -> list[Example]:
    """One document -> one or more Examples (several when it is longer than `max_words`).
    `weights`: (entity id -> loss weight, relation index -> loss weight), missing ones 1.0."""
    spans = word_spans(doc.text)
    ent_w, rel_w = weights or ({}, {})
    if not spans:
        return []
    cuts = _cuts([doc.text[s:e] for s, e in spans], max_words) if max_words else [(0, len(spans))]
    out = []
    for lo, hi in cuts:
        starts = {spans[i][0]: i - lo for i in range(lo, hi)}
        ends = {spans[i][1]: i - lo for i in range(lo, hi)}
        index: dict[str, int] = {}
        entities = []
        for ent in doc.entities:
            if ent.start in starts and ent.end in ends and starts[ent.start] <= ends[ent.end]:
                first, last = starts[ent.start], ends[ent.end]
                index[ent.id] = len(entities)
                entities.append((first, last, ent.label))
        kept = [(i, r) for i, r in enumerate(doc.relations) if r.head in index and r.tail in index]
        relations = [(index[r.head], index[r.tail], r.label) for _, r in kept]
        words = [doc.text[s:e] for s, e in spans[lo:hi]]
        example = Example(dataset, words, entities, relations, partial, negative_weight=negative_weight)
        if weights is not None:
            example.entity_weights = [ent_w.get(i, 1.0) for i in index]
            example.relation_weights = [rel_w.get(i, 1.0) for i, _ in kept]
        out.append(example)
    return out


def _cuts(words: list[str], max_words: int) -> list[tuple[int, int]]:
    """Consecutive [lo, hi) word windows of at most max_words, ending after a sentence end
    when one lies in the second half of the window."""
    out, lo = [], 0
    while lo < len(words):
        hi = min(len(words), lo + max_words)
        if hi < len(words):
            for j in range(hi - 1, lo + max_words // 2, -1):
                if words[j] in SENTENCE_END:
                    hi = j + 1
                    break
        out.append((lo, hi))
        lo = hi
    return out


def load_roles(path: Path = ROLES_FILE) -> dict[str, dict[str, str]]:
    """Relation prompt -> {"head": role prompt, "tail": role prompt} (either may be absent)."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: v for k, v in raw.items() if not k.startswith("_")}


def role_example(ex: Example, relation_prompts: dict[str, str], roles: dict[str, dict[str, str]]) -> Example | None:
    """An NER example whose types are the roles the example's relations give their arguments
    (e.g. the tail of "director" is a "film director"). Every mention is `unknown` (it may hold
    a role no relation states) except for the role it is marked with; non-mentions are negatives."""
    found: dict[tuple[int, int, str], None] = {}
    for h, t, label in ex.relations:
        role = roles.get(relation_prompts.get(label, ""), {})
        for side, idx in (("head", h), ("tail", t)):
            if side in role:
                s, e, _ = ex.entities[idx]
                found[(s, e, role[side])] = None
    if not found:
        return None
    unknown = list(dict.fromkeys((s, e) for s, e, _ in ex.entities))
    return Example(f"{ex.dataset}{ROLE_SUFFIX}", ex.words, list(found), [], False, unknown)


def load_mixture(
    sets: Sequence[DataSet],
    *,
    split: str = "train",
    limit: int | None = None,
    max_words: int = 0,
    relation_roles: Sequence[str] = (),
    measure_sets: Sequence[str] | str = (),
    action_sets: Sequence[str] | str = (),
    wordnet_dir: str = DEFAULT_WORDNET_DIR,
    action_links: bool | str = False,
    noun_sets: Sequence[str] | str = (),
    noun_links: bool | str = False,
    noun_strict: bool = False,
    measure_notations: bool = False,
) -> tuple[dict[str, list[Example]], dict[str, SetTypes]]:
    """Examples and label sides of each set (sets without the split are skipped, with a log line).
    For each set named in `relation_roles`, also a derived NER set `<name>+roles` (`role_example`).
    Rule-labelled sets, each fed by the texts of the sets named (names, or "all": every completely
    annotated set of the mixture): `measure_sets` -> `measures` (quantities, times and dates;
    `hybrid_ie.training.labellers.measures`), `action_sets` -> `actions` (verbs, from WordNet in
    `wordnet_dir`; with `action_links`, True for `action_links.json` or a path, also their
    measures and verb -> measure relations; `hybrid_ie.training.labellers.actions`), `noun_sets` -> `nouns`
    (common nouns typed by their WordNet hypernyms and supersense; with `noun_links`, True for
    `noun_links.json` or a path, also verb -> noun relations by thematic role; with
    `noun_strict`, nouns whose first sense is uncertain stay unknown and no noun type is a label
    that a data set of the mixture annotates; `hybrid_ie.training.labellers.nouns`). With
    `measure_notations`, the measures set and the linked actions set write each measure's unit in
    a form of its notation group (`measures.vary_notation`)."""
    examples: dict[str, list[Example]] = {}
    types: dict[str, SetTypes] = {}
    by_name = {ds.name: ds for ds in sets}
    _complete_sources(by_name, relation_roles, "relation_roles", "role negatives need complete mentions")
    roles = load_roles() if relation_roles else {}
    rules: list[tuple[RuleSet, set[str]]] = []
    for setting, value, make in (("measure_sets", measure_sets, lambda: _measure_rules(measure_notations)),
                                 ("action_sets", action_sets, lambda: _action_rules(wordnet_dir, action_links, measure_notations)),
                                 ("noun_sets", noun_sets, lambda: _noun_rules(wordnet_dir, noun_links, noun_strict))):  # fmt: skip
        if sources := _rule_sources(sets, by_name, value, setting):
            rules.append((make(), sources))
    derived: dict[str, list[Example]] = {rule.name: [] for rule, _ in rules}
    for ds in sets:
        if split not in ds.splits:
            log.warning("data set %s has no %s split; skipped", ds.name, split)
            continue
        docs = ds.load(split)[:limit]
        exs = [ex for d in docs if d.text.strip() for ex in to_examples(d, ds.name, partial=ds.partial, max_words=max_words)]
        examples[ds.name] = exs
        types[ds.name] = set_types(ds.schema())
        log.info("%s: %d examples (%s annotation)", ds.name, len(exs), ds.annotation)
        if ds.name in relation_roles:
            role_exs = [r for ex in exs if (r := role_example(ex, types[ds.name].relations, roles))]
            role_prompts = sorted({label for r in role_exs for _, _, label in r.entities})
            examples[ds.name + ROLE_SUFFIX] = role_exs
            types[ds.name + ROLE_SUFFIX] = SetTypes(entities={p: p for p in role_prompts}, relations={})
            log.info("%s%s: %d examples, %d role types", ds.name, ROLE_SUFFIX, len(role_exs), len(role_prompts))
        for rule, sources in rules:
            if ds.name in sources:
                for ex in exs:
                    if (derived_ex := rule.derive(ex)) is not None:
                        derived[rule.name].append(derived_ex)
                        if rule.unmark:
                            _unmark(ex, derived_ex)
    annotated = {p for t in types.values() for p in t.entities.values()}  # the data sets' own labels
    for rule, sources in rules:
        if rule.defer_to_sets:  # a weak rule does not redefine a label that a curated set annotates
            derived[rule.name] = _without_labels(derived[rule.name], annotated)
            rule = replace(rule, labels=[p for p in rule.labels if p not in annotated])
        if rule.max_labels:
            derived[rule.name], kept = _most_frequent_labels(derived[rule.name], rule.max_labels)
            rule = replace(rule, labels=[p for p in rule.labels if p in kept])
            log.info("%s: the %d most frequent of its labels kept", rule.name, len(rule.labels))
        rule_types = SetTypes(entities={p: p for p in rule.labels}, relations={p: p for p in rule.relations})
        parts = {rule.name: derived[rule.name]}
        if rule.linked_set:  # the few texts with relations: a set of their own, to weight
            parts = {rule.name: [ex for ex in derived[rule.name] if not ex.relations],
                     rule.linked_set: [ex for ex in derived[rule.name] if ex.relations]}  # fmt: skip
        for name, part in parts.items():
            for ex in part:
                ex.dataset = name
            examples[name], types[name] = part, rule_types
            log.info("%s: %d examples from %d sets", name, len(part), len(sources))
    return examples, types


@dataclass(frozen=True)
class RuleSet:
    """A derived NER set whose labels are given by rules over the texts of other sets."""

    name: str
    labels: list[str]
    derive: Callable[[Example], Example | None]
    relations: list[str] = field(default_factory=list)
    linked_set: str | None = None  # where its examples with relations go
    unmark: bool = True  # its positives become unknown spans in the source example (`_unmark`)
    max_labels: int = 0  # > 0: keep only its this many most frequent entity labels
    defer_to_sets: bool = False  # drop its labels that a data set of the mixture annotates


def _measure_rules(notations: bool = False) -> RuleSet:
    if notations:
        return RuleSet(MEASURE_SET, measure_labels(), lambda ex: measure_example(with_varied_notation(ex)))
    return RuleSet(MEASURE_SET, measure_labels(), measure_example)


def _action_rules(wordnet_dir: str, linked: bool | str, notations: bool = False) -> RuleSet:
    wordnet = load_wordnet(wordnet_dir)
    if not linked:
        return RuleSet(ACTION_SET, list(ACTION_LABELS), lambda ex: action_example(ex, wordnet))
    links = load_links(LINKS_FILE if linked is True else Path(linked))
    labels = list(dict.fromkeys([*ACTION_LABELS, *measure_labels(links.kinds)]))
    vary = (lambda ex: with_varied_notation(ex, links.kinds)) if notations else (lambda ex: ex)
    return RuleSet(ACTION_SET, labels, lambda ex: action_example(vary(ex), wordnet, links), links.relation_labels(), LINKED_SET)


def _noun_rules(wordnet_dir: str, linked: bool | str, strict: bool = False) -> RuleSet:
    """Its positives stay negatives of the source set's own labels (a common noun is rarely a
    named entity), so it does not unmark; a noun type shown as a global negative with another
    set's text is then a false negative on that text's nouns, unless `foreign_negative_weight` < 1
    lowers it there."""
    wordnet, nouns = load_wordnet(wordnet_dir), load_noun_types(wordnet_dir)
    links = load_noun_links(NOUN_LINKS_FILE if linked is True else Path(linked)) if linked else None
    labels = [*_noun_labels(nouns), *(ACTION_LABELS if links else ())]
    return RuleSet(NOUN_SET, list(dict.fromkeys(labels)),
                   lambda ex: noun_example(ex, wordnet, nouns, links, only_confident=strict),
                   links.relation_labels() if links else [], unmark=False, max_labels=NOUN_MAX_LABELS,
                   defer_to_sets=strict)  # fmt: skip


def _most_frequent_labels(examples: list[Example], k: int) -> tuple[list[Example], set[str]]:
    """The examples with only the `k` most frequent entity labels (ties: alphabetical), their
    relations re-indexed; those left without entities are dropped. Thousands of rare WordNet types
    would crowd the label pool (near-miss negatives rank the whole pool against itself)."""
    counts = Counter(label for ex in examples for _, _, label in ex.entities)
    kept = {label for label, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]}
    return _keep_labels(examples, kept), kept


def _without_labels(examples: list[Example], dropped: set[str]) -> list[Example]:
    labels = {label for ex in examples for _, _, label in ex.entities}
    return _keep_labels(examples, labels - dropped)


def _keep_labels(examples: list[Example], kept: set[str]) -> list[Example]:
    """`examples` with only the entities labelled from `kept`, relations re-indexed, spans left
    without a label unknown; those left without entities are dropped."""
    out = []
    for ex in examples:
        index = {i: n for n, i in enumerate(i for i, (_, _, label) in enumerate(ex.entities) if label in kept)}
        if not index:
            continue
        dropped = [(s, e) for s, e, label in ex.entities if label not in kept]
        ex.entities = [ent for ent in ex.entities if ent[2] in kept]
        ex.relations = [(index[h], index[t], label) for h, t, label in ex.relations if h in index and t in index]
        gold = {(s, e) for s, e, _ in ex.entities}
        ex.unknown = list(dict.fromkeys([*ex.unknown, *(span for span in dropped if span not in gold)]))
        out.append(ex)
    return out


def _noun_labels(nouns) -> list[str]:
    return sorted({*(name for _, name, _ in nouns.synsets.values()), *nouns.supersenses.values()})


def _unmark(source: Example, derived: Example) -> None:
    """The source set does not annotate what the rules mark: where global negative labels such as
    "duration" or "action" are shown with its text, the rules' positive spans must not count as
    negatives."""
    gold = {(s, e) for s, e, _ in source.entities} | set(source.unknown)
    source.unknown += [span for span in dict.fromkeys((s, e) for s, e, _ in derived.entities) if span not in gold]


def _rule_sources(sets: Sequence[DataSet], by_name: dict[str, DataSet], value: Sequence[str] | str, setting: str) -> set[str]:
    if isinstance(value, str):
        if value != "all":
            raise InputError(f"{setting} must be a list of names or 'all', got {value!r}")
        return {ds.name for ds in sets if not ds.partial}
    return _complete_sources(by_name, value, setting, "unmatched spans must be true negatives")


def _complete_sources(by_name: dict[str, DataSet], names: Sequence[str], setting: str, why: str) -> set[str]:
    """The names of a derived-set setting, checked: each a set of the mixture, none partially
    annotated (a derived set treats unmarked spans as negatives)."""
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise InputError(f"{setting} names sets that are not in the mixture: {unknown}")
    partial = [n for n in names if by_name[n].partial]
    if partial:
        raise InputError(f"{setting}: {', '.join(partial)} {'is' if len(partial) == 1 else 'are'} partially "
                         f"annotated; {why}")  # fmt: skip
    return set(names)


def relation_prompt_pool(root: str | Path | None = None) -> set[str]:
    """Every relation prompt training can show (`prompt_key` form): the relation prompts of the
    data dir's sets, their synonyms, and those of the rule files. A checkpoint trained before
    `known_relation_labels` was stored gets it as `known_labels` & this pool (`hybrid-ie calibrate
    --backoff-grid`); held-out sets' prompts are in the pool but not in `known_labels`."""
    prompts = {p for ds in discover_sets(root) for p in set_types(ds.schema()).relations.values()}
    for path in sorted(LINKS_FILE.parent.glob("action_links*.json")):
        prompts.update(load_links(path).relation_labels())
    prompts.update(load_noun_links().relation_labels())
    return {prompt_key(p) for p in with_synonyms(prompts, load_synonyms())}
