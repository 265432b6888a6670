"""The user suite's source of truth: `<domain>/sentences.txt`, hand-written and hand-checked; this
script turns each into a set of the data dir (`<domain>/test.json` in the SpERT layout and
`<domain>/types.json`), which `hybrid-ie benchmark --suite zero-shot-v2` reads with
`eval/user_suite` as the data dir.

    python eval/user_suite/build.py            # rewrite every domain's test.json / types.json
    python eval/user_suite/build.py --check    # exit 1 when a JSON file differs from its source

Source format (one file per domain, UTF-8):

    entities: patient, doctor, drug            <- the labels offered, as a user types them
    relations: treats, prescribed, met with*   <- (type key = prompt; '*' marks a symmetric one)

    Dr. [Chen](doctor) prescribed [metformin](drug) for [Alvarez](patient) 's diabetes .
      - Chen | prescribed | metformin          <- head text | relation | tail text

A sentence is one line of space-separated tokens (punctuation is its own token); `[a b c](label)`
marks an entity over the tokens inside the brackets; `- head | relation | tail` lines under it
give its relations, naming the arguments by their text (`text@2`: the second entity with that
text). Blank lines and lines starting with `#` are ignored. Every token is kept as written.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = "sentences.txt"
ENTITY = re.compile(r"\[([^\[\]]+)\]\(([^()]+)\)")
# a token that glues punctuation to a word ("pain," "(left") would break the token layout
GLUED = re.compile(r"^[(\"\[].+|.+[,;:!?)\"\]]$")


class SourceError(ValueError):
    pass


def _labels(line: str, key: str) -> dict[str, bool]:
    """A header line -> {label: symmetric} in the order written."""
    if not line.startswith(f"{key}:"):
        raise SourceError(f"expected a '{key}:' header line, got {line!r}")
    words = [x.strip() for x in line.split(":", 1)[1].split(",") if x.strip()]
    labels = {w.rstrip("*").strip(): w.endswith("*") for w in words}
    if len(labels) != len(words):
        raise SourceError(f"'{key}:' names a label twice")
    return labels


def parse_sentence(line: str, entity_labels: dict[str, bool]) -> dict:
    """One marked-up line -> {"tokens", "entities"} (SpERT, token indices, end exclusive)."""
    tokens: list[str] = []
    entities: list[dict] = []
    pos = 0
    for m in ENTITY.finditer(line):
        tokens.extend(line[pos : m.start()].split())
        inner = m.group(1).split()
        label = m.group(2).strip()
        if label not in entity_labels:
            raise SourceError(f"entity label {label!r} is not offered ({', '.join(entity_labels)})")
        if not inner:
            raise SourceError("empty entity")
        entities.append({"type": label, "start": len(tokens), "end": len(tokens) + len(inner)})
        tokens.extend(inner)
        pos = m.end()
    tokens.extend(line[pos:].split())
    for tok in tokens:
        if any(c in tok for c in "[]") or (len(tok) > 1 and GLUED.match(tok)):
            raise SourceError(f"token {tok!r}: punctuation must be a separate token")
    return {"tokens": tokens, "entities": entities, "relations": []}


def _find(sentence: dict, ref: str) -> int:
    text, _, nth = ref.strip().partition("@")
    hits = [
        i
        for i, e in enumerate(sentence["entities"])
        if " ".join(sentence["tokens"][e["start"] : e["end"]]) == text.strip()
    ]
    k = int(nth) if nth else 1
    if len(hits) < k or (not nth and len(hits) > 1):
        raise SourceError(f"relation argument {ref!r}: {len(hits)} entities with that text")
    return hits[k - 1]


def parse_source(text: str, name: str = "<source>") -> tuple[list[dict], dict]:
    """A domain's source -> (SpERT sentences, types.json dictionary)."""
    lines = [(n, ln.rstrip()) for n, ln in enumerate(text.splitlines(), start=1)]
    lines = [(n, ln) for n, ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    try:
        entity_labels = _labels(lines[0][1], "entities")
        relation_labels = _labels(lines[1][1], "relations")
    except (IndexError, SourceError) as exc:
        raise SourceError(f"{name}: {exc}") from exc
    sentences: list[dict] = []
    for n, line in lines[2:]:
        try:
            if line.lstrip().startswith("- "):
                if not sentences:
                    raise SourceError("a relation line before any sentence")
                parts = [p.strip() for p in line.lstrip()[2:].split("|")]
                if len(parts) != 3 or parts[1] not in relation_labels:
                    raise SourceError(
                        f"relation line must be 'head | relation | tail' with an offered relation: {line!r}"
                    )
                sent = sentences[-1]
                rel = {"type": parts[1], "head": _find(sent, parts[0]), "tail": _find(sent, parts[2])}
                if rel in sent["relations"] or rel["head"] == rel["tail"]:
                    raise SourceError(f"duplicate or reflexive relation {line!r}")
                sent["relations"].append(rel)
            else:
                sent = parse_sentence(line, entity_labels)
                sent["orig_id"] = f"{name}:{n}"
                sentences.append(sent)
        except SourceError as exc:
            raise SourceError(f"{name}:{n}: {exc}") from exc
    types = {
        "entities": {k: {"short": k, "verbose": k} for k in entity_labels},
        "relations": {k: {"short": k, "verbose": k, "symmetric": sym} for k, sym in relation_labels.items()},
    }
    return sentences, types


def domains(root: Path = HERE) -> list[Path]:
    return sorted(p.parent for p in root.glob(f"*/{SOURCE}"))


def build(root: Path = HERE, *, check: bool = False) -> list[str]:
    """Write (or, with `check`, compare) every domain's JSON files; returns the stale files."""
    stale = []
    for folder in domains(root):
        sentences, types = parse_source((folder / SOURCE).read_text(encoding="utf-8"), folder.name)
        for fname, data in (("test.json", sentences), ("types.json", types)):
            path = folder / fname
            text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(str(path))
                if not check:
                    path.write_text(text, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only report JSON files that differ from their source"
    )
    args = parser.parse_args(argv)
    try:
        stale = build(check=args.check)
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in stale:
        print(("stale: " if args.check else "wrote: ") + path)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
