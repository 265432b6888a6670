"""Weak labels for numbers with units, times and dates (the mixture's derived `measures` set).

No training set annotates durations, amounts, temperatures, concentrations, speeds, percentages
or money, so the encoder never learns that "30 min" is a time or "250 ul" an amount. The rules in
`measure_patterns.json` mark such expressions in the training sets' own texts; `measure_example`
turns one training example into an NER example whose types are those measure labels:

* a matched expression is a positive for every label of its kind ("250 ul": volume, quantity,
  amount);
* the example's own gold mentions are `unknown` (they carry the source set's types, not ours);
* every other span is a negative for the measure labels (the rules are the annotation).
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from hybrid_ie.errors import InputError
from hybrid_ie.training.sampling import Example

PATTERNS_FILE = Path(__file__).with_name("measure_patterns.json")
MEASURE_SET = "measures"
_BEFORE = r"(?<![\w.,/$€£])"
_AFTER = r"(?![\w/°%])"


@dataclass(frozen=True)
class MeasureKind:
    name: str
    labels: tuple[str, ...]
    regex: re.Pattern[str]


@lru_cache(maxsize=4)
def load_kinds(path: Path = PATTERNS_FILE) -> tuple[MeasureKind, ...]:
    raw = json.loads(path.read_text(encoding="utf-8"))
    number = raw["number"]
    rng = raw["range"].replace("{NUM}", number)
    kinds = []
    for kind in raw["kinds"]:
        alternatives = [p.replace("{RANGE}", rng).replace("{NUM}", number) for p in kind["patterns"]]
        regex = re.compile(_BEFORE + "(?:" + "|".join(alternatives) + ")" + _AFTER)
        kinds.append(MeasureKind(kind["name"], tuple(kind["labels"]), regex))
    return tuple(kinds)


def measure_labels(kinds: tuple[MeasureKind, ...] | None = None) -> list[str]:
    """Every label the rules give, in first-seen order."""
    return list(dict.fromkeys(label for k in kinds or load_kinds() for label in k.labels))


def find_measures(words: list[str], kinds: tuple[MeasureKind, ...] | None = None) -> list[tuple[int, int, str]]:
    """(first word, last word, kind name) of each expression in the words joined by single
    spaces; overlapping matches: the longer wins (then the kind listed first). Matches that do
    not start and end at word boundaries are dropped."""
    text, starts, ends = "", {}, {}
    for i, w in enumerate(words):
        if i:
            text += " "
        starts[len(text)] = i
        text += w
        ends[len(text)] = i
    found = []
    for order, kind in enumerate(kinds or load_kinds()):
        for m in kind.regex.finditer(text):
            if m.start() in starts and m.end() in ends:
                found.append((m.start(), m.end(), order, kind.name))
    found.sort(key=lambda f: (-(f[1] - f[0]), f[2], f[0]))
    taken: list[tuple[int, int]] = []
    out = []
    for s, e, _, name in found:
        if all(e <= ts or s >= te for ts, te in taken):
            taken.append((s, e))
            out.append((starts[s], ends[e], name))
    return sorted(out)


@lru_cache(maxsize=4)
def load_notations(path: Path = PATTERNS_FILE) -> dict[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Each unit form of the "notations" groups (as words) -> every form of its group."""
    table: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}
    for group in json.loads(path.read_text(encoding="utf-8")).get("notations", []):
        forms = tuple(tuple(form.split()) for form in group)
        if len({len(f) for f in forms}) != 1:
            raise InputError(f"{path}: the forms of notation group {group} have different numbers of words")
        for form in forms:
            if form in table:
                raise InputError(f"{path}: the unit form {' '.join(form)!r} is in two notation groups")
            table[form] = forms
    return table


def vary_notation(words: list[str], kinds: tuple[MeasureKind, ...] | None = None) -> list[str]:
    """`words` with the unit of each measure found written in a form of its notation group
    ("degrees C" -> "° C", "min" -> "minutes"), picked by a hash of the text and the measure's
    position: reproducible, and over a set's texts every form turns up. Same number of words, so
    every span keeps its indices; units without a group stay."""
    notations = load_notations()
    longest = max(map(len, notations), default=0)
    out = list(words)
    key = " ".join(words)
    for start, end, _ in find_measures(words, kinds):
        for n in range(min(longest, end - start), 0, -1):  # the longest unit form first; the number stays
            forms = notations.get(tuple(words[end - n + 1 : end + 1]))
            if forms:
                out[end - n + 1 : end + 1] = forms[zlib.crc32(f"{key}|{start}".encode()) % len(forms)]
                break
    return out


def with_varied_notation(ex: Example, kinds: tuple[MeasureKind, ...] | None = None) -> Example:
    """A copy of `ex` whose words are `vary_notation`'s (its spans are unchanged)."""
    return replace(ex, words=vary_notation(ex.words, kinds))


def measure_example(ex: Example, kinds: tuple[MeasureKind, ...] | None = None) -> Example | None:
    """The NER example of the measures found in `ex` (None when there are none)."""
    kinds = kinds or load_kinds()
    by_name = {k.name: k for k in kinds}
    found = find_measures(ex.words, kinds)
    if not found:
        return None
    entities = [(s, e, label) for s, e, name in found for label in by_name[name].labels]
    unknown = list(dict.fromkeys((s, e) for s, e, _ in ex.entities))
    return Example(MEASURE_SET, ex.words, entities, [], False, unknown)
