"""A tiny, hermetic data folder in the layout of ../shared/data (one folder per set: SpERT splits
+ types.json), for tests of the data registry, `hybrid-ie data list` and the benchmark suites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NEWS = [
    {"tokens": ["John", "Smith", "works", "for", "Acme", "Corp", "in", "Boston", "."],
     "entities": [{"type": "Peop", "start": 0, "end": 2}, {"type": "Org", "start": 4, "end": 6},
                  {"type": "Loc", "start": 7, "end": 8}],
     "relations": [{"type": "Work_For", "head": 0, "tail": 1}]},
    {"tokens": ["Mary", "lives", "in", "Paris", "."],
     "entities": [{"type": "Peop", "start": 0, "end": 1}, {"type": "Loc", "start": 3, "end": 4}],
     "relations": [{"type": "Live_In", "head": 0, "tail": 1}]},
    {"tokens": ["Nothing", "to", "see", "here", "."], "entities": [], "relations": []},
]  # fmt: skip

NEWS_TYPES = {
    "entities": {
        "Peop": {"short": "Peop", "verbose": "person"},
        "Org": {"short": "Org", "verbose": "organization"},
        "Loc": {"short": "Loc", "verbose": "location"},
    },
    "relations": {
        "Work_For": {"short": "Work_For", "verbose": "works for", "symmetric": False},
        "Live_In": {"short": "Live_In", "verbose": "lives in", "symmetric": False},
    },
}

NER_TYPES = {
    "entities": {
        "Peop": {"short": "Peop", "verbose": "person"},
        "Loc": {"short": "Loc", "verbose": "location"},
    },
    "relations": {},
}


def ner_only(sentences: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = {"Peop", "Loc"}
    out = []
    for s in sentences:
        ents = [e for e in s["entities"] if e["type"] in keep]
        out.append({"tokens": s["tokens"], "entities": ents, "relations": []})
    return out


def write_set(root: Path, name: str, types: dict[str, Any], splits: dict[str, list[dict]]) -> Path:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "types.json").write_text(json.dumps(types), encoding="utf-8")
    for split, sentences in splits.items():
        (folder / f"{split}.json").write_text(json.dumps(sentences), encoding="utf-8")
    return folder


def tiny_data_dir(root: Path) -> Path:
    """Five sets: `news` (complete, NER+RE, train/dev/test), `ner-a` and `ner-b` (NER only; ner-b
    has no dev split), `partial-x` (partial by its types.json), `fewrel-tiny` (partial by the
    fewrel-* glob of hybrid_ie/datasets.json); plus a folder without types.json (not a set)."""
    write_set(root, "news", NEWS_TYPES, {"train": NEWS * 2, "dev": NEWS, "test": NEWS})
    write_set(
        root, "ner-a", NER_TYPES, {"train": ner_only(NEWS), "dev": ner_only(NEWS), "test": ner_only(NEWS)}
    )
    write_set(root, "ner-b", NER_TYPES, {"train": ner_only(NEWS), "test": ner_only(NEWS)[:2]})
    write_set(root, "partial-x", {**NER_TYPES, "annotation": "partial"}, {"train": ner_only(NEWS)})
    fewrel_types = {
        "entities": {"entity": {"short": "entity", "verbose": "entity"}},
        "relations": {"P17": {"short": "P17", "verbose": "country", "symmetric": False}},
    }
    fewrel = [{"tokens": ["Paris", "is", "in", "France"],
               "entities": [{"type": "entity", "start": 0, "end": 1}, {"type": "entity", "start": 3, "end": 4}],
               "relations": [{"type": "P17", "head": 0, "tail": 1}]}]  # fmt: skip
    write_set(root, "fewrel-tiny", fewrel_types, {"train": fewrel, "test": fewrel})
    (root / "notes").mkdir(exist_ok=True)
    (root / "notes" / "train.json").write_text("[]", encoding="utf-8")
    return root


def zero_shot_data_dir(root: Path) -> Path:
    """The folders of the zero-shot suite (tiny stand-ins): wnut17, gum, re3d, bio-bionlp13cg (NER;
    gum and re3d without dev, like the real ones), wlp (NER+RE), plus a training set, conll04."""
    ner = ner_only(NEWS)
    for name in ("wnut17", "bio-bionlp13cg"):
        write_set(root, name, NER_TYPES, {"train": ner, "dev": ner[:2], "test": ner})
    for name in ("gum", "re3d"):
        write_set(root, name, NER_TYPES, {"train": ner, "test": ner[1:]})
    write_set(root, "wlp", NEWS_TYPES, {"train": NEWS, "dev": NEWS[:2], "test": NEWS})
    write_set(root, "conll04", NEWS_TYPES, {"train": NEWS, "dev": NEWS, "test": NEWS})
    return root


def complete_and_partial(root: Path, name: str, rows: list[dict], entity_type: str, verbose: str) -> Path:
    """The same train rows as a complete set `name` and as `fewrel-tiny` (partial by the fewrel-*
    glob), one entity type: for the derived sets, which read complete sets only."""
    types = {"entities": {entity_type: {"verbose": verbose}}, "relations": {}}
    for set_name in (name, "fewrel-tiny"):
        write_set(root, set_name, types, {"train": rows})
    return root
