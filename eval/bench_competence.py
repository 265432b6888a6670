"""Escalation and trust by per-label competence, against today's rule: one command.

    python eval/bench_competence.py --sets conll04:dev,wnut17:dev,wlp:dev,multiconer2-en:dev:coarse \
        --limit 100 --llm oracle:0.1,oracle:0.3 --json eval/reports/competence/dev.json
    python eval/bench_competence.py --sets DEV_OR_TEST_SETS --llm config:llm-1.5b.toml \
        --cache eval/reports/competence/llm-cache.sqlite ...     # a real LLM, answers cached

For each set (``name:split``, ``name:split:coarse`` = the label-competition variant of
`eval/label_competition.json`: coarse labels and the catch-all beside the fine ones, merged gold)
on its first `--limit` sentences it scores strict micro F1 of these rows: the encoder alone; per
LLM (``LLM@SCORE`` gives that LLM's `--llm-score`), the LLM alone (``--mode llm``) and the hybrid
at each budget with the old rule (today's defaults: ``verify`` escalation, ``vote``) and the new
rule (the ``competence`` escalation: `hybrid_ie.competence`), both with that LLM score, and with
``--rules ...,measured`` the competence escalation estimated on labelled examples (`--examples`
texts drawn at random, seed 0, from the split `--examples-from`, as a user labels a few documents
of their corpus; read by the encoder and the LLM: `Competence.measured`; ``measured-rel``,
``measured-abs``, ``measured-cap``, ``measured-keep``: the same with another vote, `VARIANTS`). Sets are read with their own labels, as the
zero-shot protocol reads them (`eval/ZERO_SHOT.md`; conll04 with the repository's schema);
flat decoding.

The encoder runs once per set (its Documents are reused by every row), so a row costs only its
LLM calls. LLMs: ``oracle[:P]`` is the gold-reading loopback oracle of `hybrid_ie.benchmark.oracle`
(deterministic, cheap; it reads gold, so it cannot stand in for a real LLM's *kind* of errors);
``config:PATH`` is any LLM configuration `LLMConfig.load` reads (the local llama.cpp model, an
openai-compatible server), with its answers cached in `--cache` (sqlite; a re-run asks nothing
twice).

It also reports how well each per-label competence estimate predicts the encoder's true per-label
F1 on the rows' sentences (labels with at least 5 gold mentions; mean absolute error weighted by
gold mentions, and Spearman's rank correlation): the running LLM agreement of the new rule at each
budget, sibling-label competition (`competition_estimate`), and labelled examples (the first
`--examples` sentences' gold).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr

HERE = Path(__file__).resolve().parent
RULES = ("old", "new")  # and "measured": the new rule's escalation, estimated on --examples-from
# Variants of the measured rule's vote, tried beside it: rule name -> (encoder's weight, LLM's
# weight[, decide]). The weights are functions of the encoder's and the LLM's measured F1 on the
# label (e, q) and the reconciler's llm_score (the LLM's votes are llm_score times its weight);
# `decide`, when given, stands in for `reconcile._decide`, and the weights then carry e and q raw.
def _ratio(a: float, b: float) -> float:
    return min(1.0, a / b) if b > 0 else 1.0


def _majority(yes: float, no: float, source: str) -> Any:
    from hybrid_ie.reconcile import _majority as majority

    return majority(yes, no, source)


def _raw_f1_decide(llm_alone: Any, encoder_alone: Any) -> Any:
    """A `reconcile._decide` for weights that carry the raw F1s e and q: an item both sides
    returned gets their mean (the ``vote`` strategy's rule); a lone item is decided by
    `llm_alone(e, q, against)` or `encoder_alone(e, q, score)`, each giving (score, source) or None
    (`against`: the encoder's candidate score for the item, else the candidate floor)."""

    def decide(votes: Any, strategy: str, llm_score: float, candidate_floor: float, trust: float = 1.0,
               llm_trust: float = 1.0) -> Any:
        enc, llm = votes.encoder, votes.llm
        if enc is not None and llm is not None:
            return (enc + llm) / 2.0, "both"
        if llm is not None:
            against = votes.encoder_candidate if votes.encoder_candidate is not None else candidate_floor
            return llm_alone(trust, llm_trust, against)
        return None if enc is None else encoder_alone(trust, llm_trust, enc)

    return decide


RAW_F1 = (lambda e, q, s: e, lambda e, q, s: q)
VARIANTS = {
    # the first form: each side's weight is its F1 relative to the other's
    "measured-rel": (lambda e, q, s: _ratio(e, q), lambda e, q, s: _ratio(q, e)),
    # one absolute scale: each side's votes count its measured F1 on the label (the LLM as sure
    # of its items as the encoder of its silence; the same decisions as relative weights
    # min(1, e/q), min(1, q/e) with the LLM's votes not scaled by llm_score)
    "measured-abs": (lambda e, q, s: e, lambda e, q, s: q / s),
    # the kept form's votes (each side's F1 on the label times its confidence; the LLM, which gives
    # no scores, is as confident as its F1), with the encoder's confidence also capped by its F1
    "measured-cap": (*RAW_F1, _raw_f1_decide(
        lambda e, q, against: _majority(q * q, e * min(1.0 - against, e), "llm"),
        lambda e, q, score: _majority(e * min(score, e), q * q, "encoder"))),
    # the kept form, but on a label the encoder is measured better on, its items stay whatever the
    # LLM says (the LLM's silence outweighs encoder items scored below its measured F1 otherwise)
    "measured-keep": (*RAW_F1, _raw_f1_decide(
        lambda e, q, against: _majority(_ratio(q, e) * q, _ratio(e, q) * (1.0 - against), "llm"),
        lambda e, q, score: (score, "encoder") if e >= q else _majority(_ratio(e, q) * score, _ratio(q, e) * q, "encoder"))),
}


def _variant(fn: Any) -> Any:
    def weight(self: Any, label: str, kind: str = "entities") -> float:
        if not self.fixed:
            return 1.0
        return fn(self.estimate(label, kind), self.llm_estimate(label, kind) or 0.0, self.reference_f1)
    return weight


class CachedEncoder:
    """An encoder tier whose `predict` answers each (text, schema, cut-offs) once per process."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.memo: dict[tuple, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.encoder, name)

    def predict(self, texts, schema, *, ids=None, threshold=None, relation_threshold=None, nested=False,
                batch_size=16, progress=False):  # fmt: skip
        ids = list(ids) if ids is not None else [f"doc-{i}" for i in range(len(texts))]
        keys = [(schema.fingerprint, t, threshold, relation_threshold, nested) for t in texts]
        todo = [i for i, k in enumerate(keys) if k not in self.memo]
        if todo:
            done = self.encoder.predict([texts[i] for i in todo], schema, ids=[ids[i] for i in todo],
                                        threshold=threshold, relation_threshold=relation_threshold,
                                        nested=nested, batch_size=batch_size)  # fmt: skip
            for i, doc in zip(todo, done, strict=True):
                self.memo[keys[i]] = doc
        if callable(progress):
            progress(len(texts))
        return [self.memo[k].model_copy(update={"id": i}, deep=True) for k, i in zip(keys, ids, strict=True)]


def load_set(spec: str, limit: int | None) -> tuple[Any, list]:
    """(schema, gold documents) of ``name:split[:coarse]``."""
    from hybrid_ie.benchmark.suite import set_schema
    from hybrid_ie.benchmark.suite_parts import coarse_schema, load_hierarchies, merged_gold
    from hybrid_ie.datasets import get_set

    name, split, *variant = spec.split(":")
    ds = get_set(name)
    gold = ds.load(split)[:limit]
    if name == "conll04":
        return ds.schema(), gold
    schema = set_schema(ds, ("entities", "relations") if ds.relation_types else ("entities",))
    if variant == ["coarse"]:
        h = load_hierarchies(HERE / "label_competition.json", {name: ds})[name]
        schema = coarse_schema(dataclasses.replace(schema, relation_types=()), h)
        gold = merged_gold(gold, h)
    return schema, gold


def run_row(extractor: Any, gold: list, schema: Any) -> tuple[dict[str, Any], list]:
    from hybrid_ie.metrics import score

    t0 = time.perf_counter()
    pred = list(extractor.extract_many([{"id": d.id, "text": d.text} for d in gold], batch_size=16))
    seconds = time.perf_counter() - t0
    report = score(gold, pred, symmetric=schema.symmetric_relations).to_dict()
    calls = sum(int((d.meta.get("llm") or {}).get("calls", 0)) for d in pred)
    row = {"entity_f1": round(100 * report["entities"]["strict"]["f1"], 2),
           "relation_f1": round(100 * report["relations"]["strict"]["f1"], 2) if schema.relation_types else None,
           "llm_calls": calls, "seconds": round(seconds, 2), "per_label": report["per_label"]}  # fmt: skip
    return row, pred


def spearman(xs: list[float], ys: list[float]) -> float | None:
    """Spearman's rank correlation (ties share their mean rank); None under 3 points or when
    either side is constant."""
    if len(xs) < 3:
        return None
    rho = float(spearmanr(xs, ys).statistic)
    return None if math.isnan(rho) else round(rho, 3)


def estimator_quality(estimate: dict[str, float], per_label: dict[str, Any]) -> dict[str, Any]:
    """How an entity-label estimate matches the true per-label F1 (labels with >= 5 gold)."""
    labels = [lab for lab, m in per_label.items() if m["tp"] + m["fn"] >= 5]
    if not labels:
        return {"labels": 0}
    true = [per_label[lab]["f1"] for lab in labels]
    est = [estimate.get(lab, 1.0) for lab in labels]
    weights = [per_label[lab]["tp"] + per_label[lab]["fn"] for lab in labels]
    mae = sum(w * abs(a - b) for w, a, b in zip(weights, true, est, strict=True)) / sum(weights)
    return {"labels": len(labels), "mae": round(mae, 3), "spearman": spearman(est, true)}


def make_llm(stack: ExitStack, spec: str, gold: list, schema: Any, cache: str | None) -> Any:
    if spec.startswith("oracle"):
        from hybrid_ie.benchmark.oracle import oracle_llm

        return stack.enter_context(oracle_llm(spec, gold, schema))[0]
    from hybrid_ie.llm import LLMClient, LLMConfig

    path = spec.removeprefix("config:")
    config = LLMConfig.load(path or None)
    if cache:
        config = config.model_copy(update={"cache": True, "cache_path": Path(cache)})
    return stack.enter_context(LLMClient(config))


def rule_grid(args: argparse.Namespace) -> list[tuple[str, dict[str, float]]]:
    """("old", {}) and the new rule once per (trusted, weak_below) of the selection grid (named
    "new" when the grid is the defaults' single point)."""
    out: list[tuple[str, dict[str, float]]] = []
    for rule in args.rules.split(","):
        if rule != "new":
            out.append((rule, {}))
            continue
        points = [(float(t), float(w)) for t in args.trusted.split(",") for w in args.weak_below.split(",")]
        for t, w in points:
            out.append(("new" if len(points) == 1 else f"new t{t:g} w{w:g}", {"trusted": t, "weak_below": w}))
    return out


def bench_set(spec: str, args: argparse.Namespace, encoder: Any) -> list[dict[str, Any]]:
    from hybrid_ie import pipeline
    from hybrid_ie import reconcile as reconcile_module
    from hybrid_ie.competence import Competence, competition_estimate, draw_examples
    from hybrid_ie.pipeline import Extractor
    from hybrid_ie.router import RoutingPolicy

    schema, gold = load_set(spec, args.limit)
    labelled: list = []  # the user's labelled examples of the "measured" rule, never among the rows
    if any(r == "measured" or r in VARIANTS for r in args.rules.split(",")):
        if not args.examples_from:
            raise SystemExit("--rules measured needs --examples-from SPLIT (another split, or the rows' own: then drawn after them)")
        name, split, *variant = spec.split(":")
        pool = load_set(":".join([name, args.examples_from, *variant]), None)[1]
        if args.examples_from == split:  # the rows' own corpus: the examples come after the rows
            pool = pool[args.limit:]
            if not pool:
                raise SystemExit(f"{spec}: --examples-from {split} leaves no text after the first --limit rows")
        labelled = draw_examples(pool, args.examples, 0)
    base, enc_pred = run_row(Extractor(schema, encoder=encoder, mode="encoder"), gold, schema)
    true = base["per_label"]["entities"]
    examples = Competence(schema)
    examples.observe_examples(enc_pred[: args.examples], gold[: args.examples])
    quality = {"competition": estimator_quality(competition_estimate(enc_pred), true),
               f"examples ({args.examples})": estimator_quality(
                   {lab: examples.estimate(lab) for lab in schema.entity_labels}, true)}  # fmt: skip
    rows = [{"set": spec, "llm": "-", "row": "encoder", **base}]
    say(rows[-1])
    for llm_spec in args.llm.split(","):
        llm_name, _, given = llm_spec.partition("@")
        llm_score = float(given) if given else args.llm_score
        with ExitStack() as stack:
            llm = make_llm(stack, llm_name, gold + labelled, schema, args.cache)
            row, _ = run_row(Extractor(schema, llm=llm, mode="llm", llm_score=llm_score), gold, schema)
            rows.append({"set": spec, "llm": llm_spec, "row": "LLM only", **row})
            say(rows[-1])
            if labelled and args.demonstrations:  # the LLM shown the labelled examples
                row, _ = run_row(Extractor(schema, llm=llm, mode="llm", llm_score=llm_score, examples=labelled,
                                           demonstrations=args.demonstrations), gold, schema)  # fmt: skip
                rows.append({"set": spec, "llm": llm_spec, "row": "LLM only + examples", **row})
                say(rows[-1])
            for budget in (float(b) for b in args.budgets.split(",")):
                for rule, settings in rule_grid(args):
                    escalation = "verify" if rule == "old" else "competence"
                    measured = rule == "measured" or rule in VARIANTS
                    ex = Extractor(schema, encoder=encoder, llm=llm, mode="hybrid", llm_score=llm_score,
                                   policy=RoutingPolicy(budget=budget, escalation=escalation),
                                   examples=labelled if measured else None,
                                   demonstrations=args.demonstrations)  # fmt: skip
                    if settings:
                        pipeline.Competence = functools.partial(Competence, **settings)  # the grid point
                    kept_trust = Competence.trust, Competence.llm_trust, reconcile_module._decide
                    if rule in VARIANTS:
                        trust, llm_trust, *decide = VARIANTS[rule]
                        Competence.trust, Competence.llm_trust = _variant(trust), _variant(llm_trust)
                        reconcile_module._decide = decide[0] if decide else reconcile_module._decide
                    try:
                        row, _ = run_row(ex, gold, schema)
                    finally:
                        pipeline.Competence = Competence
                        Competence.trust, Competence.llm_trust, reconcile_module._decide = kept_trust
                    rows.append({"set": spec, "llm": llm_spec, "row": f"hybrid {budget:g} {rule}", **row})
                    if ex.competence is not None:
                        est = {lab: ex.competence.estimate(lab) for lab in schema.entity_labels}
                        name = f"{rule} {llm_spec}" if measured else f"agreement {llm_spec} @{budget:g}"
                        quality[name] = estimator_quality(est, true)
                        rows[-1]["competence"] = ex.competence.to_meta()
                    say(rows[-1])
    rows[0]["estimators"] = quality
    return rows


def say(row: dict[str, Any]) -> None:
    """One finished row on stderr, as a JSON line (without its per-label tables)."""
    print(json.dumps({k: v for k, v in row.items() if k not in ("per_label", "competence")}), file=sys.stderr, flush=True)


def print_rows(rows: list[dict[str, Any]]) -> None:
    cols = ("set", "llm", "row", "entity_f1", "relation_f1", "llm_calls", "seconds")
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join("-" if r.get(c) is None else str(r.get(c)) for c in cols) + " |")
    print("\n| set | estimator | labels | weighted MAE | Spearman |\n|---|---|---|---|---|")
    for r in rows:
        for name, q in (r.get("estimators") or {}).items():
            print(f"| {r['set']} | {name} | {q['labels']} | {q.get('mae', '-')} | {q.get('spearman', '-')} |")
    print(f"\nload average: {os.getloadavg()}")


def main(argv: list[str] | None = None) -> int:
    from hybrid_ie.competence import TRUSTED, WEAK_BELOW
    from hybrid_ie.demonstrations import COUNT as DEMONSTRATIONS
    from hybrid_ie.reconcile import LLM_SCORE

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="conll04:dev,wnut17:dev,wlp:dev,multiconer2-en:dev:coarse")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--budgets", default="0.2,0.5,1")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--llm", default="oracle:0.1@0.9,oracle:0.3", help="comma list of LLM[@LLM_SCORE]; an LLM is "
                    "oracle[:P] or config:PATH; @LLM_SCORE: its --llm-score (else --llm-score)")
    ap.add_argument("--cache", default=None, help="sqlite cache of a real LLM's answers (config: LLMs)")
    ap.add_argument("--llm-score", type=float, default=LLM_SCORE)
    ap.add_argument("--trusted", default=str(TRUSTED), help="the new rule's Competence.trusted (comma list: a grid)")
    ap.add_argument("--weak-below", default=str(WEAK_BELOW), help="the new rule's Competence.weak_below (a grid)")
    ap.add_argument("--examples", type=int, default=20, help="labelled examples for that estimator (and the "
                    "measured rule's)")
    ap.add_argument("--examples-from", default=None, help="the split from which --examples texts are drawn "
                    "(seed 0) as the measured rule's labelled examples (the rows' own split: drawn after its "
                    "first --limit texts)")
    ap.add_argument("--demonstrations", type=int, default=DEMONSTRATIONS,
                    help="how many pieces of the labelled examples the LLM is shown (0: none, the rows before "
                         "the LLM was shown them); with them, also the row 'LLM only + examples'")
    ap.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    ap.add_argument("--json", default=None, help="also write every row (with per-label scores) here")
    args = ap.parse_args(argv)

    from hybrid_ie.encoder import JointEncoder

    encoder = CachedEncoder(JointEncoder.from_pretrained(args.model))
    rows: list[dict[str, Any]] = []
    for spec in args.sets.split(","):
        rows += bench_set(spec, args, encoder)
        if args.json:  # after every set, so a stopped run keeps what it finished
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps({"argv": sys.argv, "args": vars(args), "rows": rows,
                                                   "load": os.getloadavg()}, indent=1))  # fmt: skip
    print_rows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
