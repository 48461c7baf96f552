"""Pop2Piano Bridge: a MIDI Remote Script for Ableton Live 11 and 12.

Drop this folder into your User Library's ``Remote Scripts`` folder and pick
"Pop2PianoBridge" as a Control Surface (Settings → Link, Tempo & MIDI). See docs/ableton.md.
"""

from __future__ import annotations

from typing import Any


def create_instance(c_instance: Any) -> Any:
    from .script import Pop2PianoBridge

    return Pop2PianoBridge(c_instance)
