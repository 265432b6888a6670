"""A spaCy pipeline component: `nlp.add_pipe("hybrid_ie", config={...})`.

    import spacy
    nlp = spacy.blank("en")
    nlp.add_pipe("hybrid_ie", config={"schema": "conll04", "mode": "encoder"})
    doc = nlp("Tim Cook, the chief executive of Apple, spoke in Cupertino.")
    for span in doc.ents:
        print(span.text, span.label_, span._.score, span._.source)
    for rel in doc._.relations:
        print(rel.head.text, rel.label, rel.tail.text, rel.score)
    spacy.displacy.render(doc, style="ent")

Needs the optional extra: `pip install hybrid-ie[spacy]`. The factory is found through the
`spacy_factories` entry point of the installed package, and `import hybrid_ie.integrations.spacy`
registers it too.

Config (all optional): ``schema`` (a shipped schema name, a schema file, a list of entity labels,
or the schema itself as a dict, any form `hybrid_ie.load_schema` takes; default ``conll04``),
``mode`` (``auto`` / ``encoder`` / ``llm`` / ``hybrid``; default ``auto``, `hybrid_ie.modes`), ``model`` (an encoder
checkpoint folder; None = the shipped one, loaded on the first document), ``threshold`` and
``relation_threshold`` (None = the checkpoint's calibrated ones), ``llm_config`` (a TOML/JSON LLM
config file for the hybrid and llm modes), ``batch_size`` (documents per `Extractor` batch in
`nlp.pipe`), ``spans_key`` (default ``hybrid_ie``), ``set_ents`` (default true). Any other set-up
(an encoder object, an LLM client, a routing policy): assign `component.extractor =
Extractor(...)` after `add_pipe`.

What the component writes on each Doc:

- ``doc.spans[spans_key]``: every entity, overlapping or not (the SpanGroup's
  ``attrs["overlapping"]`` says whether any two overlap).
- ``doc.ents`` (when ``set_ents``, replacing what was there): every entity when none overlap;
  otherwise a flat subset chosen by `spacy.util.filter_spans` (the longest span wins, then the
  earliest), so nested entities show their outermost span in `doc.ents` and all of them in
  ``doc.spans``.
- ``span._.score`` (float or None), ``span._.source`` (``encoder`` / ``llm`` / ``both``),
  ``span._.hybrid_ie_entity`` (our `Entity`, with the original character offsets) on the spans
  of ``doc.ents`` and ``doc.spans[spans_key]``.
- ``doc._.relations``: a list of `SpanRelation` (head span, tail span, label, score, source).
- ``doc._.hybrid_ie``: the `Document` exactly as the Extractor returned it (offsets, meta,
  routing, error).

Alignment: our offsets are characters of ``doc.text``; each entity becomes
``doc.char_span(start, end, label, alignment_mode="expand")``, i.e. the smallest run of whole
tokens that covers it (an entity "U.S" inside the token "U.S." becomes "U.S."). Entities that
still cannot be aligned (none in practice: only a span of whitespace fails) are left out of
the spans and counted in ``doc.spans[spans_key].attrs["unaligned"]``, with any relation that
names them; ``attrs["expanded"]`` counts the spans that grew to token boundaries. When two
entities of one label expand to the same tokens, one span stands for both: the extension values
are those of the higher-scoring one, and relations of either point to it.

Saving: `nlp.to_disk` writes the component's resolved schema (its content, not the name or file it
came from) to ``<pipeline>/<component>/schema.json``, and `spacy.load` reads it back from there,
so a saved pipeline loads from any folder and on a machine without the original schema file. A
schema the factory cannot find while `spacy.load` builds the pipeline is taken from that file;
used without one, the component raises the original "schema not found" error.

The extension values live in ``doc.user_data`` as plain data (no Span objects), so Docs still
pickle and go through `DocBin(store_user_data=True)` and ``nlp.pipe(n_process=...)``.
"""

import json
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Union  # noqa: UP035 - spaCy's config validation reads these

from hybrid_ie.document import Document
from hybrid_ie.errors import SchemaError
from hybrid_ie.modes import DEFAULT_MODE
from hybrid_ie.pipeline import DEFAULT_BATCH_SIZE, extractor_defaults

INSTALL_HINT = "the spaCy component needs the optional extra: pip install hybrid-ie[spacy]"

try:
    from spacy.language import Language
    from spacy.tokens import Doc, Span, SpanGroup
    from spacy.util import filter_spans
except ImportError as exc:  # a one-line error naming the extra
    raise ImportError(INSTALL_HINT) from exc

FACTORY = "hybrid_ie"
SCHEMA_FILE = "schema.json"  # in the component's folder of a saved pipeline
DATA_KEY = "hybrid_ie"  # doc.user_data[DATA_KEY]: what the extension getters read
DEFAULT_CONFIG: dict[str, Any] = {  # the Extractor's own defaults where it has one
    "schema": extractor_defaults()["schema"],
    "mode": DEFAULT_MODE,
    "model": None,
    "threshold": None,
    "relation_threshold": None,
    "llm_config": None,
    "batch_size": DEFAULT_BATCH_SIZE,
    "spans_key": "hybrid_ie",
    "set_ents": True,
}


@dataclass(frozen=True)
class SpanRelation:
    """One relation of `doc._.relations`: two spans of the Doc and the relation's label."""

    head: Span
    tail: Span
    label: str
    score: float | None
    source: str


# -- extensions (getters over doc.user_data[DATA_KEY]) -------------------------------------------


def _key(start: int, end: int, label: str) -> str:
    return f"{start}:{end}:{label}"


def _span_record(span: Span) -> dict[str, Any] | None:
    data = span.doc.user_data.get(DATA_KEY)
    if not data:
        return None
    return data["spans"].get(_key(span.start_char, span.end_char, span.label_))


def _span_score(span: Span) -> float | None:
    record = _span_record(span)
    return None if record is None else record["score"]


def _span_source(span: Span) -> str | None:
    record = _span_record(span)
    return None if record is None else record["source"]


def _span_entity(span: Span) -> Any:
    record = _span_record(span)
    if record is None:
        return None
    return _doc_document(span.doc).entity(record["id"])


def _doc_document(doc: Doc) -> Document | None:
    data = doc.user_data.get(DATA_KEY)
    return None if not data else Document.model_validate(data["document"])


def _doc_relations(doc: Doc) -> list[SpanRelation]:
    data = doc.user_data.get(DATA_KEY)
    if not data:
        return []
    out = []
    for rel in data["relations"]:
        (hs, he, hl), (ts, te, tl) = rel["head"], rel["tail"]
        head = doc.char_span(hs, he, label=hl, alignment_mode="strict")
        tail = doc.char_span(ts, te, label=tl, alignment_mode="strict")
        out.append(SpanRelation(head, tail, rel["label"], rel["score"], rel["source"]))
    return out


def register_extensions() -> None:
    """Add the extensions (`span._.score`, `span._.source`, `span._.hybrid_ie_entity`,
    `doc._.relations`, `doc._.hybrid_ie`); names another package already took are left alone."""
    for name, getter in (("score", _span_score), ("source", _span_source), ("hybrid_ie_entity", _span_entity)):
        if not Span.has_extension(name):
            Span.set_extension(name, getter=getter)
    for name, getter in (("relations", _doc_relations), ("hybrid_ie", _doc_document)):
        if not Doc.has_extension(name):
            Doc.set_extension(name, getter=getter)


# -- Document -> Doc ----------------------------------------------------------------------------


def annotate(doc: Doc, document: Document, *, spans_key: str = "hybrid_ie", set_ents: bool = True) -> Doc:
    """Write `document`'s entities and relations onto `doc` (whose text it was extracted from)."""
    if document.text != doc.text:
        raise ValueError(f"document {document.id!r} is not the text of this Doc")
    spans: dict[str, Span] = {}  # aligned key -> span
    records: dict[str, dict[str, Any]] = {}
    where: dict[str, tuple[int, int, str]] = {}  # entity id -> aligned character offsets, label
    expanded = unaligned = 0
    for ent in document.entities:
        span = doc.char_span(ent.start, ent.end, label=ent.label, alignment_mode="expand")
        if span is None or len(span) == 0:  # only whitespace (spaCy gives None or an empty span)
            unaligned += 1
            continue
        expanded += (span.start_char, span.end_char) != (ent.start, ent.end)
        key = _key(span.start_char, span.end_char, ent.label)
        where[ent.id] = (span.start_char, span.end_char, ent.label)
        old = records.get(key)
        if old is None or (ent.score or 0.0) > (old["score"] or 0.0):
            records[key] = {"id": ent.id, "score": ent.score, "source": ent.source}
        spans.setdefault(key, span)
    ordered = sorted(spans.values(), key=lambda s: (s.start, -s.end, s.label_))
    relations = [
        {"head": where[r.head], "tail": where[r.tail], "label": r.label, "score": r.score, "source": r.source}
        for r in document.relations
        if r.head in where and r.tail in where
    ]
    doc.user_data[DATA_KEY] = {
        "document": document.to_dict(),
        "spans": records,
        "relations": relations,
    }
    flat = filter_spans(ordered)
    group = SpanGroup(doc, name=spans_key, spans=ordered)
    group.attrs.update(overlapping=len(flat) < len(ordered), expanded=expanded, unaligned=unaligned)
    doc.spans[spans_key] = group
    if set_ents:
        doc.ents = flat
    return doc


# -- the component ------------------------------------------------------------------------------


class HybridIEComponent:
    """Runs a `hybrid_ie.Extractor` over Docs; see the module docstring for what it writes.

    `settings`: the `build_extractor` arguments other than the schema, so `from_disk` can
    rebuild the Extractor around the saved schema. `schema_error`: why the factory could not
    build it (raised on use unless `from_disk` supplies the schema)."""

    def __init__(
        self,
        nlp: Language,
        name: str = FACTORY,
        *,
        extractor: Any = None,
        batch_size: int = DEFAULT_CONFIG["batch_size"],
        spans_key: str = DEFAULT_CONFIG["spans_key"],
        set_ents: bool = DEFAULT_CONFIG["set_ents"],
        settings: dict[str, Any] | None = None,
        schema_error: SchemaError | None = None,
    ) -> None:
        register_extensions()
        self.name = name
        self._extractor = extractor
        self.batch_size = batch_size
        self.spans_key = spans_key
        self.set_ents = set_ents
        self.settings = dict(settings or {})
        self.schema_error = schema_error

    @property
    def extractor(self) -> Any:
        if self._extractor is None and self.schema_error is not None:
            raise self.schema_error
        return self._extractor

    @extractor.setter
    def extractor(self, value: Any) -> None:
        self._extractor = value
        self.schema_error = None

    def __call__(self, doc: Doc) -> Doc:
        return self.set_annotations(doc, self.extractor.extract(doc.text))

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """`nlp.pipe`: one `Extractor.extract_many` stream over the Docs, `batch_size` at a time
        (the hybrid mode's routing budget runs over the whole stream)."""
        pending: deque[Doc] = deque()

        def inputs() -> Iterator[dict[str, str]]:
            for i, doc in enumerate(stream):
                pending.append(doc)
                yield {"id": f"doc-{i}", "text": doc.text}

        for document in self.extractor.extract_many(inputs(), batch_size=batch_size or self.batch_size):
            yield self.set_annotations(pending.popleft(), document)

    def set_annotations(self, doc: Doc, document: Document) -> Doc:
        return annotate(doc, document, spans_key=self.spans_key, set_ents=self.set_ents)

    # -- serialisation: the schema travels with the pipeline -------------------------------------
    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the Extractor's schema (its content) to `path`/schema.json."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        data = self.extractor.schema.to_dict()
        (folder / SCHEMA_FILE).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> "HybridIEComponent":
        """Use the schema saved in `path`/schema.json (when there is one): the Extractor is built
        around it from the config's settings, or an existing one takes it."""
        file = Path(path) / SCHEMA_FILE
        if file.exists():
            from hybrid_ie.schema import Schema

            schema = Schema.from_dict(json.loads(file.read_text(encoding="utf-8")), source=str(file))
            if self._extractor is None:
                self.extractor = build_extractor(schema, **self.settings)
            else:
                self._extractor.schema = self._extractor.options["schema"] = schema
        return self


def build_extractor(
    schema: Any = "conll04",
    mode: str = DEFAULT_MODE,
    model: str | None = None,
    threshold: float | None = None,
    relation_threshold: float | None = None,
    llm_config: str | None = None,
) -> Any:
    """The Extractor behind a component config (nothing is loaded until the first document).
    `schema`: anything `hybrid_ie.load_schema` takes."""
    from hybrid_ie.pipeline import Extractor

    llm = None
    if llm_config is not None:
        from hybrid_ie.llm import LLMConfig

        llm = LLMConfig.load(llm_config)
    return Extractor(
        schema=schema, encoder=model, llm=llm, mode=mode, threshold=threshold, relation_threshold=relation_threshold
    )


@Language.factory(FACTORY, default_config=DEFAULT_CONFIG)
def make_component(
    nlp: Language,
    name: str,
    schema: Union[str, List[str], Dict[str, Any]],  # noqa: UP006, UP007
    mode: str,
    model: str | None,
    threshold: float | None,
    relation_threshold: float | None,
    llm_config: str | None,
    batch_size: int,
    spans_key: str,
    set_ents: bool,
) -> HybridIEComponent:
    """The `hybrid_ie` factory (also the `spacy_factories` entry point). A schema it cannot find
    is not fatal here: `spacy.load` supplies the saved one through `from_disk`."""
    settings = {"mode": mode, "model": model, "threshold": threshold, "relation_threshold": relation_threshold,
                "llm_config": llm_config}  # fmt: skip
    extractor, error = None, None
    try:
        extractor = build_extractor(schema, **settings)
    except SchemaError as exc:
        error = exc
    return HybridIEComponent(nlp, name, extractor=extractor, batch_size=batch_size, spans_key=spans_key,
                             set_ents=set_ents, settings=settings, schema_error=error)  # fmt: skip


__all__ = ["FACTORY", "SCHEMA_FILE", "HybridIEComponent", "SpanRelation", "annotate", "build_extractor", "make_component",
           "register_extensions"]  # fmt: skip
