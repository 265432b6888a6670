"""The encoder API of the field (GLiNER's shape) on every encoder backend.

    from hybrid_ie import JointEncoder
    model = JointEncoder.from_pretrained()                # or a checkpoint folder / hub id
    model.predict_entities("Tim Cook leads Apple.", ["person", "company"], threshold=0.5)
    # [{"start": 0, "end": 8, "text": "Tim Cook", "label": "person", "score": 0.97}, ...]
    model.predict_relations(text, ["person", "company"], ["works for"])
    model.batch_predict_entities(texts, labels)            # one list per text
    model.batch_predict(texts, entity_labels, relation_labels)   # {"entities", "relations"} per text

Labels are a list, a dict label -> description, or anything else `hybrid_ie.load_schema` takes
(a Schema, a shipped schema's name). A text is read exactly as the `Extractor` reads it in
``encoder`` mode: cut into the same chunks (`hybrid_ie.chunking.chunk_text`), encoded with the
same defaults, so the entities, relations and scores are the ones `Extractor(mode="encoder")`
gives. `threshold=None` keeps the checkpoint's calibrated cut-offs (per label where it has them);
`flat_ner=False` allows nested entities. Offsets are characters of the text (``text[start:end] ==
entity["text"]``); entities come in text order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hybrid_ie.chunking import MAX_CHUNK_WORDS, chunk_text
from hybrid_ie.document import Document, join_chunks
from hybrid_ie.schema import Schema, SchemaLike, label_types, load_schema
from hybrid_ie.tiers import ENCODER_BATCH_SIZE

Labels = SchemaLike | Sequence[str] | Mapping[str, str]


def labels_schema(entity_labels: Labels, relation_labels: Sequence[str] | Mapping[str, str] | None = None) -> Schema:
    """The schema of an API call: `entity_labels` as `load_schema` reads them; `relation_labels`
    (a list or a dict label -> description), when given, replace the schema's relation types."""
    schema = load_schema(entity_labels)
    if relation_labels is None:
        return schema
    data = schema.to_dict()
    data["relation_types"] = label_types(relation_labels, "relation")
    return Schema.from_dict(data, source=f"{schema.source} (relation labels of the call)")


class FieldAPI:
    """`predict_entities`, `predict_relations`, `batch_predict_entities`, `batch_predict` over
    the backend's `predict` (mixed into `SpanEncoder`)."""

    def batch_predict(
        self,
        texts: Sequence[str],
        entity_labels: Labels,
        relation_labels: Sequence[str] | Mapping[str, str] | None = None,
        *,
        threshold: float | None = None,
        relation_threshold: float | None = None,
        flat_ner: bool = True,
        batch_size: int = ENCODER_BATCH_SIZE,
    ) -> list[dict[str, list[dict[str, Any]]]]:
        """For each text: ``{"entities": [...], "relations": [...]}``; a relation is
        ``{"head": entity, "tail": entity, "label", "score"}`` with the entities as in
        ``entities``. `threshold`: entities, `relation_threshold`: relations."""
        schema = labels_schema(entity_labels, relation_labels)
        texts = list(texts)
        chunks = [(i, c) for i, text in enumerate(texts) for c in chunk_text(text, MAX_CHUNK_WORDS)]
        docs = self.predict(
            [c.text for _, c in chunks],
            schema,
            threshold=threshold,
            relation_threshold=relation_threshold,
            nested=not flat_ner,
            batch_size=batch_size,
        )
        parts: list[list[tuple[int, Document]]] = [[] for _ in texts]
        for (i, chunk), doc in zip(chunks, docs, strict=True):
            parts[i].append((chunk.start, doc))
        out = []
        for i, text in enumerate(texts):
            doc = join_chunks(f"text-{i}", text, parts[i])
            ents = {e.id: {"start": e.start, "end": e.end, "text": e.text, "label": e.label, "score": e.score}
                    for e in doc.entities}  # fmt: skip
            rels = [{"head": ents[r.head], "tail": ents[r.tail], "label": r.label, "score": r.score}
                    for r in doc.relations]  # fmt: skip
            out.append({"entities": list(ents.values()), "relations": rels})
        return out

    def batch_predict_entities(
        self,
        texts: Sequence[str],
        labels: Labels,
        threshold: float | None = None,
        flat_ner: bool = True,
        *,
        batch_size: int = ENCODER_BATCH_SIZE,
    ) -> list[list[dict[str, Any]]]:
        """The entities of each text: ``{"start", "end", "text", "label", "score"}``."""
        schema = load_schema(labels)
        if schema.relation_types:  # entities only: the relation prompts would only cost input length
            schema = schema.subset(schema.entity_labels, (), why="entities only")
        results = self.batch_predict(texts, schema, threshold=threshold, flat_ner=flat_ner, batch_size=batch_size)
        return [r["entities"] for r in results]

    def predict_entities(
        self, text: str, labels: Labels, threshold: float | None = None, flat_ner: bool = True
    ) -> list[dict[str, Any]]:
        """The entities of one text: ``{"start", "end", "text", "label", "score"}`` each."""
        return self.batch_predict_entities([text], labels, threshold, flat_ner)[0]

    def predict_relations(
        self,
        text: str,
        entity_labels: Labels,
        relation_labels: Sequence[str] | Mapping[str, str],
        threshold: float | None = None,
        *,
        entity_threshold: float | None = None,
        flat_ner: bool = True,
    ) -> list[dict[str, Any]]:
        """The relations of one text: ``{"head": entity, "tail": entity, "label", "score"}``.
        `threshold` is the relation cut-off, `entity_threshold` the entities'."""
        result = self.batch_predict(
            [text], entity_labels, relation_labels, threshold=entity_threshold, relation_threshold=threshold,
            flat_ner=flat_ner,
        )[0]  # fmt: skip
        return result["relations"]


__all__ = ["FieldAPI", "Labels", "labels_schema"]
