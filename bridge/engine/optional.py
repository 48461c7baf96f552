"""essentia, an optional library (AGPL; no Windows wheels), imported quietly on first use. Light to import.

Its import prints an INFO line about classifier models to stderr unless told not to, and
transformers' Pop2Piano module imports it too: whoever imports it first goes through here.
"""

from __future__ import annotations

from typing import Any


def essentia_standard() -> Any:
    """``essentia.standard``, imported quietly, or None where essentia is not installed.

    Imported on first use, not at start-up: it takes a second and most commands never track beats.
    Its import prints an INFO line about classifier models to stderr unless told not to.
    """
    try:
        import essentia
    except ImportError:
        return None
    essentia.log.infoActive = False
    import essentia.standard

    return essentia.standard


def essentia_available() -> bool:
    return essentia_standard() is not None
