"""Token-by-token note streaming: the same notes as whole-row decoding, never before a promised horizon."""

from __future__ import annotations

import math

import tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.engine.streaming import ChunkStreamer
from bridge.engine.tokens import RowDecoder, TokenVocab, decode_row
from bridge.engine.types import Note

VOCAB = TokenVocab(tiny_model.vocab())
EOS = 1
NOTE0, VEL0, TIME0 = 4, 132, 134

token = st.one_of(
    st.integers(NOTE0, NOTE0 + 127), st.integers(VEL0, VEL0 + 1), st.integers(TIME0, TIME0 + 99),
    st.sampled_from([0, 2, 3, EOS, 400, 5000]),  # specials, EOS, ids outside the vocabulary
)


def _key(n):
    return (n.onset, n.offset, n.pitch, n.velocity)


@settings(max_examples=300, deadline=None)
@given(ids=st.lists(token, max_size=150), start=st.integers(0, 80), cutoff=st.one_of(st.none(), st.integers(1, 24)),
       port=st.booleans())
def test_row_decoder_streams_exactly_the_whole_row_notes_after_their_horizon(ids, start, cutoff, port):
    absolute = None if cutoff is None else start + cutoff
    row = RowDecoder(VOCAB, start, absolute, 77, port_note_off=port)
    streamed = []
    for token_id in ids:
        horizon = row.horizon
        finished = row.feed(token_id)
        assert all(n.onset >= horizon for n in finished)  # nothing starts before what was promised
        assert row.horizon >= horizon
        streamed.extend(finished)
        if row.ended:
            break
    horizon = row.horizon
    closing = row.finish()
    assert all(n.onset >= horizon for n in closing)
    streamed.extend(closing)
    whole = decode_row(ids, VOCAB, start, absolute, 77, port_note_off=port)
    assert sorted(map(_key, streamed)) == sorted(map(_key, whole))


def _notes(index, steps):
    return [Note(s.pitch, s.onset * 0.25, s.offset * 0.25, s.velocity) for s in steps]


def test_chunk_streamer_hands_on_finished_notes_with_a_safe_horizon():
    # chunks 3 and 4 of 10 (8 steps each, a step is 0.25 s); the next batch starts at chunk 5 (10 s)
    decoders = [RowDecoder(VOCAB, 24, 36), RowDecoder(VOCAB, 32, 44)]
    sent = []
    streamer = ChunkStreamer(decoders, 3, 10, next_start=10.0, to_notes=_notes, clock=lambda step: step * 0.25,
                             emit=sent.append)
    streamer.step([0, 1], [VEL0 + 1, VEL0 + 1])      # note-on mode in both rows: nothing finished yet
    assert sent[-1].notes == () and sent[-1].horizon == 6.0 and sent[-1].index == 3
    streamer.step([0, 1], [NOTE0 + 60, TIME0 + 2])   # chunk 3: C4 on at step 24; chunk 4 moves to step 34
    assert len(sent) == 1  # no note and no later horizon (C4 still sounds from 6.0 s): nothing to say
    streamer.step([0, 1], [TIME0 + 3, NOTE0 + 64])   # chunk 3 at step 27; chunk 4: E4 on at step 34
    streamer.step([0, 1], [VEL0, TIME0 + 1])         # off mode in chunk 3
    streamer.step([0, 1], [NOTE0 + 60, EOS])         # C4 ends at step 27; chunk 4 ends: E4 closed at its cutoff
    finished = [n for part in sent for n in part.notes]
    assert Note(60, 6.0, 6.75, 77) in finished and Note(64, 8.5, 11.0, 77) in finished
    assert sent[-1].horizon == 6.75  # chunk 3 is still generating at step 27
    streamer.finish()
    assert sent[-1].horizon == 10.0 and sent[-1].index == 5  # only the next batch (chunk 5) bounds it now
    horizons = [part.horizon for part in sent]
    assert horizons == sorted(horizons)


def test_last_batch_streams_to_an_open_horizon():
    sent = []
    streamer = ChunkStreamer([RowDecoder(VOCAB, 0, 12)], 0, 1, next_start=math.inf, to_notes=_notes,
                             clock=lambda step: step * 0.5, emit=sent.append)
    streamer.step([0], [EOS])
    assert sent[-1].horizon == math.inf and sent[-1].notes == ()
