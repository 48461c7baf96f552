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
    """The request lacks the shared secret the daemon was started with."""

    code = "forbidden"


class IOFailure(BridgeError):
    """The result could not be written: disk full, no permission, a read-only or failing disk."""

    code = "io_error"


class ProtocolError(BadRequest):
    """A request that is not valid OSC API v1; ``job_id`` is set when one could be read."""

    def __init__(self, message: str, job_id: str = "") -> None:
        super().__init__(message)
        self.job_id = job_id


def _codes() -> dict[str, type[BridgeError]]:
    """Every error class by its code (the first class to claim a code keeps it)."""
    found: dict[str, type[BridgeError]] = {}
    pending: list[type[BridgeError]] = [BridgeError]
    while pending:
        cls = pending.pop(0)
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return found


def error_for(code: str, message: str) -> BridgeError:
    """The error for a code (errors cross process boundaries as code + message); unknown: internal."""
    return _codes().get(code, BridgeError)(message)
