"""Benchmark datasets: SpERT JSON -> Documents with character offsets.

SpERT files hold a JSON list of sentences: `tokens`, `entities` (token `start`/`end`, end
exclusive, `type`), `relations` (`head`/`tail` index into `entities`, `type`). The text is the
tokens joined by single spaces; each token span is mapped to character offsets.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from hybrid_ie.chunking import span_end_before_closing_period, word_spans
from hybrid_ie.document import Document, Entity, Relation, document_from_dict, read_jsonl
from hybrid_ie.errors import InputError
from hybrid_ie.paths import SCHEMAS_DIR, data_dir
from hybrid_ie.schema import Schema, load_schema

DATASETS = ("conll04", "scierc", "ade")  # the sets with a hand-written schema in hybrid_ie/schemas/
SPLITS = ("train", "dev", "test")
ANNOTATION_FILE = Path(__file__).with_name("datasets.json")
ANNOTATIONS = ("complete", "partial")


def token_offsets(tokens: list[str]) -> list[tuple[int, int]]:
    """Character (start, end) of each token in `" ".join(tokens)`."""
    offsets, pos = [], 0
    for tok in tokens:
        offsets.append((pos, pos + len(tok)))
        pos += len(tok) + 1
    return offsets


def spert_to_document(sentence: dict[str, Any], doc_id: str) -> Document:
    """Convert one SpERT sentence to a Document (entity ids T1, T2, ... in file order). A mention
    whose last token glues the sentence's closing period to its word ("Texas." as some sets
    tokenise) ends before the period (`chunking.span_end_before_closing_period`), as the encoder's
    mentions do on raw text."""
    try:
        tokens = [str(t) for t in sentence["tokens"]]
        text = " ".join(tokens)
        offsets = token_offsets(tokens)
        entities = []
        for i, ent in enumerate(sentence.get("entities", [])):
            start_tok, end_tok = int(ent["start"]), int(ent["end"])
            if not 0 <= start_tok < end_tok <= len(tokens):
                raise InputError(f"entity {i} has token span [{start_tok}, {end_tok}) outside the sentence")
            start, end = offsets[start_tok][0], offsets[end_tok - 1][1]
            end = span_end_before_closing_period(text, start, end)
            entities.append(
                Entity(id=f"T{i + 1}", start=start, end=end, text=text[start:end], label=ent["type"])
            )
        relations = []
        for j, rel in enumerate(sentence.get("relations", [])):
            head, tail = int(rel["head"]), int(rel["tail"])
            if not (0 <= head < len(entities) and 0 <= tail < len(entities)):
                raise InputError(f"relation {j} points at a missing entity ({head}, {tail})")
            relations.append(Relation(head=f"T{head + 1}", tail=f"T{tail + 1}", label=rel["type"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"sentence {doc_id}: not in SpERT layout ({exc!r})") from exc
    meta = {"tokens": tokens}
    if "orig_id" in sentence:
        meta["orig_id"] = sentence["orig_id"]
    return Document(id=doc_id, text=text, entities=entities, relations=relations, meta=meta)


def read_spert(path: str | Path, *, id_prefix: str | None = None) -> list[Document]:
    """Read a SpERT JSON file. Document ids are `<prefix>-<index>`; the default prefix is
    `<folder>-<stem>` (e.g. `conll04-test`), the same ids `load_dataset` gives."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a JSON list of sentences (SpERT layout)")
    prefix = id_prefix if id_prefix is not None else f"{path.resolve().parent.name}-{path.stem}"
    docs = []
    for i, sentence in enumerate(data):
        try:
            docs.append(spert_to_document(sentence, f"{prefix}-{i}"))
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from exc
    return docs


def to_spert(doc: Document) -> tuple[dict[str, Any], int]:
    """A Document as one SpERT sentence: its words (`chunking.word_spans`) are the tokens. An
    entity that does not start and end on word boundaries cannot be expressed in tokens: it is
    left out with its relations. Returns (sentence, entities left out)."""
    spans = word_spans(doc.text)
    starts = {s: i for i, (s, _) in enumerate(spans)}
    ends = {e: i for i, (_, e) in enumerate(spans)}
    index: dict[str, int] = {}
    entities = []
    for ent in doc.entities:
        if ent.start in starts and ent.end in ends:
            index[ent.id] = len(entities)
            entities.append({"type": ent.label, "start": starts[ent.start], "end": ends[ent.end] + 1})
    relations = [
        {"type": r.label, "head": index[r.head], "tail": index[r.tail]}
        for r in doc.relations
        if r.head in index and r.tail in index
    ]
    sentence = {"tokens": [doc.text[s:e] for s, e in spans], "entities": entities, "relations": relations,
                "orig_id": doc.id}  # fmt: skip
    return sentence, len(doc.entities) - len(entities)


def write_set(docs: Iterable[Document], folder: str | Path, schema: Schema, split: str = "train") -> dict[str, int]:
    """Write Documents as a set of the data dir: `<folder>/<split>.json` (SpERT) and a
    `types.json` from the schema (names, verbose prompts, symmetric relations), so `hybrid-ie
    train --datasets <folder name>` can learn from them. Returns counts (documents, entities,
    relations, entities_dropped: spans not on word boundaries)."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
    folder = Path(folder)
    counts = {"documents": 0, "entities": 0, "relations": 0, "entities_dropped": 0}
    sentences = []
    for doc in docs:
        sentence, dropped = to_spert(doc)
        sentences.append(sentence)
        counts["documents"] += 1
        counts["entities"] += len(sentence["entities"])
        counts["relations"] += len(sentence["relations"])
        counts["entities_dropped"] += dropped
    types = {
        "entities": {t.name: {"short": t.name, "verbose": t.prompt} for t in schema.entity_types},
        "relations": {
            t.name: {"short": t.name, "verbose": t.prompt, "symmetric": t.symmetric} for t in schema.relation_types
        },
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{split}.json").write_text(json.dumps(sentences, ensure_ascii=False) + "\n", encoding="utf-8")
        (folder / "types.json").write_text(json.dumps(types, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{folder}: cannot write the set ({exc.strerror or exc})") from exc
    return counts


def _data_root(root: str | Path | None) -> Path:
    """The data folder given, else the default one (`hybrid_ie.paths.data_dir`)."""
    return Path(root) if root else data_dir()


def dataset_path(name: str, split: str, root: str | Path | None = None) -> Path:
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
    base = _data_root(root)
    path = base / name / f"{split}.json"
    if not path.exists():
        raise InputError(f"dataset {name!r} split {split!r} not found at {path}")
    return path


def load_dataset(name: str, split: str, root: str | Path | None = None) -> list[Document]:
    """Load a benchmark split by name (`conll04`, `scierc`, `ade`) from the data folder."""
    return read_spert(dataset_path(name, split, root))


def load_types(name: str, root: str | Path | None = None) -> dict[str, Any]:
    """The dataset's `types.json` (short and verbose names of each type)."""
    base = _data_root(root)
    return json.loads((base / name / "types.json").read_text(encoding="utf-8"))


def is_spert_file(path: str | Path) -> bool:
    """True when the file is a JSON list (SpERT), False for JSONL."""
    with Path(path).open("rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(b"[")


def set_reference(source: str | Path) -> tuple[str, str] | None:
    """(name, split) of a dataset reference written `name:split` (e.g. `conll04:test`); None for
    a path (an existing file whose name holds a colon is a path)."""
    text = str(source)
    if ":" not in text or Path(text).exists():
        return None
    name, split = text.split(":", 1)
    return name, split


def load_documents(source: str | Path, root: str | Path | None = None) -> list[Document]:
    """Documents from a dataset reference: `name:split` (e.g. `conll04:test`), a SpERT JSON file
    or a JSONL file of Documents (JSONL of `{"id", "text"}` gives documents without gold)."""
    reference = set_reference(source)
    if reference is not None:
        return load_dataset(*reference, root)
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file (or use name:split, e.g. conll04:test)")
    if is_spert_file(path):
        return read_spert(path)
    return list(read_jsonl(path))


# -- the registry: every set in the data folder, described by its types.json -----------------------


@dataclass(frozen=True)
class DataSet:
    """One folder of the data dir: SpERT splits + `types.json`.

    `annotation` is `complete` (unmarked spans / pairs are negatives) or `partial` (only some
    mentions are marked, e.g. FewRel's two relation arguments: unmarked spans and pairs must not
    be used as negatives)."""

    name: str
    path: Path
    types: dict[str, Any] = field(repr=False, compare=False)
    annotation: str = "complete"

    @property
    def partial(self) -> bool:
        return self.annotation == "partial"

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if (self.path / f"{s}.json").exists()]

    @property
    def entity_types(self) -> dict[str, str]:
        """Type key -> verbose name."""
        return {k: _verbose(k, v) for k, v in (self.types.get("entities") or {}).items()}

    @property
    def relation_types(self) -> dict[str, str]:
        return {k: _verbose(k, v) for k, v in (self.types.get("relations") or {}).items()}

    @cached_property
    def types_schema(self) -> Schema:
        """A schema built from `types.json`: names are the type keys, prompts their verbose names."""
        rels = self.types.get("relations") or {}
        return Schema.from_dict(
            {
                "name": self.name,
                "entity_types": [
                    {"name": k, "description": v, "verbose": v} for k, v in self.entity_types.items()
                ],
                "relation_types": [
                    {"name": k, "description": v, "verbose": v, "symmetric": bool((rels[k] or {}).get("symmetric"))}
                    for k, v in self.relation_types.items()
                ],
            },
            source=str(self.path / "types.json"),
        )

    def schema(self, *, prefer_repo: bool = True) -> Schema:
        """The hand-written shipped schema (`hybrid_ie/schemas/<name>.json`) when there is one
        and `prefer_repo`, else the schema built from `types.json`."""
        if prefer_repo and (SCHEMAS_DIR / f"{self.name}.json").is_file():
            return load_schema(self.name)
        return self.types_schema

    def load(self, split: str) -> list[Document]:
        return read_spert(dataset_path(self.name, split, self.path.parent))

    def count(self, split: str) -> dict[str, int]:
        """Sentences (objects), entities and relations of a split, without building Documents."""
        data = json.loads((self.path / f"{split}.json").read_text(encoding="utf-8"))
        return {
            "sentences": len(data),
            "entities": sum(len(x.get("entities", ())) for x in data),
            "relations": sum(len(x.get("relations", ())) for x in data),
        }


def _verbose(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("verbose") or value.get("short") or key)
    return str(value or key)


def _declared_annotation(name: str, types: dict[str, Any]) -> str:
    annotation = types.get("annotation")
    if annotation is None:
        table = json.loads(ANNOTATION_FILE.read_text(encoding="utf-8"))
        for pattern, entry in table.items():
            if not pattern.startswith("_") and fnmatch.fnmatchcase(name, pattern):
                annotation = entry.get("annotation")
                break
    annotation = annotation or "complete"
    if annotation not in ANNOTATIONS:
        raise InputError(f"data set {name!r}: annotation {annotation!r} is not one of {ANNOTATIONS}")
    return annotation


def discover_sets(root: str | Path | None = None) -> list[DataSet]:
    """Every folder of the data dir that has a `types.json` and at least one split, by name."""
    base = _data_root(root)
    if not base.is_dir():
        raise InputError(f"data folder {base} not found (pass --data DIR or set $HYBRID_IE_DATA)")
    out = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        if any((folder / f"{s}.json").exists() for s in SPLITS) and (found := _read_set(folder)) is not None:
            out.append(found)
    return out


def _read_set(folder: Path) -> DataSet | None:
    """The set a folder's `types.json` describes; None without one (a clear error when it is not JSON)."""
    types_file = folder / "types.json"
    if not types_file.is_file():
        return None
    try:
        types = json.loads(types_file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{types_file}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    return DataSet(folder.name, folder, types, _declared_annotation(folder.name, types))


def get_set(name: str, root: str | Path | None = None) -> DataSet:
    """One set of the data dir by folder name (clear error listing the sets when unknown)."""
    sets = {s.name: s for s in discover_sets(root)}
    if name not in sets:
        raise InputError(f"unknown data set {name!r}; available: {', '.join(sets) or '(none)'}")
    return sets[name]


def source_schema(source: str | Path, root: str | Path | None = None) -> Schema | None:
    """The schema of a dataset reference, read from its `types.json`: the shipped schema named like
    the set when there is one, else the one built from `types.json` (`name:split` looks in the data
    dir, a SpERT file beside its own `types.json`). None when there is no `types.json` to read."""
    reference = set_reference(source)
    folder = _data_root(root) / reference[0] if reference else Path(source).parent
    found = _read_set(folder)
    return None if found is None else found.schema()


__all__ = [
    "DATASETS",
    "SPLITS",
    "DataSet",
    "dataset_path",
    "discover_sets",
    "document_from_dict",
    "get_set",
    "is_spert_file",
    "load_dataset",
    "load_documents",
    "load_types",
    "read_spert",
    "set_reference",
    "source_schema",
    "spert_to_document",
    "to_spert",
    "token_offsets",
    "write_set",
]
