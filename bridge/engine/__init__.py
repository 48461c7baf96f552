"""The conversion engine: audio clip in, aligned piano notes out. No protocol, no output files."""

from bridge.engine.converter import Converter, validate_request
from bridge.engine.model import DEFAULT_MODEL
from bridge.engine.types import Arrangement, ChunkNotes, ClipRequest, Note, Progress

__all__ = ["DEFAULT_MODEL", "Arrangement", "ChunkNotes", "ClipRequest", "Converter", "Note", "Progress", "validate_request"]
