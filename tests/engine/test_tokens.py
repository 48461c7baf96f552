"""The pure decoder against the stock Pop2PianoTokenizer, and where the stock one breaks."""

from __future__ import annotations

import numpy as np
import pytest
import tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.engine.tokens import TokenVocab, decode_chunk, decode_row

VOCAB = tiny_model.vocab()
EOS = 1
NOTE0, VEL0, TIME0 = 4, 132, 134


@pytest.fixture(scope="module")
def stock_tokenizer(tmp_path_factory):
    import json

    from transformers import Pop2PianoTokenizer

    folder = tmp_path_factory.mktemp("tok")
    (folder / "vocab.json").write_text(json.dumps(VOCAB))
    return Pop2PianoTokenizer(vocab=str(folder / "vocab.json"))


def _stock_notes(tokenizer, ids, start, cutoff):
    notes = tokenizer.relative_tokens_ids_to_notes(np.array(ids), start_idx=start, cutoff_time_idx=cutoff)
    return sorted(tuple(int(x) for x in n) for n in notes)


def _ours(ids, start, cutoff):
    return sorted((n.onset, n.offset, n.pitch, n.velocity) for n in decode_row(ids, TokenVocab(VOCAB), start, cutoff))


valid_token = st.one_of(
    st.integers(NOTE0, NOTE0 + 127),          # notes
    st.integers(VEL0, VEL0 + 1),              # velocity (off/on mode)
    st.integers(TIME0, TIME0 + 99),           # time shifts
    st.sampled_from([0, 2, 3]),               # specials other than EOS
)


@settings(max_examples=400, deadline=None)
@given(
    body=st.lists(valid_token, max_size=120),
    end_with_eos=st.booleans(),
    chunk=st.integers(0, 40),
    cutoff=st.one_of(st.none(), st.integers(1, 24)),
)
def test_decoder_matches_stock_tokenizer_on_valid_sequences(stock_tokenizer, body, end_with_eos, chunk, cutoff):
    ids = [0, *body, *([EOS, NOTE0 + 60, TIME0 + 5] if end_with_eos else [])]
    start = chunk * 8
    absolute_cutoff = None if cutoff is None else start + cutoff
    assert _ours(ids, start, absolute_cutoff) == _stock_notes(stock_tokenizer, ids, start, absolute_cutoff)


def test_hand_written_row_gives_expected_notes():
    # time 2, note-on mode, C4 on; time +4, C4 again (offset, then re-onset in on-mode); EOS
    ids = [0, TIME0 + 2, VEL0 + 1, NOTE0 + 60, TIME0 + 4, NOTE0 + 60, EOS, NOTE0 + 61]
    notes = decode_row(ids, TokenVocab(VOCAB), start_step=16, cutoff_step=28, velocity=77)
    assert [(n.onset, n.offset, n.pitch) for n in notes] == [(18, 22, 60), (22, 28, 60)]


def test_row_without_eos_is_read_to_its_end():
    ids = [0, TIME0 + 1, VEL0 + 1, NOTE0 + 64, TIME0 + 3, VEL0, NOTE0 + 64]
    notes = decode_row(ids, TokenVocab(VOCAB), 0, 12)
    assert [(n.onset, n.offset, n.pitch) for n in notes] == [(1, 4, 64)]


def test_stock_batch_decode_crashes_without_eos_but_ours_does_not(stock_tokenizer):
    """The stock decode slices each batch to the last EOS column: no EOS, no column."""
    from transformers.feature_extraction_utils import BatchFeature

    ids = np.array([[0, TIME0 + 1, VEL0 + 1, NOTE0 + 60, TIME0 + 2, VEL0, NOTE0 + 60]])
    features = BatchFeature({"beatsteps": np.arange(40)[None] * 0.25, "extrapolated_beatstep": np.arange(60)[None] * 0.25})
    with pytest.raises(ValueError, match="zero-size array"):
        stock_tokenizer.batch_decode(token_ids=ids, feature_extractor_output=features)
    assert [(n.onset, n.offset, n.pitch) for n in decode_chunk(ids[0], TokenVocab(VOCAB), 0, 8, 12)] == [(1, 3, 60)]


def test_unknown_ids_are_skipped_not_read_as_negative_time():
    ids = [0, TIME0 + 5, VEL0 + 1, NOTE0 + 60, 5000, -3, 2060, TIME0 + 2, NOTE0 + 60, EOS]
    notes = decode_row(ids, TokenVocab(VOCAB), 0, 12)
    assert [(n.onset, n.offset) for n in notes] == [(5, 7), (7, 12)]


def test_never_returns_zero_length_notes():
    # note-on and note-off at the same time, and time clamped at the cutoff, then on/off again
    ids = [0, VEL0 + 1, NOTE0 + 60, NOTE0 + 60, TIME0 + 90, NOTE0 + 61, NOTE0 + 61, TIME0 + 1, NOTE0 + 62]
    for note in decode_row(ids, TokenVocab(VOCAB), 0, 12):
        assert note.offset > note.onset


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(st.integers(-10, 3000), max_size=200), start=st.integers(0, 100))
def test_any_id_sequence_decodes_to_well_formed_notes(ids, start):
    for note in decode_row(ids, TokenVocab(VOCAB), start, start + 12):
        assert start <= note.onset < note.offset
        assert 0 <= note.pitch <= 127
