"""Does label familiarity predict how well the encoder does on a label? (the router's unknown_label)

For every label of a suite report (`hybrid-ie benchmark --suite zero-shot --split dev ...`), the
encoder's familiarity with the label's prompt (`JointEncoder.label_familiarity`: cosine similarity
of its prompt embedding to the nearest training prompt) next to the label's strict F1 in that
report; then the Spearman correlation, and for each similarity cut-off the mean F1 of the labels
below and at/above it (what `RoutingPolicy.min_label_similarity` would call unfamiliar/familiar).

    python eval/bench_familiarity.py --report eval/reports/zs-dev/report.json --model models/hybrid-ie-minilm
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch
from scipy.stats import spearmanr

from hybrid_ie.encoder import JointEncoder

CUTS = (0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); 0 when either side is constant."""
    rho = float(spearmanr(xs, ys).statistic)
    return 0.0 if math.isnan(rho) else rho


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--report", type=Path, required=True, help="suite report.json")
    parser.add_argument("--model", default=None, help="encoder checkpoint (default: the shipped one)")
    parser.add_argument("--min-support", type=int, default=5, help="skip labels with fewer gold items")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    report = json.loads(args.report.read_text(encoding="utf-8"))
    encoder = JointEncoder.from_pretrained(args.model)
    rows = []
    for s in report["sets"]:
        prompts = {t["name"]: t.get("verbose") or t["name"] for kind in ("entity_types", "relation_types")
                   for t in s["schema"].get(kind, [])}
        fam = encoder.label_familiarity(list(prompts.values()))
        for kind in ("entities", "relations"):
            for name, m in s["scores"].get("per_label", {}).get(kind, {}).items():
                support = m["tp"] + m["fn"]
                if name not in prompts or support < args.min_support:
                    continue
                sim, nearest = fam[prompts[name]]
                rows.append({"set": s["name"], "kind": kind, "label": prompts[name], "similarity": round(sim, 3),
                             "nearest": nearest, "f1": m["f1"], "support": support})
    rows.sort(key=lambda r: -r["similarity"])
    print(f"{'set':16} {'kind':9} {'label':34} {'sim':>5}  {'nearest training prompt':34} {'F1':>5} {'n':>5}")
    for r in rows:
        print(f"{r['set']:16} {r['kind']:9} {r['label'][:34]:34} {r['similarity']:5.2f}  {r['nearest'][:34]:34} "
              f"{100 * r['f1']:5.1f} {r['support']:5d}")
    rho = spearman([r["similarity"] for r in rows], [r["f1"] for r in rows])
    print(f"\n{len(rows)} labels; Spearman(similarity, F1) = {rho:.3f}")
    cuts = []
    for cut in CUTS:
        lo = [r["f1"] for r in rows if r["similarity"] < cut]
        hi = [r["f1"] for r in rows if r["similarity"] >= cut]
        row = {"cut": cut, "unfamiliar": len(lo), "unfamiliar_mean_f1": sum(lo) / len(lo) if lo else None,
               "familiar": len(hi), "familiar_mean_f1": sum(hi) / len(hi) if hi else None}
        cuts.append(row)
        fmt = lambda v: "  -  " if v is None else f"{100 * v:5.1f}"
        print(f"cut {cut:.2f}: unfamiliar {len(lo):3d} labels, mean F1 {fmt(row['unfamiliar_mean_f1'])} | "
              f"familiar {len(hi):3d}, mean F1 {fmt(row['familiar_mean_f1'])}")
    if args.json:
        args.json.write_text(json.dumps({"report": str(args.report), "model": args.model, "spearman": rho,
                                         "labels": rows, "cuts": cuts}, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
