"""Rows of realistic, controlled lengths for benchmarks: EOS at a per-row length drawn from a fixed seed.

The real weights end most rows with EOS long before 256 tokens; a random-weight model never does.
:class:`RowLengths` is a logits processor that makes every row end at a length drawn for it (a
uniform spread around ``mean``), the same on both sides of a comparison: a row's length is drawn
from its first tokens, and identical decoding gives identical rows. Both the reference recipe
(a ``LogitsProcessor`` passed to ``generate()``, which keeps computing ended rows until the
longest of its batch ends, as the stock recipe does) and the engine (``Converter(rule=...)``,
which drops ended rows) see the same rule.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

import torch

KEY_TOKENS = 6  # tokens (after the start token) a row's length is drawn from
# The generation settings that go with RowLengths: EOS allowed from the start (the rule decides
# when), at most the model's 256 tokens, EOS forced at the last.
GENERATION = {"min_length": 0, "max_length": 256, "forced_eos_token_id": 1}


class RowLengths:
    """A step rule: suppress EOS until a row's drawn length, then force it."""

    def __init__(self, mean: float, eos: int = 1, max_length: int = 256, seed: int = 0, spread: float = 0.5) -> None:
        self.mean, self.eos, self.max_length, self.seed, self.spread = mean, eos, max_length, seed, spread

    def length_of(self, row: Sequence[int]) -> int:
        """The length (tokens, start and EOS included) this row ends at."""
        if self.mean >= self.max_length:
            return self.max_length
        digest = hashlib.sha256(struct.pack(f"<q{KEY_TOKENS + 1}q", self.seed, *row[: KEY_TOKENS + 1])).digest()
        u = int.from_bytes(digest[:8], "little") / 2**64  # uniform in [0, 1)
        length = round(self.mean * (1 + self.spread * (2 * u - 1)))
        return max(KEY_TOKENS + 2, min(self.max_length, length))

    def __call__(self, rows: Sequence[Sequence[int]], scores: torch.Tensor) -> None:
        for i, row in enumerate(rows):
            if len(row) <= KEY_TOKENS or len(row) + 1 < self.length_of(row):
                scores[i, self.eos] = -float("inf")  # not yet
            else:  # the token chosen now is the row's last
                scores[i, :] = -float("inf")
                scores[i, self.eos] = 0.0
