"""What a conversion request may ask for, checked before any work is done. Pure.

Kept apart from the converter so the daemon can refuse a bad request without importing the
model stack (transformers, torch): the daemon's own process never loads them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bridge.engine.types import ClipRequest
from bridge.errors import BadRequest, UnknownComposer

# "faithful": the original Pop2Piano's semantics and the whole clip arranged (default).
# "reference": what the transformers port does, note for note (parity tests, benchmark).
RECIPES = ("faithful", "reference")
# Beat trackers: essentia where installed (what the model was trained on), else librosa; or one of them.
TRACKERS = ("auto", "essentia", "librosa")
MIN_TEMPO, MAX_TEMPO = 1.0, 960.0
MIN_PLAYRATE, MAX_PLAYRATE = 0.01, 100.0


def validate_request(request: ClipRequest, composers: Sequence[str]) -> None:
    """Reject requests that cannot be right, before any work is done. Pure."""
    if not isinstance(request.path, str) or not request.path:
        raise BadRequest("an audio path is required")
    if not (math.isfinite(request.playrate) and MIN_PLAYRATE <= request.playrate <= MAX_PLAYRATE):
        raise BadRequest(f"playrate must be between {MIN_PLAYRATE} and {MAX_PLAYRATE}, got {request.playrate:g}")
    if request.tempo is not None and not (math.isfinite(request.tempo) and MIN_TEMPO <= request.tempo <= MAX_TEMPO):
        raise BadRequest(f"tempo must be between {MIN_TEMPO:g} and {MAX_TEMPO:g} BPM, got {request.tempo:g}")
    if request.composer not in composers:
        raise UnknownComposer(f"unknown composer {request.composer!r}; choose one of {', '.join(composers)}")
