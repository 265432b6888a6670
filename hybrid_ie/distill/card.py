"""The model card of a distilled checkpoint: ``README.md`` (for people) and ``distill.json`` (the
same facts for programs; also stored in ``config.json: training.distill``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def llm_identity(distiller: Any) -> dict[str, Any] | None:
    """Backend, model and request settings of the LLM that labelled (None: silver files only)."""
    if not distiller.config.texts:
        return None
    cfg = distiller.llm.config
    task = "verify" if distiller.config.verify else "extract"
    return {"backend": cfg.backend, "model": cfg.model, "base_url": cfg.base_url, "request_format": cfg.request_format,
            "label_style": cfg.label_style, "few_shot": cfg.few_shot, "task": task}


def model_card(distiller: Any, *, stats: Any, usage: Any, calibration: dict[str, Any], train_docs: int,
               held_docs: int, draws: dict[str, float], seconds: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    cfg = distiller.config
    return {
        "created": time.strftime("%Y-%m-%d %H:%M:%S"),
        "schema": distiller.schema.to_dict(),
        "base": str(distiller.base),
        "texts": list(cfg.texts),
        "silver_files": list(cfg.silver),
        "sample": {"limit": cfg.limit, "seed": cfg.seed, "chunks_asked": stats.chunks},
        "llm": llm_identity(distiller),
        "usage": usage.model_dump(mode="json"),
        "silver": stats.to_dict(),
        "split": {"train_documents": train_docs, "held_out_documents": held_docs, "holdout": cfg.holdout},
        "training": {
            "steps": cfg.steps, "batch_size": cfg.batch_size, "replay": cfg.replay, "replay_sets": cfg.replay_sets,
            "replay_limit": cfg.replay_limit, "draw_probabilities": draws, "negatives": cfg.negatives,
            "silver_relations": cfg.relations,
            "negative_weight": cfg.negative_weight, "min_grounding": cfg.min_grounding,
            "weights": {"llm": cfg.weight_llm, "llm+encoder": cfg.weight_both, "encoder": cfg.weight_encoder},
            "lr_backbone": cfg.lr_backbone, "lr_heads": cfg.lr_heads, "seed": cfg.seed,
        },
        "calibration": {k: v for k, v in calibration.items() if k != "grid"},
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
    }


def _markdown(card: dict[str, Any]) -> str:
    s, t, llm, u = card["silver"], card["training"], card["llm"], card["usage"]
    schema = card["schema"]
    labels = ", ".join(e["name"] for e in schema["entity_types"])
    rels = ", ".join(r["name"] for r in schema["relation_types"]) or "(none)"
    who = f"{llm['backend']}:{llm['model']} ({llm['task']})" if llm else "none (silver files only)"
    calib = card["calibration"]
    thresholds = calib.get("thresholds") or {}
    sample = card["sample"]
    draws = ", ".join(f"{k} {v:.3f}" for k, v in sorted(t["draw_probabilities"].items(), key=lambda kv: -kv[1])[:8])
    usage = (f"{u['calls']} calls, {u['cache_hits']} from the cache, {u['prompt_tokens']:,} prompt + "
             f"{u['completion_tokens']:,} completion tokens, cost ${u['cost']:.4f}")
    silver = (f"{s['documents']} documents, {s['entities']} entities, {s['relations']} relations; answers ok "
              f"{s['answers_ok']}, failed {s['answers_failed']}, re-asked {s['answers_reasked']}; ungrounded strings "
              f"{s['ungrounded']}, dropped for fuzzy grounding below {t['min_grounding']} "
              f"{s['dropped_low_grounding']}, relations dropped {s['dropped_relations']}")
    training = (f"{t['steps']} steps of batch {t['batch_size']}, replay {t['replay']} (draws: {draws}), "
                f"{'entities and relations' if t['silver_relations'] else 'entities only (relations from replay)'} of "
                f"the silver set, negatives "
                f"{t['negatives']} (weight {t['negative_weight']}), item weights {t['weights']}, lr "
                f"{t['lr_backbone']} / {t['lr_heads']}, seed {t['seed']}")
    calibrated = (f"{calib.get('source', '')}; thresholds {thresholds.get('threshold', '-')} / "
                  f"{thresholds.get('relation_threshold', '-')}")
    rows = [
        ("Base checkpoint", card["base"]),
        ("Schema", f"{schema['name']}: entities {labels}; relations {rels}"),
        ("Documents", ", ".join(card["texts"]) or "(none)"),
        ("Sample", f"{sample['chunks_asked']} chunks asked (limit {sample['limit']}, seed {sample['seed']})"),
        ("LLM", who),
        ("LLM usage", usage),
        ("Silver files", ", ".join(card["silver_files"]) or "(none)"),
        ("Silver set", silver),
        ("Provenance", ", ".join(f"{k} {v}" for k, v in s["provenance"].items()) or "(none)"),
        ("Grounding", ", ".join(f"{k} {v}" for k, v in s["grounding"].items()) or "(none)"),
        ("Labels", ", ".join(f"{k} {v}" for k, v in s["labels"].items()) or "(none)"),
        ("Split", f"{card['split']['train_documents']} train / {card['split']['held_out_documents']} held out"),
        ("Training", training),
        ("Calibration", calibrated),
        ("Time", ", ".join(f"{k} {v} s" for k, v in card["seconds"].items())),
    ]
    body = "\n".join(f"| {k} | {str(v).replace('|', '/')} |" for k, v in rows)
    return (
        f"# Distilled encoder ({schema['name']})\n\n"
        "Fine-tuned with `hybrid-ie distill`: an LLM labelled a sample of the documents, the answers that "
        "passed the schema and grounding checks formed the silver set, and the base encoder learnt from it "
        "with replay of its own training mixture. Scores of this checkpoint are not measured here: score it "
        "with `hybrid-ie eval` on labelled data of your domain.\n\n"
        f"| | |\n| --- | --- |\n{body}\n\nCreated {card['created']}; the same facts are in `distill.json`.\n"
    )


def write_card(output_dir: Path, card: dict[str, Any]) -> None:
    (output_dir / "distill.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (output_dir / "README.md").write_text(_markdown(card), encoding="utf-8")


__all__ = ["llm_identity", "model_card", "write_card"]
