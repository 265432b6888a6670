"""What a training step sees: which data set an example comes from, and which label prompts it
is shown with.

* `SetSampler` draws the data set of each example with temperature-based sampling:
  p(set) ∝ (n_set ** (1 / T)) * weight_set, so big sets do not drown small ones (T = 1: by size;
  large T: uniform over sets). Within a set, examples are drawn without replacement, reshuffled
  when exhausted.
* `LabelSampler` builds each example's prompt list: the gold types present in it (each dropped
  with `label_drop`: its spans become negatives), other types of the same set (true negatives
  when the set is completely annotated), and negatives from the *global* pool of every training
  set's prompts — half of them near misses (prompts whose embedding is close to a gold one) —
  capped at `max_entity_labels` / `max_relation_labels`, shuffled. Prompts are sometimes swapped
  for a synonym (`label_synonyms.json`). Negatives too similar to one of the set's own prompts
  (cosine >= `synonym_guard`) are left out: they may well be true for the text. So are, with
  `lexical_guard` N > 0, global entity negatives that another set annotates on a string of this
  text (at least N times in training): "human" is a species in one set and an organism in
  another, and a text that does not annotate organisms says nothing about whether it has one.
  With `projection_prob` > 0 such a label is sometimes shown as a *positive* instead
  (`positive_lexicon`, distant supervision): on the strings of the text that its own sets
  annotate with it often enough and reliably enough ("mice" -> organism in an anatomy text), so
  that labels meet in one prompt list that no single set pairs.
* With a label hierarchy (`hierarchy.py`) the entity side follows "the most specific offered
  label wins": a descendant of a gold prompt in the text is never a negative (a conll04 person
  may be a politician); with `ancestor_prob` an example is shown with an ancestor or catch-all
  of its gold beside it (a negative on those spans: the specific label wins); a gold type that
  was dropped, or deliberately replaced with `ancestor_prob`, has its nearest *offered* ancestor
  as gold instead (the coarse label covers the fine mentions when the fine label is absent).
* With relation phrasings (`relation_phrasings.json`: the words users type for each training
  relation, verb and noun forms, and passive forms that read tail -> head) a relation prompt is
  replaced by one of them with `phrasing_prob`; a reversed phrasing's gold pairs are swapped
  (its type name in the index is "~" + the type's).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from hybrid_ie.errors import InputError
from hybrid_ie.labels.hierarchy import LabelHierarchy
from hybrid_ie.training.lexicon import ngram_positions, text_ngrams

SYNONYMS_FILE = Path(__file__).with_name("label_synonyms.json")
PHRASINGS_FILE = Path(__file__).with_name("relation_phrasings.json")
REVERSED = "~"  # prefix of a relation type name whose prompt reads tail -> head


@dataclass(frozen=True)
class Phrasings:
    """Relation prompt -> phrasings that read head -> tail (`same`) and tail -> head (`reversed`)."""

    same: dict[str, list[str]]
    reversed: dict[str, list[str]]

    def all_prompts(self) -> set[str]:
        return {p for table in (self.same, self.reversed) for v in table.values() for p in v}


def load_phrasings(path: Path = PHRASINGS_FILE) -> Phrasings:
    raw = json.loads(path.read_text(encoding="utf-8"))
    same, rev = {}, {}
    for key, value in raw.items():
        if key.startswith("_"):
            continue
        if not isinstance(value, dict) or not set(value) <= {"same", "reversed"}:
            raise ValueError(f"{path}: {key!r} must map to {{'same': [...], 'reversed': [...]}}")
        same[key], rev[key] = list(value.get("same", [])), list(value.get("reversed", []))
    return Phrasings(same, rev)


def load_synonyms(path: Path = SYNONYMS_FILE) -> dict[str, list[str]]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    return {k: list(v) for k, v in raw.items() if not k.startswith("_")}


@dataclass
class Example:
    """A training text in word units: entities (start, end inclusive, type name) and relations
    (head entity index, tail entity index, type name). `partial`: only the marked items are
    known (unmarked spans and pairs are not negatives). `unknown`: spans whose labels are not
    known (no loss there except the marked entity's own label); every other span is a negative.
    `entity_weights` / `relation_weights` (empty: all 1): the loss weight of each marked item, in
    the order of `entities` / `relations`; `negative_weight`: the loss weight of every unmarked
    (span, label) cell and pair (distillation from an LLM whose labels are incomplete: < 1)."""

    dataset: str
    words: list[str]
    entities: list[tuple[int, int, str]]
    relations: list[tuple[int, int, str]]
    partial: bool = False
    unknown: list[tuple[int, int]] = field(default_factory=list)
    entity_weights: list[float] = field(default_factory=list)
    relation_weights: list[float] = field(default_factory=list)
    negative_weight: float = 1.0


@dataclass
class SetTypes:
    """The label side of one training set: type name -> prompt, for entities and relations."""

    entities: dict[str, str]
    relations: dict[str, str]
    symmetric: set[str] = field(default_factory=set)


class SetSampler:
    """Temperature-based sampling over data sets, then without replacement inside a set.

    `shares` fixes the probability of the sets it names (e.g. {"silver": 0.5}: half of all
    draws); the other sets share the rest by temperature and weight (with no other set, the named
    ones are normalised to sum 1)."""

    def __init__(
        self,
        sizes: dict[str, int],
        rng: random.Random,
        *,
        temperature: float = 2.0,
        weights: dict[str, float] | None = None,
        shares: dict[str, float] | None = None,
    ):
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.names = [n for n in sizes if sizes[n] > 0]
        if not self.names:
            raise ValueError("no training examples in any set")
        weights, shares = weights or {}, {n: float(v) for n, v in (shares or {}).items() if n in self.names}
        if any(not 0.0 <= v <= 1.0 for v in shares.values()) or sum(shares.values()) > 1.0 + 1e-9:
            raise ValueError(f"set shares must be in [0, 1] and sum to at most 1, got {shares}")
        free = [n for n in self.names if n not in shares]
        raw = {n: sizes[n] ** (1.0 / temperature) * float(weights.get(n, 1.0)) for n in free}
        rest = 1.0 - sum(shares.values())
        probs = {n: shares.get(n, 0.0) for n in self.names}
        if free and sum(raw.values()) > 0:
            probs.update({n: rest * raw[n] / sum(raw.values()) for n in free})
        total = sum(probs.values())
        if total <= 0:
            raise ValueError("every set has probability 0")
        self.probabilities = {n: probs[n] / total for n in self.names}
        self.sizes = dict(sizes)
        self.rng = rng
        self._orders: dict[str, list[int]] = {}

    def next(self) -> tuple[str, int]:
        """(set name, example index within the set)."""
        name = self.rng.choices(self.names, weights=[self.probabilities[n] for n in self.names])[0]
        order = self._orders.get(name)
        if not order:
            order = list(range(self.sizes[name]))
            self.rng.shuffle(order)
            self._orders[name] = order
        return name, order.pop()

    def state(self) -> dict:
        return {"orders": {k: list(v) for k, v in self._orders.items()}}

    def load_state(self, state: dict) -> None:
        self._orders = {k: list(v) for k, v in state.get("orders", {}).items()}


def with_synonyms(prompts: Iterable[str], synonyms: dict[str, list[str]]) -> set[str]:
    """The prompts and every synonym `synonyms` lists for them."""
    out = set(prompts)
    for p in list(out):
        out.update(synonyms.get(p, []))
    return out


class NearMisses:
    """For each prompt, the other prompts of the pool ranked by embedding similarity."""

    def __init__(self, prompts: Sequence[str], embed: Callable[[list[str]], list[list[float]]] | None):
        self.prompts = sorted(set(prompts))
        self.sim: dict[str, dict[str, float]] = {p: {} for p in self.prompts}
        self.ranked: dict[str, list[str]] = {p: [] for p in self.prompts}
        if embed is None or len(self.prompts) < 2:
            return
        unit = torch.nn.functional.normalize(torch.tensor(embed(self.prompts), dtype=torch.float64), dim=-1)
        matrix = (unit @ unit.T).tolist()
        for i, p in enumerate(self.prompts):
            row = {q: matrix[i][j] for j, q in enumerate(self.prompts) if j != i}
            self.sim[p] = row
            self.ranked[p] = sorted(row, key=lambda q, row=row: -row[q])  # once, not per example

    def similarity(self, a: str, b: str) -> float:
        return 1.0 if a == b else self.sim.get(a, {}).get(b, 0.0)

    def nearest(self, prompt: str, k: int) -> list[str]:
        return self.ranked.get(prompt, [])[:k]


@dataclass
class LabelSettings:
    """How each example's prompt lists are drawn (the `sampling` section of a training config)."""

    label_drop: float = 0.15
    synonym_prob: float = 0.15
    max_entity_labels: int = 25
    max_relation_labels: int = 10
    near_miss_share: float = 0.5
    near_miss_k: int = 20
    synonym_guard: float = 0.85
    lexical_guard: int = 0  # > 0: global negatives another set annotates on this text (>= N times) are left out
    projection_prob: float = 0.0  # > 0: per complete example, show up to max_projected global labels
    # as positives on the strings their own sets annotate with them (positive_lexicon)
    projection_min_count: int = 5
    projection_min_purity: float = 0.5
    max_projected: int = 3
    label_hierarchy: bool | str = False  # entity labels follow "the most specific offered label wins"
    # (True: hybrid_ie/labels/label_hierarchy.json, or the path of such a file)
    hierarchy_wordnet: bool = True  # with a hierarchy: prompts it does not list get WordNet parents
    ancestor_prob: float = 0.0  # with a hierarchy: show an ancestor beside a gold (a negative there)
    ancestor_raise_prob: float | None = None  # with a hierarchy: a kept gold is replaced by one of its
    # ancestors, which then covers its mentions (None: ancestor_prob / 2). Coarsely annotated sets
    # teach that cover already; raising on finely annotated ones makes the ancestor a positive on the
    # same spans where it is a negative beside the fine label
    relation_phrasings: bool | str = False  # relation prompts sometimes in users' words, passive forms
    # swapped (True: relation_phrasings.json, or the path of such a file)
    phrasing_prob: float = 0.0  # with phrasings: a relation prompt becomes one of its phrasings
    lowercase_prob: float = 0.0  # an example's words are lower-cased (short typed queries, social text):
    # the word-shape embedding otherwise teaches the encoder to lean on capitals

    def __post_init__(self) -> None:
        for name in ("label_drop", "synonym_prob", "near_miss_share", "projection_prob", "ancestor_prob",
                     "phrasing_prob", "lowercase_prob", "ancestor_raise_prob"):  # fmt: skip
            if getattr(self, name) is not None and not 0.0 <= getattr(self, name) <= 1.0:
                raise InputError(f"{name} must be in [0, 1], got {getattr(self, name)}")


class LabelSampler:
    """Chooses the prompts an example is shown with, and maps its gold types to prompt indices."""

    def __init__(
        self,
        sets: dict[str, SetTypes],
        settings: LabelSettings,
        rng: random.Random,
        *,
        synonyms: dict[str, list[str]] | None = None,
        embed: Callable[[list[str]], list[list[float]]] | None = None,
        lexicon: dict[str, frozenset[str]] | None = None,
        positives: dict[str, frozenset[str]] | None = None,
        hierarchy: LabelHierarchy | None = None,
        phrasings: Phrasings | None = None,
    ):
        """`lexicon`: `mention_lexicon` of the training examples, for `settings.lexical_guard`;
        `positives`: `positive_lexicon`, for `settings.projection_prob`; `hierarchy` and
        `phrasings`: see the module doc."""
        self.sets = sets
        self.hierarchy = hierarchy
        self.phrasings = phrasings
        self.lexicon = lexicon or {}
        self.positives = positives or {}
        self.s = settings
        self.rng = rng
        self.synonyms = load_synonyms() if synonyms is None else synonyms
        self.entity_pool = sorted({p for t in sets.values() for p in t.entities.values()})
        self.relation_pool = sorted({p for t in sets.values() for p in t.relations.values()})
        self.entity_near = NearMisses(self.entity_pool, embed)
        self.relation_near = NearMisses(self.relation_pool, embed)
        self._same_as = self._same_meaning_table()

    def known_labels(self) -> list[str]:
        """Every prompt training shows (pool + synonyms): what the router treats as familiar."""
        shown = with_synonyms([*self.entity_pool, *self.relation_pool, *self._ancestors_shown()], self.synonyms)
        return sorted(shown | self._phrased())

    def _ancestors_shown(self) -> set[str]:
        """Ancestors that `ancestor_prob` can show although no set annotates them ("creative work")."""
        if self.hierarchy is None or not self.s.ancestor_prob:
            return set()
        return {a for p in self.entity_pool for a in self.hierarchy.ancestors(p)}

    def known_relation_labels(self) -> list[str]:
        """The relation prompts among `known_labels` (pool + their synonyms and phrasings)."""
        return sorted(with_synonyms(self.relation_pool, self.synonyms) | self._phrased())

    def _phrased(self) -> set[str]:
        if self.phrasings is None or not self.s.phrasing_prob:
            return set()
        pool = set(self.relation_pool)
        return {p for table in (self.phrasings.same, self.phrasings.reversed) for k, v in table.items() if k in pool
                for p in v}  # fmt: skip

    def _prompt(self, prompt: str) -> str:
        alts = self.synonyms.get(prompt)
        if alts and self.rng.random() < self.s.synonym_prob:
            return self.rng.choice(alts)
        return prompt

    def _side(
        self, own: dict[str, str], present: list[str], pool: list[str], near: NearMisses, cap: int, partial: bool,
        maybe_true: Callable[[str], bool] | None = None, *, hierarchy: LabelHierarchy | None = None,
        symmetric: set[str] | frozenset[str] = frozenset(), phrase: bool = False,
    ) -> tuple[list[str], dict[str, int]]:
        """Prompts for one side (entities or relations) and gold type name -> prompt index."""
        if not own:
            return [], {}
        present = list(dict.fromkeys(t for t in present if t in own))
        kept = [t for t in present if self.rng.random() >= self.s.label_drop]
        if present and not kept:
            kept = [self.rng.choice(present)]
        kept = kept[:cap]
        # Hierarchy: replace a kept gold by one of its ancestors (it becomes the gold, below).
        ladders = {t: hierarchy.ancestors(own[t]) for t in present} if hierarchy and not partial else {}
        raised: list[str] = []
        raise_prob = self.s.ancestor_prob / 2 if self.s.ancestor_raise_prob is None else self.s.ancestor_raise_prob
        if ladders and raise_prob:
            for t in list(kept):
                specific = [a for a in ladders[t] if a not in hierarchy.catch_alls]
                if specific and self.rng.random() < raise_prob:
                    kept.remove(t)
                    raised.append(self.rng.choice(specific))
        blocked = {d for t in present for d in hierarchy.descendants(own[t])} if hierarchy else set()
        if phrase:  # a relation worded like a gold one is no negative for the text
            blocked |= {q for t in present for q in self._same_as.get(own[t], ())}
        chosen: list[tuple[str, tuple[str, ...]]] = [(own[t], (t,)) for t in kept]
        # The rest of the set's own types: true negatives for a completely annotated text
        # (for a partial one every own type is shown, so the gold item is scored against them).
        others = [t for t in own if t not in present]
        self.rng.shuffle(others)
        room = cap - len(chosen)
        n_total = room if partial else self.rng.randint(0, room)
        chosen += [(own[t], (t,)) for t in others[: min(len(others), n_total)]]
        # Ancestors beside a kept gold: negatives on its spans, the specific label wins.
        offered = {p for p, _ in chosen}
        extra = list(raised)
        if ladders and self.s.ancestor_prob and self.rng.random() < self.s.ancestor_prob:
            extra += [self.rng.choice(ladders[t]) for t in kept if ladders[t]]
        for p in dict.fromkeys(extra):
            if p not in offered and len(chosen) < cap:
                chosen.append((p, ()))
                offered.add(p)
        # Global negatives: near misses of the gold prompts, and random ones.
        own_prompts = set(own.values())
        n_global = self.rng.randint(0, max(0, cap - len(chosen)))
        if n_global:
            candidates = {p for p in pool if p not in own_prompts and p not in offered and p not in blocked}
            near_pool = [p for g in kept for p in near.nearest(own[g], self.s.near_miss_k) if p in candidates]
            picked: list[str] = []
            n_near = round(n_global * self.s.near_miss_share)
            if near_pool:
                picked += self.rng.sample(sorted(set(near_pool)), min(n_near, len(set(near_pool))))
            rest = sorted(candidates - set(picked))
            picked += self.rng.sample(rest, min(n_global - len(picked), len(rest)))
            guard = self.s.synonym_guard
            picked = [p for p in picked if max((near.similarity(p, o) for o in own_prompts), default=0) < guard]
            if maybe_true is not None:
                picked = [p for p in picked if not maybe_true(p)]
            chosen += [(p, ()) for p in picked]
        # A present gold that is not offered: its nearest offered ancestor is the gold instead.
        position = {p: i for i, (p, _) in enumerate(chosen)}
        for t in present:
            if t in kept or not ladders.get(t):
                continue
            target = next((a for a in ladders[t] if a in position), None)
            if target is not None:
                i = position[target]
                chosen[i] = (target, (*chosen[i][1], t))
        prompts = [self._rename(p, names, symmetric, phrase) for p, names in chosen]
        shown_gold = {p for p, names in prompts if names}
        prompts = [(p, names) for p, names in prompts if names or p not in shown_gold]  # one column per string
        self.rng.shuffle(prompts)
        return [p for p, _ in prompts], {name: i for i, (_, names) in enumerate(prompts) for name in names}

    def _same_meaning_table(self) -> dict[str, frozenset[str]]:
        """Relation prompt of the pool -> the pool prompts `phrasings` words like it (a phrasing of
        one is the other, either way, or the two share a head -> tail phrasing): no negatives for
        a text that has it. Empty without phrasings."""
        table = self.phrasings
        if table is None or not self.s.phrasing_prob:
            return {}
        out = {}
        for p in self.relation_pool:
            words = set(table.same.get(p, []))
            out[p] = frozenset(q for q in self.relation_pool
                               if q in words or p in table.same.get(q, []) or not words.isdisjoint(table.same.get(q, [])))  # fmt: skip
        return out

    def _rename(
        self, prompt: str, names: tuple[str, ...], symmetric: set[str] | frozenset[str], phrase: bool
    ) -> tuple[str, tuple[str, ...]]:
        """The prompt as shown (a synonym, or for relations a phrasing) and the type names it is gold
        for (a reversed phrasing's names get the `REVERSED` prefix)."""
        table = self.phrasings
        if phrase and table is not None and self.s.phrasing_prob and self.rng.random() < self.s.phrasing_prob:
            same = table.same.get(prompt, [])
            rev = [] if any(n in symmetric for n in names) else table.reversed.get(prompt, [])
            options = [(p, False) for p in same] + [(p, True) for p in rev]
            if options:
                shown, flipped = self.rng.choice(options)
                return shown, tuple(REVERSED + n for n in names) if flipped else names
        return self._prompt(prompt), names

    def sample(self, ex: Example) -> tuple[list[str], dict[str, int], list[str], dict[str, int]]:
        """Entity prompts, gold type name -> prompt index, and the same for relations."""
        ent_prompts, ent_index, rel_prompts, rel_index, _ = self.sample_with_projections(ex)
        return ent_prompts, ent_index, rel_prompts, rel_index

    def sample_with_projections(
        self, ex: Example
    ) -> tuple[list[str], dict[str, int], list[str], dict[str, int], list[tuple[int, int, str]]]:
        """`sample`, plus the projected positives (start, end inclusive, type name): the type
        names are "@" + prompt and are in the entity index; add them to the example's gold."""
        ent_prompts, ent_index, rel_prompts, rel_index = self._sample(ex)
        extra: list[tuple[int, int, str]] = []
        if ex.partial or not self.positives or self.rng.random() >= self.s.projection_prob:
            return ent_prompts, ent_index, rel_prompts, rel_index, extra
        own_types = self.sets[ex.dataset].entities
        own = set(own_types.values())
        positions = ngram_positions(ex.words)
        # With a hierarchy, no projection onto a gold mention of a descendant: the specific label wins.
        specific = {(a, b): own_types[t] for a, b, t in ex.entities if t in own_types} if self.hierarchy else {}
        matches = {}
        for prompt, strings in self.positives.items():
            if prompt in own:
                continue
            spans = sorted({span for m in strings.intersection(positions) for span in positions[m]
                            if span not in specific or prompt not in self.hierarchy.ancestors(specific[span])})
            if spans:
                matches[prompt] = spans
        for prompt in self.rng.sample(sorted(matches), min(self.s.max_projected, len(matches))):
            name = "@" + prompt
            if prompt in ent_prompts:  # drawn as a global negative: it becomes the positive
                ent_index[name] = ent_prompts.index(prompt)
            else:
                ent_index[name] = len(ent_prompts)
                ent_prompts.append(self._prompt(prompt))
            extra += [(s, e, name) for s, e in matches[prompt]]
        return ent_prompts, ent_index, rel_prompts, rel_index, extra

    def _sample(self, ex: Example) -> tuple[list[str], dict[str, int], list[str], dict[str, int]]:
        types = self.sets[ex.dataset]
        maybe_true = None
        if self.s.lexical_guard and self.lexicon:
            ngrams = text_ngrams(ex.words)

            def maybe_true(prompt: str) -> bool:
                return not self.lexicon.get(prompt, frozenset()).isdisjoint(ngrams)

        ent_prompts, ent_index = self._side(
            types.entities, [e[2] for e in ex.entities], self.entity_pool, self.entity_near,
            self.s.max_entity_labels, ex.partial, maybe_true, hierarchy=self.hierarchy,
        )
        rel_prompts, rel_index = self._side(
            types.relations, [r[2] for r in ex.relations], self.relation_pool, self.relation_near,
            self.s.max_relation_labels, ex.partial, symmetric=types.symmetric, phrase=True,
        )
        return ent_prompts, ent_index, rel_prompts, rel_index
