"""Error analysis of predicted Documents against gold: examples a person reads, and the changes
one run makes relative to another (what the LLM fixed and what it broke).

Items are the strict items of `hybrid_ie.metrics` (entities: span + label; relations: both
argument spans with their entity labels + the relation label), so every count here agrees with
the scores in the report.

Entity errors are sorted into kinds:
- ``wrong_label``: the gold span was predicted, with another label;
- ``boundary``: a prediction of the same label overlaps the gold span with other boundaries;
- ``missed``: any other gold entity not predicted;
- ``spurious``: a predicted entity whose span overlaps no gold entity.
Relation errors are ``missed_relation`` (gold not predicted) and ``spurious_relation``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from hybrid_ie.document import Document
from hybrid_ie.metrics import entity_items, relation_items

ENTITY_ERROR_KINDS = ("missed", "spurious", "wrong_label", "boundary")
RELATION_ERROR_KINDS = ("missed_relation", "spurious_relation")
CONTEXT_CHARS = 60


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _snippet(text: str, *spans: tuple[int, int]) -> str:
    """The text around `spans`, each span in [brackets], cut to CONTEXT_CHARS either side."""
    spans = tuple(sorted(set(spans)))
    start, end = spans[0][0], max(e for _, e in spans)
    lo, hi = max(0, start - CONTEXT_CHARS), min(len(text), end + CONTEXT_CHARS)
    pieces, pos = [], lo
    for s, e in spans:
        if s < pos:  # overlapping spans: bracket the first only
            continue
        pieces += [text[pos:s], "[", text[s:e], "]"]
        pos = e
    pieces.append(text[pos:hi])
    return (("…" if lo > 0 else "") + "".join(pieces) + ("…" if hi < len(text) else "")).replace("\n", " ")


def _entity_errors(gold: Document, pred: Document | None) -> list[dict[str, Any]]:
    g_strict, _ = entity_items(gold)
    p_strict, _ = entity_items(pred)
    errors = []
    for start, end, label in sorted(g_strict - p_strict):
        other = sorted(lab for s, e, lab in p_strict if (s, e) == (start, end))
        if other:
            kind, detail = "wrong_label", f"gold {label}, predicted {', '.join(other)}"
        elif any(lab == label and _overlaps((s, e), (start, end)) for s, e, lab in p_strict):
            spans = [
                pred.text[s:e]
                for s, e, lab in sorted(p_strict)
                if lab == label and _overlaps((s, e), (start, end))
            ]
            kind, detail = "boundary", f"gold {label} span, predicted {' / '.join(repr(x) for x in spans)}"
        else:
            kind, detail = "missed", f"gold {label}"
        errors.append(
            {
                "kind": kind,
                "doc": gold.id,
                "text": gold.text[start:end],
                "label": label,
                "detail": detail,
                "context": _snippet(gold.text, (start, end)),
            }
        )
    if pred is not None:
        g_spans = {(s, e) for s, e, _ in g_strict}
        scores = {(e.start, e.end, e.label): e for e in pred.entities}
        for start, end, label in sorted(p_strict - g_strict):
            if any(_overlaps((start, end), span) for span in g_spans):
                continue  # counted above as wrong_label / boundary from the gold side
            ent = scores[(start, end, label)]
            detail = f"predicted {label}" + (
                f" (score {ent.score:.2f}, {ent.source})" if ent.score is not None else ""
            )
            errors.append(
                {
                    "kind": "spurious",
                    "doc": gold.id,
                    "text": pred.text[start:end],
                    "label": label,
                    "detail": detail,
                    "context": _snippet(pred.text, (start, end)),
                }
            )
    return errors


def _describe_relation(text: str, item: tuple) -> str:
    label, (hs, he, hl), (ts, te, tl) = item
    return f"{text[hs:he]!r} ({hl}) —{label}→ {text[ts:te]!r} ({tl})"


def _relation_errors(
    gold: Document, pred: Document | None, symmetric: frozenset[str]
) -> list[dict[str, Any]]:
    g_strict, _ = relation_items(gold, symmetric)
    p_strict, _ = relation_items(pred, symmetric)
    errors = []
    for kind, items in (("missed_relation", g_strict - p_strict), ("spurious_relation", p_strict - g_strict)):
        for item in sorted(items):
            _, (hs, he, _), (ts, te, _) = item
            errors.append(
                {
                    "kind": kind,
                    "doc": gold.id,
                    "text": _describe_relation(gold.text, item),
                    "label": item[0],
                    "detail": "",
                    "context": _snippet(gold.text, (hs, he), (ts, te)),
                }
            )
    return errors


def error_examples(
    gold: Sequence[Document],
    pred: Sequence[Document],
    *,
    symmetric: frozenset[str] = frozenset(),
    per_kind: int = 3,
    seed: int = 0,
) -> dict[str, Any]:
    """Counts of every error kind and up to `per_kind` examples of each, sampled with `seed`
    and listed in document order."""
    by_id = {doc.id: doc for doc in pred}
    found: dict[str, list[dict[str, Any]]] = {k: [] for k in (*ENTITY_ERROR_KINDS, *RELATION_ERROR_KINDS)}
    for order, gdoc in enumerate(gold):
        pdoc = by_id.get(gdoc.id)
        for err in _entity_errors(gdoc, pdoc) + _relation_errors(gdoc, pdoc, symmetric):
            found[err["kind"]].append({**err, "order": order})
    rng = random.Random(seed)
    out: dict[str, Any] = {"counts": {k: len(v) for k, v in found.items()}, "examples": {}}
    for kind, errs in found.items():
        picked = sorted(rng.sample(errs, min(per_kind, len(errs))), key=lambda e: (e["order"], e["text"]))
        out["examples"][kind] = [{k: v for k, v in e.items() if k != "order"} for e in picked]
    return out


def _correct_and_wrong(gold: Document, pred: Document | None, symmetric: frozenset[str]) -> dict[str, tuple]:
    g_ent, _ = entity_items(gold)
    p_ent, _ = entity_items(pred)
    g_rel, _ = relation_items(gold, symmetric)
    p_rel, _ = relation_items(pred, symmetric)
    return {"entities": (p_ent & g_ent, p_ent - g_ent), "relations": (p_rel & g_rel, p_rel - g_rel)}


def changes_against(
    gold: Sequence[Document],
    base: Sequence[Document],
    other: Sequence[Document],
    *,
    symmetric: frozenset[str] = frozenset(),
) -> dict[str, dict[str, int]]:
    """What `other` changed relative to `base` (strict items), per kind:
    ``fixed`` (true positives other has and base lacks), ``broken`` (base's true positives other
    lost), ``fp_added`` (false positives new in other), ``fp_removed`` (base's false positives
    other removed). tp(other) - tp(base) == fixed - broken."""
    base_by_id = {d.id: d for d in base}
    other_by_id = {d.id: d for d in other}
    totals = {
        kind: {"fixed": 0, "broken": 0, "fp_added": 0, "fp_removed": 0} for kind in ("entities", "relations")
    }
    for gdoc in gold:
        b = _correct_and_wrong(gdoc, base_by_id.get(gdoc.id), symmetric)
        o = _correct_and_wrong(gdoc, other_by_id.get(gdoc.id), symmetric)
        for kind, total in totals.items():
            (b_tp, b_fp), (o_tp, o_fp) = b[kind], o[kind]
            total["fixed"] += len(o_tp - b_tp)
            total["broken"] += len(b_tp - o_tp)
            total["fp_added"] += len(o_fp - b_fp)
            total["fp_removed"] += len(b_fp - o_fp)
    return totals
