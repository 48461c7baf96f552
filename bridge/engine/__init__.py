"""The conversion engine: audio clip in, aligned piano notes out. No protocol, no output files.

The front door: :class:`Converter` (loads the model once, converts many clips), the request and
result types, and :func:`validate_request`. ``Converter`` is imported on first use: it pulls in
torch and transformers (seconds), which the daemon's own process and ``send`` never need.
"""

from typing import Any

from bridge.engine.model import DEFAULT_MODEL
from bridge.engine.request import validate_request
from bridge.engine.types import Arrangement, ChunkNotes, ClipRequest, Note, Progress

__all__ = ["DEFAULT_MODEL", "Arrangement", "ChunkNotes", "ClipRequest", "Converter", "Note", "Progress", "validate_request"]


def __getattr__(name: str) -> Any:
    if name == "Converter":
        from bridge.engine.converter import Converter  # heavy: see the module docstring

        return Converter
    raise AttributeError(f"module 'bridge.engine' has no attribute {name!r}")
