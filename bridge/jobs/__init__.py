"""Jobs: the daemon's core. Owns the queue, the job states and the caches; knows no protocol.

The front door: a frontend builds a :class:`JobManager` on an :class:`Engine` (in this process,
or the inference process), submits :class:`JobRequest` values and hears the typed events of
:mod:`bridge.jobs.api` through its :class:`JobListener`. Names resolve on first use: the manager
pulls in audio and MIDI modules, which ``send`` (sharing the package) never needs.
"""

from typing import Any

from bridge.jobs.api import (
    JobAccepted,
    JobCancelled,
    JobDone,
    JobEvent,
    JobFailed,
    JobListener,
    JobProgress,
    JobRequest,
)

__all__ = [
    "Engine", "EngineSettings", "JobAccepted", "JobCancelled", "JobDone", "JobEvent", "JobFailed", "JobListener",
    "JobManager", "JobProgress", "JobRequest", "Limits", "LocalEngine", "ProcessEngine",
]


def __getattr__(name: str) -> Any:
    if name in ("JobManager", "Limits"):
        from bridge.jobs import manager  # see the module docstring

        return getattr(manager, name)
    if name in ("Engine", "EngineSettings", "LocalEngine", "ProcessEngine"):
        from bridge.jobs import inference  # see the module docstring

        return getattr(inference, name)
    raise AttributeError(f"module 'bridge.jobs' has no attribute {name!r}")
