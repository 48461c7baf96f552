"""Errors every frontend can translate: each carries a stable machine-readable code.

The codes double as the OSC error codes of the daemon, so the CLI, the daemon and the
DAW scripts all speak of a failure the same way.
"""

from __future__ import annotations


class BridgeError(Exception):
    """A failure the user can act on; ``str(error)`` is one clear line."""

    code = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(BridgeError):
    """The request itself is malformed or out of range."""

    code = "bad_request"


class NotFound(BridgeError):
    """A file or job the request names does not exist."""

    code = "not_found"


class NotAudio(BridgeError):
    """The file exists but cannot be decoded as audio."""

    code = "not_audio"


class BadRange(BadRequest):
    """The requested clip range lies (partly) outside the audio file."""

    code = "bad_range"


class UnknownComposer(BadRequest):
    """The composer style is not one the loaded model knows."""

    code = "unknown_composer"


class ModelUnavailable(BridgeError):
    """The Pop2Piano weights cannot be loaded (not downloaded, offline, broken folder)."""

    code = "model_unavailable"


class Cancelled(BridgeError):
    """The caller asked to stop; raised between chunks."""

    code = "cancelled"


class Busy(BridgeError):
    """The job queue is full; try again when a job has finished."""

    code = "busy"


class DuplicateId(BridgeError):
    """A job with this id is still queued or running."""

    code = "duplicate_id"


class MidiUnavailable(BridgeError):
    """No live MIDI port could be opened (no backend, or the port went away)."""

    code = "midi_unavailable"


class Forbidden(BridgeError):
    """The request lacks the shared secret the daemon was started with, or asks for a path it may not use."""

    code = "forbidden"


class IOFailure(BridgeError):
    """The result could not be written: disk full, no permission, a read-only or failing disk."""

    code = "io_error"


ERROR_CODES = (
    "bad_request", "bad_range", "unknown_composer", "not_found", "not_audio", "busy", "duplicate_id",
    "model_unavailable", "midi_unavailable", "forbidden", "io_error", "cancelled", "internal",
)


def error_for(code: str, message: str) -> BridgeError:
    """The error class for a code (errors cross process boundaries as code + message)."""
    classes = {cls.code: cls for cls in (
        BadRequest, NotFound, NotAudio, BadRange, UnknownComposer, ModelUnavailable, Cancelled, Busy, DuplicateId,
        MidiUnavailable, Forbidden, IOFailure,
    )}
    return classes.get(code, BridgeError)(message)
