"""Temperature scaling of the encoder's scores, fitted on dev data, and the ECE it is judged by.

The calibration set is every entity (span, label) and relation (head, tail, label) the encoder
scores at or above a floor on the dev documents -- the scores that actually reach outputs and
the router -- each marked correct when it matches a gold item exactly (strict). Per head
(entities, relations) a temperature T and a shift b are fitted by minimising the binary log-loss
of `sigmoid(logit / T + b)` (temperature scaling with an offset, i.e. Platt scaling of the logit:
a temperature alone cannot correct scores that are too high or too low across the board); both go
into the checkpoint's config.json, with the ECE before and after.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from hybrid_ie.document import Document
from hybrid_ie.schema import Schema, prompt_key


@dataclass
class CalibrationSet:
    """Raw (temperature 1) logits and 0/1 correctness of scored items."""

    entity_logits: list[float] = field(default_factory=list)
    entity_correct: list[float] = field(default_factory=list)
    relation_logits: list[float] = field(default_factory=list)
    relation_correct: list[float] = field(default_factory=list)


THRESHOLD_GRID = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)  # default grid of every tuner


def logit(p: float, eps: float = 1e-6) -> float:
    p = min(1 - eps, max(eps, p))
    return math.log(p / (1 - p))


def expected_calibration_error(probs: Sequence[float], correct: Sequence[float], bins: int = 10) -> float:
    """ECE with equal-width bins: sum over bins of |accuracy - confidence| weighted by size."""
    if len(probs) != len(correct):
        raise ValueError("probs and correct differ in length")
    if not probs:
        return 0.0
    p = torch.tensor(probs, dtype=torch.float64)
    y = torch.tensor(correct, dtype=torch.float64)
    idx = torch.clamp((p * bins).long(), max=bins - 1)
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if sel.any():
            ece += float(sel.sum()) / len(probs) * abs(float(y[sel].mean()) - float(p[sel].mean()))
    return ece


def nll(logits: torch.Tensor, correct: torch.Tensor, temperature: float, shift: float = 0.0) -> float:
    return float(torch.nn.functional.binary_cross_entropy_with_logits(logits / temperature + shift, correct))


def fit_scaling(logits: Sequence[float], correct: Sequence[float]) -> tuple[float, float]:
    """(T, b) with T in [0.05, 20] and b in [-4, 4] minimising the log-loss of
    sigmoid(logit / T + b): a coarse grid, refined three times; (1.0, 0.0) when there is
    nothing to fit (no items, or only one class)."""
    if not logits or len(set(correct)) < 2:
        return 1.0, 0.0
    x = torch.tensor(logits, dtype=torch.float64)
    y = torch.tensor(correct, dtype=torch.float64)
    t_lo, t_hi, b_lo, b_hi = math.log(0.05), math.log(20.0), -4.0, 4.0
    best = (0.0, 0.0)
    for _ in range(4):
        grid = [
            (t_lo + (t_hi - t_lo) * i / 20, b_lo + (b_hi - b_lo) * j / 20) for i in range(21) for j in range(21)
        ]
        best = min(grid, key=lambda g: nll(x, y, math.exp(g[0]), g[1]))
        t_step, b_step = (t_hi - t_lo) / 20, (b_hi - b_lo) / 20
        t_lo, t_hi, b_lo, b_hi = best[0] - t_step, best[0] + t_step, best[1] - b_step, best[1] + b_step
    log_t = min(max(best[0], math.log(0.05)), math.log(20.0))
    return math.exp(log_t), min(max(best[1], -4.0), 4.0)


def _spans(doc: Document) -> dict[str, tuple[int, int]]:
    return {e.id: (e.start, e.end) for e in doc.entities}


def collect(
    gold: Sequence[Document], pred: Sequence[Document], schema: Schema, into: CalibrationSet | None = None
) -> CalibrationSet:
    """Add the scored items of `pred` (outputs + `meta["encoder"]` candidates) to a calibration
    set, each marked correct when it is in the matching gold document."""
    out = into or CalibrationSet()
    symmetric = schema.symmetric_relations
    for g, p in zip(gold, pred, strict=True):
        gold_ents = {(e.start, e.end, e.label) for e in g.entities}
        gspans = _spans(g)
        gold_rels = set()
        for r in g.relations:
            h, t = gspans[r.head], gspans[r.tail]
            gold_rels.add((h, t, r.label))
            if r.label in symmetric:
                gold_rels.add((t, h, r.label))
        meta = p.meta.get("encoder", {})
        ents = [(e.start, e.end, e.label, e.score) for e in p.entities]
        ents += [(c["start"], c["end"], c["label"], c["score"]) for c in meta.get("candidates", [])]
        for s, e, label, score in ents:
            out.entity_logits.append(logit(score))
            out.entity_correct.append(float((s, e, label) in gold_ents))
        pspans = _spans(p)
        rels = [(pspans[r.head], pspans[r.tail], r.label, r.score) for r in p.relations]
        rels += [(tuple(c["head"]), tuple(c["tail"]), c["label"], c["score"]) for c in meta.get("relation_candidates", [])]
        for h, t, label, score in rels:
            out.relation_logits.append(logit(score))
            out.relation_correct.append(float((h, t, label) in gold_rels))
    return out


def summarise(
    data: CalibrationSet, t_ent: float, t_rel: float, b_ent: float = 0.0, b_rel: float = 0.0
) -> dict[str, float | int]:
    """ECE before (raw scores) and after scaling with (T, b), for entities and relations."""

    def ece(logits: list[float], correct: list[float], t: float, b: float) -> float:
        return expected_calibration_error([1 / (1 + math.exp(-(x / t + b))) for x in logits], correct)

    return {
        "entity_temperature": t_ent,
        "entity_shift": b_ent,
        "relation_temperature": t_rel,
        "relation_shift": b_rel,
        "entity_items": len(data.entity_logits),
        "relation_items": len(data.relation_logits),
        "entity_ece_before": ece(data.entity_logits, data.entity_correct, 1.0, 0.0),
        "entity_ece_after": ece(data.entity_logits, data.entity_correct, t_ent, b_ent),
        "relation_ece_before": ece(data.relation_logits, data.relation_correct, 1.0, 0.0),
        "relation_ece_after": ece(data.relation_logits, data.relation_correct, t_rel, b_rel),
    }


def reset_scaling(config) -> None:
    """Back to raw scores: temperature 1 and shift 0 for entities and relations, no label
    centering, no relation backoff; label thresholds, chosen on the old scores, are dropped."""
    config.entity_temperature = config.relation_temperature = 1.0
    config.entity_shift = config.relation_shift = 0.0
    config.label_thresholds = {}
    config.label_centering = 0.0
    config.relation_backoff = 0.0


def calibrate(encoder, dev_sets: Sequence[tuple[Schema, Sequence[Document]]], floor: float = 0.05) -> dict:
    """Fit (T, b) for entities and relations on the dev sets, store them (and the ECE report) in
    the encoder's config, and return the report. The current scaling is reset to (1, 0) first."""
    reset_scaling(encoder.config)
    data = CalibrationSet()
    for schema, docs in dev_sets:
        pred = encoder.predict(
            [d.text for d in docs], schema, ids=[d.id for d in docs], candidate_floor=floor, batch_size=32,
            nested=schema.name == "scierc",
        )
        collect(docs, pred, schema, data)
    t_ent, b_ent = fit_scaling(data.entity_logits, data.entity_correct)
    t_rel, b_rel = fit_scaling(data.relation_logits, data.relation_correct)
    report = summarise(data, t_ent, t_rel, b_ent, b_rel)
    report["floor"] = floor
    report["dev_sets"] = [schema.name for schema, _ in dev_sets]
    encoder.config.entity_temperature, encoder.config.entity_shift = t_ent, b_ent
    encoder.config.relation_temperature, encoder.config.relation_shift = t_rel, b_rel
    encoder.config.calibration = report
    return report


def tune_thresholds(
    encoder,
    sets: Sequence[tuple[Schema, Sequence[Document]]],
    entity_grid: Sequence[float] = THRESHOLD_GRID,
    relation_grid: Sequence[float] = THRESHOLD_GRID,
    centering_grid: Sequence[float] = (0.0,),
    predictions: dict[float, list] | None = None,
) -> dict:
    """Pick the label centering and entity threshold, then the relation threshold, on one or
    more dev sets; store them in the encoder's config. `predictions` (optional, filled here):
    centering strength -> each set's predictions at the lowest entity and relation thresholds of
    the grids, for callers that score more settings from them (`tune_all`).

    Centering and entity threshold: the best mean strict entity F1 over the sets, plus the mean
    strict relation F1 (at its best relation threshold) over the sets that have relation types
    (ties: less centering, threshold nearer 0.5). One prediction pass per (centering, entity
    threshold) and set, made once per strength at the lowest entity threshold and cut to each
    higher one by `at_entity_threshold` (exact); relation thresholds are applied by filtering
    (exact: relation decoding keeps a pair iff its score passes the threshold)."""
    from hybrid_ie.metrics import score

    rel_sets = [i for i, (schema, _) in enumerate(sets) if schema.relation_types]
    rows = []
    best = None
    lowest = min(entity_grid)
    for strength in centering_grid:
        encoder.config.label_centering = strength
        preds = [
            encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], threshold=lowest,
                            relation_threshold=min(relation_grid))
            for schema, docs in sets
        ]  # fmt: skip
        if predictions is not None:
            predictions[strength] = preds
        for t_ent in entity_grid:
            row = _grid_row(sets, preds, rel_sets, strength, t_ent, relation_grid, score)
            rows.append(row)
            if best is None or _rank(row) > _rank(best):
                best = row
    encoder.config.label_centering = best["label_centering"]
    encoder.config.threshold = best["threshold"]
    encoder.config.relation_threshold = best["relation_threshold"]
    return {"datasets": [schema.name for schema, _ in sets], "selected": best, "grid": rows}


def _rank(row: dict) -> tuple:
    """Best mean entity + relation F1; ties: less centering, threshold nearer 0.5."""
    return (row["entity_f1"] + row["relation_f1"], -row["label_centering"], -abs(row["threshold"] - 0.5))


def at_entity_threshold(doc: Document, threshold: float) -> Document:
    """What `predict` gives at a higher entity threshold, from its output at a lower one (and
    the same label centering, no label thresholds): greedy decoding takes candidates in score
    order, so the spans accepted at the higher threshold are exactly those accepted at the lower
    one that pass it; relation pairs are scored among a window's best-scored accepted spans, so
    every pair the higher threshold keeps was scored too."""
    kept = [e for e in doc.entities if e.score is not None and e.score >= threshold]
    ids = {e.id for e in kept}
    rels = [r for r in doc.relations if r.head in ids and r.tail in ids]
    return doc.model_copy(update={"entities": kept, "relations": rels})


def at_thresholds(doc: Document, threshold: float, relation_threshold: float) -> Document:
    """`at_entity_threshold`, then the relations that pass `relation_threshold` (exact too:
    relation decoding keeps a pair iff its score passes the threshold)."""
    doc = at_entity_threshold(doc, threshold)
    return doc.model_copy(update={"relations": [r for r in doc.relations if r.score >= relation_threshold]})


def _grid_row(sets, preds, rel_sets, strength, t_ent, relation_grid, score) -> dict:
    """One row of `tune_thresholds`' grid: F1 at entity threshold `t_ent` (cut from `preds`,
    made at a lower one) and the best relation threshold."""
    ent_f1s, rel_f1s = [], {t: [] for t in relation_grid}
    for i, ((schema, docs), pred_low) in enumerate(zip(sets, preds, strict=True)):
        pred = [at_entity_threshold(p, t_ent) for p in pred_low]
        symmetric = schema.symmetric_relations
        ent_f1s.append(score(docs, pred, symmetric=symmetric).entities["strict"].f1)
        if i in rel_sets:
            for t_rel in relation_grid:
                kept = [p.model_copy(update={"relations": [r for r in p.relations if r.score >= t_rel]}) for p in pred]
                rel_f1s[t_rel].append(score(docs, kept, symmetric=symmetric).relations["strict"].f1)
    rel_mean = {t: _mean(v) for t, v in rel_f1s.items()}
    t_rel = max(rel_mean, key=lambda t: (rel_mean[t], -abs(t - 0.5)))
    return {"label_centering": strength, "threshold": t_ent, "entity_f1": _mean(ent_f1s),
            "relation_threshold": t_rel, "relation_f1": rel_mean[t_rel], "per_set_entity_f1": ent_f1s}


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _label_counts(encoder, sets, threshold: float | None, preds: list | None = None) -> tuple[dict, list, list]:
    """Per entity prompt (lower case) the summed `Counts` (tp, fp, fn) over the sets at one entity
    threshold (None: the encoder's defaults, its own label thresholds included), with each
    set's strict entity F1 and (for sets with relation types) relation F1. `preds`: the sets'
    predictions at a lower threshold, cut to this one (`at_entity_threshold`) instead of
    predicting again."""
    decoded = []
    for i, (schema, docs) in enumerate(sets):
        if preds is not None and threshold is not None:
            decoded.append([at_entity_threshold(p, threshold) for p in preds[i]])
        else:
            decoded.append(encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], threshold=threshold))
    return _counts_of(sets, decoded)


def _counts_of(sets, decoded: list) -> tuple[dict, list, list]:
    """`_label_counts` of the sets' given predictions."""
    from hybrid_ie.metrics import Counts, score

    counts: dict[str, Counts] = {}
    ent_f1s, rel_f1s = [], []
    for (schema, docs), pred in zip(sets, decoded, strict=True):
        report = score(docs, pred, symmetric=schema.symmetric_relations)
        ent_f1s.append(report.entities["strict"].f1)
        if schema.relation_types:
            rel_f1s.append(report.relations["strict"].f1)
        for t in schema.entity_types:
            c = report.entity_labels.get(t.name)
            if c is not None:
                row = counts.setdefault(prompt_key(t.prompt), Counts())
                row.tp, row.fp, row.fn = row.tp + c.tp, row.fp + c.fp, row.fn + c.fn
    return counts, ent_f1s, rel_f1s


def tune_label_thresholds(
    encoder,
    sets: Sequence[tuple[Schema, Sequence[Document]]],
    grid: Sequence[float] = THRESHOLD_GRID,
    *,
    min_gain: float = 0.01,
    min_support: int = 20,
    low: list | None = None,
    predictions: list | None = None,
) -> dict:
    """Give single entity labels their own threshold where their dev data asks for one; store
    them in the encoder's config (`label_thresholds`, by prompt) and return the report.

    Run after `tune_thresholds`: a label's F1 over the sets is measured at every grid value
    (all labels moved together, one prediction pass per value and set) and at the global
    threshold; a label with at least `min_support` gold mentions gets the grid value of its
    best F1 when that beats the global threshold by `min_gain`. The labels that only the
    global threshold suits (and every label of other schemas) keep it. Last, the sets are
    scored with and without the label thresholds; when the mean entity F1 plus the mean
    relation F1 does not improve, they are dropped again (the report says so).

    `low` (optional): the sets' predictions at the grid's lowest threshold and the stored
    relation threshold, when the caller has them; `predictions` (optional, filled here): the
    sets' predictions under the settings stored (`tune_all` scores them)."""
    from hybrid_ie.metrics import Counts

    encoder.config.label_thresholds = {}
    base = encoder.config.threshold
    thresholds = sorted(set(grid) | {base})
    if low is None:
        low = [encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs], threshold=thresholds[0])
               for schema, docs in sets]  # fmt: skip
    sweep = {t: _label_counts(encoder, sets, t, low) for t in thresholds}
    by_t = {t: counts for t, (counts, _, _) in sweep.items()}
    labels = sorted({p for counts in by_t.values() for p in counts})
    chosen: dict[str, float] = {}
    per_label = {}
    for prompt in labels:
        f1s = {t: by_t[t].get(prompt, Counts()).f1 for t in by_t}
        at_base = by_t[base].get(prompt, Counts())
        support = at_base.tp + at_base.fn
        best = max(f1s, key=lambda t: (f1s[t], -abs(t - base)))
        per_label[prompt] = {"gold": support, "f1_global": f1s[base], "best_threshold": best, "f1_best": f1s[best]}
        if support >= min_support and f1s[best] - f1s[base] >= min_gain:
            chosen[prompt] = best
    _, before_ent, before_rel = sweep[base]
    encoder.config.label_thresholds = chosen
    at_base = [[at_entity_threshold(p, base) for p in preds] for preds in low]  # as predicted without them
    if chosen:
        after = [encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs]) for schema, docs in sets]
        _, after_ent, after_rel = _counts_of(sets, after)
    else:
        after, after_ent, after_rel = at_base, before_ent, before_rel
    gain = _mean(after_ent) + _mean(after_rel) - _mean(before_ent) - _mean(before_rel)
    kept = bool(chosen) and gain > 0
    if not kept:
        encoder.config.label_thresholds = {}
        after = at_base
    if predictions is not None:
        predictions[:] = after
    return {
        "datasets": [schema.name for schema, _ in sets],
        "global_threshold": base,
        "label_thresholds": dict(encoder.config.label_thresholds),
        "kept": kept,
        "entity_f1_before": before_ent,
        "entity_f1_after": after_ent,
        "relation_f1_before": before_rel,
        "relation_f1_after": after_rel,
        "labels": per_label,
        "min_gain": min_gain,
        "min_support": min_support,
    }


def tune_all(
    encoder,
    sets: Sequence[tuple[Schema, Sequence[Document]]],
    label_sets: Sequence[tuple[Schema, Sequence[Document]]],
    centering_grid: Sequence[float],
) -> tuple[dict, dict]:
    """`tune_thresholds` and `tune_label_thresholds` for each label-centering strength, scored
    together: the strength whose global thresholds plus label thresholds give the best mean
    entity F1 + mean relation F1 over `sets` wins, and its settings are stored. Tuning the
    global threshold first and the label thresholds after it for one strength only would favour
    the strength that suits the labels that get their own threshold anyway.
    Returns the winner's (`tune_thresholds`, `tune_label_thresholds`) reports; the first has
    every strength's final score under "centering"."""
    trials = []
    grid_low = min(THRESHOLD_GRID)  # where both tuners (default grids) predict
    for strength in centering_grid:
        cache: dict[float, list] = {}
        tuned = tune_thresholds(encoder, sets, centering_grid=(strength,), predictions=cache)
        # the tuning pass serves the label sets (the same objects when named in both) and every
        # set no label threshold reaches: cut to the stored thresholds, exactly
        rel_t = encoder.config.relation_threshold
        tuning_of = {id(docs): preds for (_, docs), preds in zip(sets, cache[strength], strict=True)}
        low = [[at_thresholds(p, grid_low, rel_t) for p in tuning_of[id(docs)]] if id(docs) in tuning_of else None
               for _, docs in label_sets]  # fmt: skip
        after: list = []
        own = tune_label_thresholds(encoder, label_sets, low=None if None in low else low, predictions=after)
        after_of = {id(docs): preds for (_, docs), preds in zip(label_sets, after, strict=True)}
        own_prompts = {prompt_key(k) for k in encoder.config.label_thresholds}
        final = []
        for (schema, docs), preds in zip(sets, cache[strength], strict=True):
            if id(docs) in after_of:
                final.append(after_of[id(docs)])
            elif not own_prompts & {prompt_key(t.prompt) for t in schema.entity_types}:
                final.append([at_thresholds(p, encoder.config.threshold, rel_t) for p in preds])
            else:
                final.append(encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs]))
        _, ent, rel_f1 = _counts_of(sets, final)  # as stored: centering, both kinds of threshold
        score_ = _mean(ent) + _mean(rel_f1)
        trials.append((score_, -strength, tuned, own, ent, rel_f1))
    best = max(trials, key=lambda t: t[:2])
    _, _, tuned, own, _, _ = best
    encoder.config.label_centering = tuned["selected"]["label_centering"]
    encoder.config.threshold = tuned["selected"]["threshold"]
    encoder.config.relation_threshold = tuned["selected"]["relation_threshold"]
    encoder.config.label_thresholds = dict(own["label_thresholds"])
    tuned["centering"] = [
        {"label_centering": -s, "score": sc, "per_set_entity_f1": ent, "relation_f1": rel,
         "threshold": t["selected"]["threshold"], "label_thresholds": o["label_thresholds"]}
        for sc, s, t, o, ent, rel in trials
    ]
    return tuned, own


def tune_relation_backoff(encoder, sets: Sequence[tuple[Schema, Sequence[Document]]], grid: Sequence[float]) -> dict:
    """Pick `relation_backoff` on dev sets, after the thresholds: each strength of `grid` is
    scored by the sets' strict relation F1 at the stored thresholds (ties: the weaker). Backoff
    changes only the relation scores of labels training never showed, so only the sets that have
    such labels are predicted; the others' F1 (and every set's entity F1) stay as they are, and
    the sum of the changed sets' relation F1 ranks the strengths as the rule's mean would."""
    from hybrid_ie.metrics import score

    affected = []
    targets: dict[str, list] = {}
    for schema, docs in sets:
        found = encoder.relation_backoff_targets([t.prompt for t in schema.relation_types])
        if found:
            affected.append((schema, docs))
            targets.update({p: [t, round(sim, 4)] for p, (t, sim) in found.items()})
    rows = []
    for strength in grid:
        encoder.config.relation_backoff = strength
        f1 = {}
        for schema, docs in affected:
            preds = encoder.predict([d.text for d in docs], schema, ids=[d.id for d in docs])
            f1[schema.name] = score(docs, preds, symmetric=schema.symmetric_relations).relations["strict"].f1
        rows.append({"relation_backoff": strength, "relation_f1": f1})
    best = max(rows, key=lambda r: (sum(r["relation_f1"].values()), -r["relation_backoff"]))
    encoder.config.relation_backoff = best["relation_backoff"]
    return {"datasets": [schema.name for schema, _ in affected], "targets": targets,
            "selected": best["relation_backoff"], "grid": rows}
