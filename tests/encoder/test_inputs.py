import pytest
from support.tiny_encoder import tiny_tokenizer

from hybrid_ie.encoder.inputs import SHAPE_IDS, InputBuilder, SequenceTooLong, collate, word_shape


@pytest.mark.parametrize(
    ("word", "shape"),
    [
        ("apple", "lower"), ("Apple", "title"), ("IBM", "upper"), ("iPhone", "mixed"), ("1984", "digits"),
        ("3.5", "digits"), ("F16", "alnum"), (",", "punct"), ("U.S", "upper"), ("", "other"),
    ],
)
def test_word_shape(word, shape):
    assert word_shape(word) == SHAPE_IDS[shape]


def test_layout_markers_and_first_subtokens():
    tok = tiny_tokenizer()
    builder = InputBuilder(tok)
    enc = builder.encode(["Obama", "visited", "Kyrgyzstan"], ["person", "location"], ["lives in"])
    ids = enc.input_ids
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
    assert [ids[p] for p in enc.entity_marker_positions] == [builder.ent_id] * 2
    assert [ids[p] for p in enc.relation_marker_positions] == [builder.rel_id]
    # words follow the [SEP] that closes the prompts, each at its first sub-token
    assert ids[enc.word_positions[0] - 1] == tok.sep_token_id
    for pos, word in zip(enc.word_positions, ["obama", "visited", "kyrgyzstan"], strict=True):
        assert tok.convert_ids_to_tokens(ids[pos]) == tok.tokenize(word)[0]
    assert enc.word_shapes == [SHAPE_IDS["title"], SHAPE_IDS["lower"], SHAPE_IDS["title"]]


def test_too_long_is_an_error_not_a_cut():
    builder = InputBuilder(tiny_tokenizer(), max_length=12)
    with pytest.raises(SequenceTooLong):
        builder.encode(["word"] * 20, ["person"], [])


def test_collate_pads_and_masks():
    builder = InputBuilder(tiny_tokenizer())
    a = builder.encode(["a", "b", "c"], ["x"], ["r", "s"])
    b = builder.encode(["d"], ["x", "y"], [])
    batch = collate([a, b])
    assert batch["word_mask"].tolist() == [[True, True, True], [True, False, False]]
    assert batch["entity_label_mask"].tolist() == [[True, False], [True, True]]
    assert batch["relation_label_mask"].tolist() == [[True, True], [False, False]]
    assert batch["attention_mask"].sum(1).tolist() == [len(a.input_ids), len(b.input_ids)]
