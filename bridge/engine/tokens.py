"""Pop2Piano token ids → notes on the step grid. Pure: no I/O, no model, no MIDI library.

Token families (from the model's ``vocab.json``, keys ``"{value}_TOKEN_{TYPE}"``):
SPECIAL (0 pad, 1 eos), NOTE (pitch), VELOCITY (0 = note-off mode, 1 = note-on mode)
and TIME (a step index relative to the chunk start). The semantics follow
``Pop2PianoTokenizer.relative_tokens_ids_to_notes`` on valid sequences, with three
differences that keep it from crashing or inventing time: a row without EOS is read
to its end, unknown ids are skipped (the stock tokenizer reads them as "time -1"),
and nothing here builds zero-length MIDI notes (times are mapped by the caller).

One semantic choice differs between the original Pop2Piano tokenizer and the port: a
note-off (velocity mode 0) for a pitch that is not sounding. The original ignores it;
the port starts a new note there, held to the segment end. ``port_note_off`` picks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SPECIAL, NOTE, VELOCITY, TIME, UNKNOWN = 0, 1, 2, 3, 4
_TYPES = {"TOKEN_SPECIAL": SPECIAL, "TOKEN_NOTE": NOTE, "TOKEN_VELOCITY": VELOCITY, "TOKEN_TIME": TIME}
_KEY = re.compile(r"^(-?\d+)_(TOKEN_[A-Z]+)$")
EOS_VALUE = 1
DEFAULT_VELOCITY = 77


@dataclass(frozen=True)
class StepNote:
    """A note as step indices on the chunk grid (onset < offset always)."""

    onset: int
    offset: int
    pitch: int
    velocity: int


class TokenVocab:
    """Lookup tables id → (type, value), built once from ``vocab.json``'s mapping."""

    def __init__(self, encoder: Mapping[str, int]) -> None:
        size = max(encoder.values(), default=-1) + 1
        self.types = np.full(size, UNKNOWN, dtype=np.int8)
        self.values = np.zeros(size, dtype=np.int64)
        for key, token_id in encoder.items():
            match = _KEY.match(key)
            if not match or match.group(2) not in _TYPES or token_id < 0:
                continue
            self.types[token_id] = _TYPES[match.group(2)]
            self.values[token_id] = int(match.group(1))
        notes = self.values[self.types == NOTE]
        self.pitch_slots = int(notes.max()) + 1 if notes.size else 128

    def lookup(self, token_id: int) -> tuple[int, int]:
        if 0 <= token_id < self.types.size:
            return int(self.types[token_id]), int(self.values[token_id])
        return UNKNOWN, 0


class RowDecoder:
    """Decodes one chunk's ids as they are generated; a note comes out as soon as it ends.

    TIME tokens only move time forward, so a finished note is final the moment its end is
    read, and no note still to come from this row starts before :attr:`horizon`: a
    streaming caller may play everything up to there while the row is still generating.
    """

    def __init__(
        self,
        vocab: TokenVocab,
        start_step: int,
        cutoff_step: int | None,
        velocity: int = DEFAULT_VELOCITY,
        port_note_off: bool = True,
    ) -> None:
        self.vocab = vocab
        self.cutoff_step = cutoff_step
        self.velocity = velocity
        self.port_note_off = port_note_off
        self.current = start_step
        self.ended = False
        self._mode = 0
        self._open: dict[int, int] = {}  # sounding pitch → onset step

    @property
    def horizon(self) -> int:
        """The earliest step a note not yet returned can start at."""
        return min(self.current, min(self._open.values(), default=self.current))

    def feed(self, token_id: int) -> list[StepNote]:
        """Read one id; return the notes it ended (EOS ends the row: call :meth:`finish`)."""
        if self.ended:
            return []
        kind, value = self.vocab.lookup(int(token_id))
        if kind == SPECIAL:
            if value == EOS_VALUE:
                self.ended = True
        elif kind == TIME:
            self.current += value
            if self.cutoff_step is not None:
                self.current = min(self.current, self.cutoff_step)
        elif kind == VELOCITY:
            self._mode = value
        elif kind == NOTE and 0 <= value <= self.vocab.pitch_slots:
            onset = self._open.get(value)
            if onset is None:
                if self._mode != 0 or self.port_note_off:
                    self._open[value] = self.current
            elif onset < self.current:
                if self._mode == 0:
                    del self._open[value]
                else:
                    self._open[value] = self.current
                return [StepNote(onset, self.current, value, self.velocity)]
        return []

    def finish(self) -> list[StepNote]:
        """Close the notes still sounding, at the later of the last time and the cutoff, as the reference does."""
        self.ended = True
        notes = []
        for pitch, onset in sorted(self._open.items()):
            cutoff = onset + 1 if self.cutoff_step is None else max(self.cutoff_step, onset + 1)
            notes.append(StepNote(onset, max(self.current, cutoff), pitch, self.velocity))
        self._open.clear()
        return notes


def decode_row(
    ids: Iterable[int],
    vocab: TokenVocab,
    start_step: int,
    cutoff_step: int | None,
    velocity: int = DEFAULT_VELOCITY,
    port_note_off: bool = True,
) -> list[StepNote]:
    """Decode one chunk's generated ids into notes on the global step grid.

    ``start_step`` is the chunk's first step; TIME tokens add to it and are clamped at
    ``cutoff_step``. Notes still sounding at the end are closed at the later of the
    last time and the cutoff (at least one step long), as the reference does.
    """
    row = RowDecoder(vocab, start_step, cutoff_step, velocity, port_note_off)
    notes: list[StepNote] = []
    for token_id in ids:
        notes.extend(row.feed(token_id))
        if row.ended:
            break
    notes.extend(row.finish())
    notes.sort(key=lambda n: (n.onset, n.offset, n.pitch))
    return notes


def decode_chunk(
    ids: Sequence[int],
    vocab: TokenVocab,
    chunk_index: int,
    steps_per_chunk: int,
    cutoff_steps: int,
    velocity: int = DEFAULT_VELOCITY,
    port_note_off: bool = True,
) -> list[StepNote]:
    """Decode the row of chunk ``chunk_index``: the recipe's start and cutoff for that row."""
    start = chunk_index * steps_per_chunk
    return decode_row(ids, vocab, start, start + cutoff_steps, velocity, port_note_off)
