"""How raw text is split into words, measured: SpERT test sets as natural text, scored.

The benchmark sets hold tokens only. The harness joins them with single spaces, which no user's
text looks like ("Google 's", "Korea ."). This script also rebuilds the natural text a person
would type (no space before punctuation and clitics, none inside parentheses, hyphen tokens
attached: `detokenise`), maps the gold spans to character offsets in it, runs the default encoder
(encoder mode, as `hybrid-ie extract` does) with each word-splitting pattern, and prints strict
entity / relation F1 on

- the space-joined text (the harness's view, which training also reads),
- the natural text,
- the natural text of the sentences with a possessive "'s" only;

and, per text kind, how many predicted and gold entities end in a sentence-final period word
(`chunking.span_end_before_closing_period`: "Tuesday.", not "Inc." or "U.S."), `period_end` [predicted,
of all predicted, gold].

Patterns: `whitespace-punct` (the splitter before clitics were split off: a word is letters with
inner apostrophes, hyphens or dots), `clitics` (possessive and contraction clitics apart),
`clitics+hyphens` (also hyphen parts apart), `clitics+hyphen-lower` (a hyphen before a lower-case
letter splits: "Berlin-based", "drug-induced"; "IL-2", "Winston-Salem" stay one word), `current` (`hybrid_ie.chunking.WORD_RE` as it is).

    python eval/word_split_roundtrip.py --sets conll04,ade --split test
"""

from __future__ import annotations

import argparse
import json
import re
import time

from hybrid_ie import chunking
from hybrid_ie.datasets import load_dataset
from hybrid_ie.document import Document, Entity, Relation
from hybrid_ie.encoder import JointEncoder
from hybrid_ie.metrics import score
from hybrid_ie.pipeline import Extractor
from hybrid_ie.schema import load_schema

_CLITIC = r"['’](?!(?:[sSdDmM]|re|RE|ve|VE|ll|LL)\b)"
PATTERNS = {
    "whitespace-punct": re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE),
    "clitics": re.compile(rf"\w+(?:(?:[-.]|{_CLITIC})\w+)*|[^\w\s]", re.UNICODE),
    "clitics+hyphens": re.compile(rf"\w+(?:(?:\.|{_CLITIC})\w+)*|[^\w\s]", re.UNICODE),
    "clitics+hyphen-lower": re.compile(rf"\w+(?:(?:\.|-(?![a-z])|{_CLITIC})\w+)*|[^\w\s]", re.UNICODE),
    "current": chunking.WORD_RE,
}
NO_SPACE_BEFORE = {"'", ".", ",", ";", ":", "!", "?", ")", "]", "}", "%", "'s", "'S", "n't", "'re", "'ve", "'ll", "'d", "'m"}
NO_SPACE_AFTER = {"`", "(", "[", "{", "$"}
JOINERS = {"-", "/"}


def detokenise(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Natural text for SpERT tokens and each token's character span in it."""
    text, spans = "", []
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        glue = (
            prev is None
            or tok in NO_SPACE_BEFORE
            or tok in JOINERS
            or prev in JOINERS
            or prev in NO_SPACE_AFTER
        )
        if not glue:
            text += " "
        spans.append((len(text), len(text) + len(tok)))
        text += tok
    return text, spans


def natural(doc: Document) -> Document:
    """The gold Document rebuilt on detokenised text (same entity ids, labels, relations)."""
    tokens = doc.meta["tokens"]
    text, spans = detokenise(tokens)
    joined = chunking.words_from_tokens(tokens)[1]
    tok_of_start = {s: i for i, (s, _) in enumerate(joined)}
    tok_of_end = {e: i for i, (_, e) in enumerate(joined)}
    entities = []
    for e in doc.entities:
        start, end = spans[tok_of_start[e.start]][0], spans[tok_of_end[e.end]][1]
        entities.append(Entity(id=e.id, start=start, end=end, text=text[start:end], label=e.label))
    relations = [Relation(head=r.head, tail=r.tail, label=r.label) for r in doc.relations]
    return Document(id=doc.id, text=text, entities=entities, relations=relations)


def f1(gold: list[Document], pred: list[Document], symmetric) -> tuple[float, float]:
    report = score(gold, pred, symmetric=symmetric)
    return round(100 * report.entities["strict"].f1, 2), round(100 * report.relations["strict"].f1, 2)


def period_end(gold: list[Document], pred: list[Document]) -> list[int]:
    """[predicted entities ending in a sentence-final period word, all predicted, such gold entities]."""

    def count(docs: list[Document]) -> int:
        return sum(chunking.span_end_before_closing_period(d.text, e.start, e.end) != e.end
                   for d in docs for e in d.entities)  # fmt: skip

    return [count(pred), sum(len(d.entities) for d in pred), count(gold)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="conll04,ade")
    parser.add_argument("--split", default="test")
    parser.add_argument("--patterns", default="whitespace-punct,clitics,clitics+hyphens")
    parser.add_argument("--model", default=None, help="checkpoint folder (default: the shipped one)")
    args = parser.parse_args()
    encoder = JointEncoder.from_pretrained(args.model)
    rows = []
    for name in args.sets.split(","):
        schema = load_schema(name)
        gold_joined = load_dataset(name, args.split)
        gold_natural = [natural(d) for d in gold_joined]
        possessive = {d.id for d in gold_joined if any(t in ("'s", "’s") for t in d.meta["tokens"])}
        for pattern in args.patterns.split(","):
            chunking.WORD_RE = PATTERNS[pattern]
            extractor = Extractor(schema, encoder=encoder, mode="encoder")
            started = time.perf_counter()
            pred_joined = list(extractor.extract_many({"id": d.id, "text": d.text} for d in gold_joined))
            pred_natural = list(extractor.extract_many({"id": d.id, "text": d.text} for d in gold_natural))
            sym = schema.symmetric_relations
            row = {
                "set": name,
                "pattern": pattern,
                "joined": f1(gold_joined, pred_joined, sym),
                "natural": f1(gold_natural, pred_natural, sym),
                "natural_possessive": f1(
                    [d for d in gold_natural if d.id in possessive],
                    [d for d in pred_natural if d.id in possessive],
                    sym,
                ),
                "possessive_sentences": len(possessive),
                "period_end": {"joined": period_end(gold_joined, pred_joined),
                               "natural": period_end(gold_natural, pred_natural)},
                "seconds": round(time.perf_counter() - started, 1),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    chunking.WORD_RE = PATTERNS["current"]
    print("\n| set | pattern | joined ent / rel | natural ent / rel | natural, sentences with 's: ent / rel |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['set']} | {r['pattern']} | {r['joined'][0]} / {r['joined'][1]} | {r['natural'][0]} / "
            f"{r['natural'][1]} | {r['natural_possessive'][0]} / {r['natural_possessive'][1]} "
            f"({r['possessive_sentences']}) |"
        )


if __name__ == "__main__":
    main()
