"""Any number of labels: label prompt sets too long for one encoder input run in groups.

The encoder reads the label prompts and the text in one input of `max_tokens` tokens. When the
prompts of a schema need more than `PROMPT_SHARE` of it, `SpanEncoder.predict` splits them
(`groups`): consecutive entity prompts are packed into groups whose prompts fit the share, each
group is one pass over every text (entity spans only), and the passes' span candidates are merged
as windows are (same span and label: the best score). Relations then run in passes of their own:
each text's prompts are the entity types the entity passes found in it (the best-scored ones
first, within half the share) and a group of relation prompts that fits the rest; only the pairs
of those passes are kept. A schema whose prompts fit runs as one pass, exactly as before.

Scores in a group are those of the encoder reading only that group's labels (the prompts are
read together with the text), so a label can score a little differently than it would among
all of them; that is the price of reading at most `max_tokens` at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from hybrid_ie.encoder.decoding import decode_entities
from hybrid_ie.schema import Schema

PROMPT_SHARE = 0.5  # the label prompts may fill at most this share of an input; past it they are grouped


def pack(costs: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive groups of positions whose costs sum to at most `budget` (a single item over
    it gets a group of its own)."""
    groups: list[list[int]] = []
    used = budget + 1
    for i, cost in enumerate(costs):
        if used + cost > budget:
            groups.append([])
            used = 0
        groups[-1].append(i)
        used += cost
    return groups


def prompt_costs(encoder: Any, prompts: Sequence[str]) -> list[int] | None:
    """Tokens each prompt takes in an input (its marker included), or None when the backend
    cannot tell (it then always runs one pass)."""
    inputs = getattr(encoder, "inputs", None)
    if inputs is None or not hasattr(inputs, "prompt_ids"):
        return None
    return [1 + len(inputs.prompt_ids(p)) for p in prompts]


def prompt_budget(encoder: Any) -> int:
    """Tokens the label prompts of one input may take: `PROMPT_SHARE` of it, less [CLS] [SEP]."""
    return int(encoder.max_tokens * PROMPT_SHARE) - 2


def needs_groups(encoder: Any, ent_prompts: Sequence[str], rel_prompts: Sequence[str]) -> bool:
    costs = prompt_costs(encoder, [*ent_prompts, *rel_prompts])
    return costs is not None and sum(costs) > prompt_budget(encoder)


def _restricted(schema: Schema, entity_names: Sequence[str], relation_names: Sequence[str]) -> Schema:
    """The schema's named types, in its order (relations keep their full type signatures)."""
    ents, rels = set(entity_names), set(relation_names)
    return dataclasses.replace(
        schema,
        entity_types=tuple(t for t in schema.entity_types if t.name in ents),
        relation_types=tuple(t for t in schema.relation_types if t.name in rels),
    )


def grouped_windows(
    encoder: Any,
    texts: Sequence[str],
    schema: Schema,
    cut: Any,
    score: Callable[[list[Any], Schema, list[str], list[str]], None],
) -> list[Any]:
    """The windows of every text over the label groups (see the module doc); `score(windows,
    schema, ent_prompts, rel_prompts)` is the backend's `_score` with the call's options."""
    budget = prompt_budget(encoder)
    entity_types = list(schema.entity_types)
    windows: list[Any] = []
    costs = prompt_costs(encoder, [t.prompt for t in entity_types]) or []
    for group in pack(costs, budget):
        part = _restricted(schema, [entity_types[i].name for i in group], [])
        prompts = [t.prompt for t in part.entity_types]
        found = [w for i, text in enumerate(texts) for w in encoder._windows(i, text, prompts, [])]
        score(found, part, prompts, [])
        windows += found
    if not schema.relation_types:
        return windows
    by_text: dict[int, list[Any]] = {}
    for w in windows:
        by_text.setdefault(w.text_index, []).append(w)
    jobs: dict[tuple[str, ...], list[int]] = {}  # the entity types a text found -> those texts
    for i in range(len(texts)):
        candidates = [c for w in by_text.get(i, []) for c in w.entities]
        accepted, _ = decode_entities(candidates, cut.entity, nested=cut.nested, label_thresholds=cut.per_label)
        jobs.setdefault(_found_types(encoder, schema, accepted, budget // 2), []).append(i)
    relation_types = list(schema.relation_types)
    for names, members in jobs.items():
        if not names:
            continue
        ent_prompts = [t.prompt for t in schema.entity_types if t.name in set(names)]
        room = budget - sum(prompt_costs(encoder, ent_prompts) or [])
        rel_costs = prompt_costs(encoder, [t.prompt for t in relation_types]) or []
        for group in pack(rel_costs, max(1, room)):
            part = _restricted(schema, names, [relation_types[i].name for i in group])
            ent_p = [t.prompt for t in part.entity_types]
            rel_p = encoder.relation_prompts(part)
            found = [w for i in members for w in encoder._windows(i, texts[i], ent_p, rel_p)]
            score(found, part, ent_p, rel_p)
            for w in found:
                w.entities = []  # this pass is for pairs; the entity passes gave the spans
            windows += found
    return windows


def _found_types(encoder: Any, schema: Schema, accepted: Sequence[Any], budget: int) -> tuple[str, ...]:
    """The entity types of a text's accepted spans, best-scored first, whose prompts fit `budget`."""
    best: dict[str, float] = {}
    for c in accepted:
        best[c.label] = max(best.get(c.label, 0.0), c.score)
    names = sorted(best, key=lambda name: -best[name])
    prompts = {t.name: t.prompt for t in schema.entity_types}
    kept, used = [], 0
    for name, cost in zip(names, prompt_costs(encoder, [prompts[n] for n in names]) or [], strict=True):
        if used + cost > budget:
            break
        kept.append(name)
        used += cost
    return tuple(sorted(kept))


__all__ = ["PROMPT_SHARE", "grouped_windows", "needs_groups", "pack", "prompt_budget", "prompt_costs"]
