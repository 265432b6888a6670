"""Model inputs: one token sequence per text holding the label prompts and the words.

Layout (GLiNER-Relex style)::

    [CLS] [ENT] person [ENT] location ... [REL] works for [REL] ... [SEP] w1 w2 ... wn [SEP]

The hidden state at each `[ENT]` / `[REL]` marker is that label's embedding; each word is
represented by its first sub-token. Words also carry a shape id (lower / Title / UPPER / ...),
because the backbone is uncased and capitalisation is a strong entity signal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch

ENT_TOKEN = "[ENT]"
REL_TOKEN = "[REL]"

# Word shapes, index 0 is padding.
SHAPES = ("<pad>", "lower", "title", "upper", "mixed", "digits", "alnum", "punct", "other")
SHAPE_IDS = {name: i for i, name in enumerate(SHAPES)}
WORD_CACHE_SIZE = 200_000  # words whose sub-token ids InputBuilder keeps
_DIGITS_RE = re.compile(r"^[\d.,:/\-]+$")


def word_shape(word: str) -> int:
    """Shape id of a word: what capitalisation / digits / punctuation it has."""
    if not word:
        return SHAPE_IDS["other"]
    has_alpha = any(c.isalpha() for c in word)
    has_digit = any(c.isdigit() for c in word)
    if not has_alpha and not has_digit:
        return SHAPE_IDS["punct"]
    if has_digit and not has_alpha:
        return SHAPE_IDS["digits"] if _DIGITS_RE.match(word) else SHAPE_IDS["alnum"]
    if has_digit:
        return SHAPE_IDS["alnum"]
    letters = [c for c in word if c.isalpha()]
    if all(c.islower() for c in letters):
        return SHAPE_IDS["lower"]
    if all(c.isupper() for c in letters):
        return SHAPE_IDS["upper"]
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPE_IDS["title"]
    return SHAPE_IDS["mixed"]


class SequenceTooLong(ValueError):
    """The prompts plus the words do not fit the backbone's maximum length."""


@dataclass
class EncodedText:
    """Token ids of one text with the positions the model reads back."""

    input_ids: list[int]
    entity_marker_positions: list[int]
    relation_marker_positions: list[int]
    word_positions: list[int]  # first sub-token of each word
    word_shapes: list[int]

    @property
    def n_words(self) -> int:
        return len(self.word_positions)


class InputBuilder:
    """Turns (words, entity prompts, relation prompts) into `EncodedText`, caching prompt ids."""

    def __init__(self, tokenizer, max_length: int = 512):
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.ent_id = tokenizer.convert_tokens_to_ids(ENT_TOKEN)
        self.rel_id = tokenizer.convert_tokens_to_ids(REL_TOKEN)
        if self.ent_id == tokenizer.unk_token_id or self.rel_id == tokenizer.unk_token_id:
            raise ValueError(f"tokenizer lacks the {ENT_TOKEN}/{REL_TOKEN} special tokens")
        self._prompt_cache: dict[str, list[int]] = {}
        self._word_cache: dict[str, list[int]] = {}  # each word is tokenised alone: cacheable

    def prompt_ids(self, prompt: str) -> list[int]:
        ids = self._prompt_cache.get(prompt)
        if ids is None:
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            self._prompt_cache[prompt] = ids
        return ids

    def prefix(self, entity_prompts: Sequence[str], relation_prompts: Sequence[str]) -> tuple[list[int], list[int], list[int]]:
        """Token ids of `[CLS] [ENT] p1 ... [REL] r1 ... [SEP]` and the marker positions."""
        ids = [self.tokenizer.cls_token_id]
        ent_pos, rel_pos = [], []
        for prompt in entity_prompts:
            ent_pos.append(len(ids))
            ids.append(self.ent_id)
            ids.extend(self.prompt_ids(prompt))
        for prompt in relation_prompts:
            rel_pos.append(len(ids))
            ids.append(self.rel_id)
            ids.extend(self.prompt_ids(prompt))
        ids.append(self.tokenizer.sep_token_id)
        return ids, ent_pos, rel_pos

    def word_piece_ids(self, words: Sequence[str]) -> list[list[int]]:
        """Sub-token ids of each word (a word the tokenizer drops becomes `[UNK]`); words seen
        before come from a cache, the others are tokenised in one call."""
        cache = self._word_cache
        todo = [w for w in dict.fromkeys(words) if w not in cache]
        if len(cache) + len(todo) > WORD_CACHE_SIZE:
            cache.clear()
            todo = list(dict.fromkeys(words))
        if todo:
            unk = self.tokenizer.unk_token_id
            for word, piece in zip(todo, self.tokenizer(todo, add_special_tokens=False)["input_ids"], strict=True):
                cache[word] = piece or [unk]
        return [cache[w] for w in words]

    def encode(
        self, words: Sequence[str], entity_prompts: Sequence[str], relation_prompts: Sequence[str]
    ) -> EncodedText:
        """Encode one text; raises SequenceTooLong when it does not fit `max_length`."""
        ids, ent_pos, rel_pos = self.prefix(entity_prompts, relation_prompts)
        word_pos = []
        for piece in self.word_piece_ids(words):
            word_pos.append(len(ids))
            ids.extend(piece)
        ids.append(self.tokenizer.sep_token_id)
        if len(ids) > self.max_length:
            raise SequenceTooLong(f"{len(ids)} tokens > max_length {self.max_length}")
        return EncodedText(ids, ent_pos, rel_pos, word_pos, [word_shape(w) for w in words])


def _padded(rows: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows right-padded with 0 to the longest (at least 1 wide), and the mask of real entries."""
    width = max(1, max(len(row) for row in rows))
    values = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.bool)
    for i, row in enumerate(rows):
        if row:
            values[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = True
    return values, mask


def collate(encoded: Sequence[EncodedText], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Pad a batch of encoded texts into tensors (masks mark the real entries)."""
    input_ids, attention = _padded([e.input_ids for e in encoded])
    word_pos, word_mask = _padded([e.word_positions for e in encoded])
    shapes, _ = _padded([e.word_shapes for e in encoded])
    ent_pos, ent_mask = _padded([e.entity_marker_positions for e in encoded])
    rel_pos, rel_mask = _padded([e.relation_marker_positions for e in encoded])
    batch = {
        "input_ids": input_ids,
        "attention_mask": attention.long(),
        "word_positions": word_pos,
        "word_mask": word_mask,
        "word_shapes": shapes,
        "entity_marker_positions": ent_pos,
        "entity_label_mask": ent_mask,
        "relation_marker_positions": rel_pos,
        "relation_label_mask": rel_mask,
    }
    return {k: v.to(device) for k, v in batch.items()}
