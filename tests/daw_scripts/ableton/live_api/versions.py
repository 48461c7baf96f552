"""Per-version facts about Live's Python API, read from ``members.json`` (see ``extract.py``).

Python 3.7 compatible on purpose: the fake host built on it also runs under a real Python 3.7,
the interpreter Live 11.0 - 12.0.x embeds.
"""

from __future__ import annotations

import json
import os
from typing import List, Optional, Tuple

TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "members.json")

# The versions the end-to-end tests run on: each is a version the dump repository has, chosen
# where the API changed for what the script touches (see docs/ableton.md, "Version notes").
MATRIX = (
    "11.0.0",   # no Clip.sample_rate; ClipSlot.create_clip -> None; Python 3.7
    "11.0.5",   # Clip.sample_rate appears
    "11.3.20",  # last Live 11 whose create_clip returns None
    "11.3.25",  # create_clip returns the Clip
    "12.0.0",   # create_clip -> None again; Python 3.7
    "12.0.5",   # create_clip -> Clip
    "12.1.0",   # Python 3.11; still no Track.create_midi_clip
    "12.1.10",  # Track.create_midi_clip exists but returns None
    "12.2.0",   # Track.create_midi_clip returns the Clip
    "12.3.5",   # the newest dump
)

_TABLE = None  # type: Optional[dict]


def table() -> dict:
    global _TABLE
    if _TABLE is None:
        with open(TABLE_PATH, encoding="utf-8") as handle:
            _TABLE = json.load(handle)
    return _TABLE


def key(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _inside(version: str, runs: List[List[str]]) -> bool:
    return any(key(first) <= key(version) <= key(last) for first, last in runs)


class LiveVersion:
    """One Live version as its API dump describes it."""

    def __init__(self, name: str) -> None:
        data = table()
        if name not in data["versions"]:
            raise ValueError("no API dump for Live %s (have: %s)" % (name, ", ".join(data["versions"])))
        self.name = name
        self.key = key(name)
        self.python = data["python"][name]  # the embedded interpreter the dump header names
        self._classes = data["classes"]
        self._cache = {}  # type: Dict[Tuple[str, str], bool]

    @property
    def python_tuple(self) -> Tuple[int, ...]:
        return key(self.python)

    def has(self, cls: str, member: str) -> bool:
        """Whether ``cls.member`` exists in this version (the dump listed it)."""
        found = self._cache.get((cls, member))
        if found is None:
            entry = self._classes.get(cls, {}).get(member)
            found = entry is not None and _inside(self.name, entry["in"])
            self._cache[(cls, member)] = found
        return found

    def returns(self, cls: str, member: str) -> Optional[str]:
        """The return type the dump's signature gives for a method in this version."""
        entry = self._classes[cls][member]
        result = None
        for first, value in sorted(entry.get("returns", {}).items(), key=lambda kv: key(kv[0])):
            if key(first) <= self.key:
                result = value
        return result

    def known(self, cls: str, member: str) -> bool:
        """Whether any dumped version has ``cls.member``."""
        return member in self._classes.get(cls, {})

    def __repr__(self) -> str:
        return "LiveVersion(%s, Python %s)" % (self.name, self.python)


_VERSIONS = {}  # type: Dict[str, LiveVersion]


def live(name: str) -> LiveVersion:
    if name not in _VERSIONS:
        _VERSIONS[name] = LiveVersion(name)
    return _VERSIONS[name]
