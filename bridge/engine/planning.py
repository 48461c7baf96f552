"""Which chunks are generated together, in which order: the converter's batch plan. Pure.

A decoder step reads every weight once for the whole batch, so big batches are cheap per row:
a file's chunks go in :func:`even` batches. Live playback wants its first notes early and then
never to wait: its batches are sized one by one by a :class:`Pacer`, from the measured cost of
a decoder step (:class:`StepCost`), and its start waits at a :class:`StartGate` until the opening
batch will keep ahead of it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Batch:
    """Chunks ``[first, last)`` generated together; ``stream``: their notes are handed on as they come."""

    first: int
    last: int
    stream: bool = False

    @property
    def size(self) -> int:
        return self.last - self.first


def even(count: int, size: int) -> list[Batch]:
    """Chunks ``[0, count)`` in equal batches of at most ``size`` (files, auditions, what a quick start missed)."""
    return [Batch(a, b) for a, b in batches(count, 0, size)]


def batches(count: int, first: int, size: int) -> list[tuple[int, int]]:
    """(start, end) chunk ranges: a small first batch (early notes), then equal ones of at most ``size``. Pure.

    Equal batches, not full ones and a remainder: a decoder step costs about the same for 14
    rows as for 40 (the matrix units idle), so 78 chunks as 39 + 39 take ~20% less time
    than 64 + 14 (measured, full-size model, 2 cores).
    """
    if count <= 0:
        return []
    head = min(count, max(0, first))
    ranges = [(0, head)] if head else []
    rest = count - head
    if rest:
        parts = -(-rest // size)
        bounds = [head + rest * i // parts for i in range(parts + 1)]
        ranges.extend(zip(bounds[:-1], bounds[1:]))
    return ranges


class StepCost:
    """Seconds a decoder step takes for ``n`` rows, learnt from the batches already run: ``a + b * n``.

    A step reads every weight once for the whole batch, so its cost grows slowly with the rows
    (full-size model, 2 cores: 17 ms for 1 row, 61 ms for 39, 85 ms for 78). Until two batch sizes
    were seen, the slope is taken as :data:`PRIOR_SLOPE` of the cost of one row. A converter keeps
    one for its model, so a warm bridge sizes even a request's first batch from measurements; it
    remembers the last :data:`MEMORY` batches (and how many steps each ran: its longest row).
    """

    PRIOR_SLOPE = 0.05
    MEMORY = 64

    def __init__(self) -> None:
        self.seen: deque[tuple[int, float]] = deque(maxlen=self.MEMORY)  # (rows, seconds per step)
        self.steps: deque[int] = deque(maxlen=self.MEMORY)  # decoder steps each batch ran (its longest row)

    def observe(self, rows: int, seconds_per_step: float, steps: int | None = None) -> None:
        self.seen.append((rows, seconds_per_step))
        if steps is not None:
            self.steps.append(steps)

    def observe_batch(self, rows: int, seconds: float, steps: int) -> None:
        """A batch of ``rows`` ran ``steps`` decoder steps (its longest row) in ``seconds``."""
        if steps > 0:
            self.observe(rows, seconds / steps, steps)

    def __call__(self, rows: int) -> float | None:
        """Predicted seconds per step for ``rows``; None before anything was seen."""
        if not self.seen:
            return None
        sizes = {n for n, _ in self.seen}
        if len(sizes) == 1:
            n, c = self.seen[-1]
            a = c / (1 + self.PRIOR_SLOPE * n)
            return a * (1 + self.PRIOR_SLOPE * rows)
        ns = [float(n) for n, _ in self.seen]
        cs = [c for _, c in self.seen]
        mean_n, mean_c = sum(ns) / len(ns), sum(cs) / len(cs)
        slope = sum((n - mean_n) * (c - mean_c) for n, c in zip(ns, cs)) / sum((n - mean_n) ** 2 for n in ns)
        slope = max(0.0, slope)
        return max(1e-6, mean_c - slope * mean_n) + slope * rows


class Pacer:
    """Sizes each streamed batch from the measured cost per step, so playback never waits.

    Live playback starts when the first notes are handed on and then runs at the music's pace; a batch of ``n``
    chunks needs about ``steps * cost(n)`` seconds, and its first chunk must be complete before the
    player reaches its end. The next batch is the largest that makes that deadline. When none can
    (generation is behind), it is the smallest whose throughput keeps pace with the music
    (``steps * cost(n) <= n * chunk length``), so the lag stops growing.
    """

    def __init__(self, chunk_end: list[float], first_batch: int, max_size: int, max_steps: int,
                 cost: StepCost | None = None) -> None:
        self.chunk_end = chunk_end  # session seconds where each chunk's music ends (from the clip start)
        self.first_batch = max(1, first_batch)
        self.max_size = max(1, max_size)
        self.max_steps = max_steps
        self.cost = cost if cost is not None else StepCost()

    def next_size(self, first: int, now: float, playback_start: float | None) -> int:
        """Rows for the batch starting at chunk ``first`` (wall clock ``now``; playback began at ``playback_start``)."""
        remaining = len(self.chunk_end) - first
        if self.cost(1) is None or remaining <= 0:
            return max(1, min(self.first_batch, remaining))
        # at most twice the largest batch measured: the cost line is not trusted far beyond what it saw
        # (from batches of 3 and 6 rows it put 72 rows at ~35 ms a step; they took 62 ms)
        limit = min(self.max_size, remaining, 2 * max(n for n, _ in self.cost.seen))
        steps = max(self.cost.steps) if self.cost.steps else self.max_steps
        start = now if playback_start is None else playback_start
        deadline = start + self.chunk_end[first]
        fits = [n for n in range(1, limit + 1) if now + steps * self.cost(n) <= deadline]  # type: ignore[operator]
        if fits:
            return max(fits)
        span = [self.chunk_end[min(first + n, len(self.chunk_end)) - 1] - (self.chunk_end[first - 1] if first else 0.0)
                for n in range(1, limit + 1)]
        keeps_pace = [n for n in range(1, limit + 1) if steps * self.cost(n) <= span[n - 1]]  # type: ignore[operator]
        return keeps_pace[0] if keeps_pace else limit


# When live playback starts: once the opening batch is predicted to keep ahead of it (StartGate), or at
# the first notes (earlier, and it may stop to wait for the opening's rows).
UNBROKEN, FIRST_NOTE = "unbroken", "first-note"
LIVE_STARTS = (UNBROKEN, FIRST_NOTE)


class StartGate:
    """When live playback may start so that it does not wait for the opening batch. Pure.

    The opening's chunks generate together, token by token, and a row's notes become final only as
    far as its TIME tokens have gone, which can be nowhere until the row ends (measured on random
    weights: the second row's horizon stood at its chunk's start until the row ended). A player
    starting at the first note then catches up with the generation and waits (1.8 s in all for a
    180 s song with rows of ~256 tokens on 2 cores). The gate holds the first notes until the music
    already final (up to the horizon) lasts until the whole opening batch is predicted to end: its
    decoder steps so far, at the pace measured in this batch, extended to ``steps`` (the longest rows
    seen lately, else the model's limit). Then playback starts a little later and does not stop for
    the opening; the batches after it are paced (:class:`Pacer`).
    """

    MARGIN_S = 0.25  # the batch must end this long before playback reaches the horizon

    def __init__(self, began: float, steps: int) -> None:
        self.began = began  # clock time the opening batch started
        self.steps = max(1, steps)  # decoder steps it is expected to run
        self.done = 0  # decoder steps it has run

    def step(self) -> None:
        """One decoder step of the opening batch has run."""
        self.done += 1

    def ends(self, now: float) -> float | None:
        """Predicted clock time the opening batch ends; None before its first step."""
        if self.done <= 0:
            return None
        return self.began + (now - self.began) * max(self.steps, self.done) / self.done

    def ready(self, now: float, horizon: float) -> bool:
        """True when playback starting at ``now`` will not reach ``horizon`` (session seconds, from 0) before
        the opening batch ends."""
        ends = self.ends(now)
        return ends is not None and ends + self.MARGIN_S <= now + horizon
