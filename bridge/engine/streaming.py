"""Notes out of a generating batch, token by token, with a horizon that is safe to play up to. Pure.

A chunk's notes used to reach the live port only when its whole row had generated
(255 decoder steps, seconds on a CPU). Pop2Piano's TIME tokens only move forward, so a
note is final the moment its end is read, and nothing a row has yet to say starts
before the row's :attr:`~bridge.engine.tokens.RowDecoder.horizon`. The streamer keeps
one row decoder per chunk of the batch and, after each decoder step, hands on the notes
that step finished together with the batch's horizon: the earliest start any note not
yet handed on can have (rows still generating, then the chunks of later batches).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from bridge.engine.tokens import RowDecoder, StepNote
from bridge.engine.types import ChunkNotes, Note

# Step notes of chunk ``index`` → session notes (the converter's time mapping and clip end).
NoteMapper = Callable[[int, Sequence[StepNote]], list[Note]]
# Step index → session seconds.
StepClock = Callable[[int], float]


class ChunkStreamer:
    """Feeds a batch's rows (chunks ``first`` … ``first + len(decoders) - 1``) and emits notes as they finish."""

    def __init__(
        self,
        decoders: Sequence[RowDecoder],
        first: int,
        count: int,
        next_start: float,
        to_notes: NoteMapper,
        clock: StepClock,
        emit: Callable[[ChunkNotes], None],
    ) -> None:
        self.decoders = list(decoders)
        self.first = first
        self.count = count
        self.next_start = next_start  # session time where the next batch's first chunk starts (inf: none)
        self.to_notes = to_notes
        self.clock = clock
        self.emit = emit
        self.horizon = -math.inf

    def step(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """One decoder step: ``tokens[i]`` is the new token of batch row ``rows[i]``."""
        found: list[Note] = []
        for row, token in zip(rows, tokens):
            decoder = self.decoders[row]
            finished = decoder.feed(token)
            if decoder.ended:
                finished = finished + decoder.finish()
            if finished:
                found.extend(self.to_notes(self.first + row, finished))
        self._send(found)

    def finish(self) -> None:
        """The batch is done (or stopped): close every row still open."""
        found: list[Note] = []
        for row, decoder in enumerate(self.decoders):
            if not decoder.ended:
                found.extend(self.to_notes(self.first + row, decoder.finish()))
        self._send(found)

    def _send(self, notes: list[Note]) -> None:
        open_rows = [d.horizon for d in self.decoders if not d.ended]
        horizon = min([self.next_start, *(self.clock(step) for step in open_rows)])
        if not notes and horizon <= self.horizon:
            return
        self.horizon = max(self.horizon, horizon)
        frontier = next((self.first + i for i, d in enumerate(self.decoders) if not d.ended),
                        self.first + len(self.decoders))
        notes.sort(key=lambda n: (n.start, n.pitch, n.end))
        self.emit(ChunkNotes(min(frontier, self.count - 1), self.count, tuple(notes), self.horizon))
