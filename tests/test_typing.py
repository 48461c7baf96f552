"""The bridge's own code type-checks under mypy --strict (settings in pyproject.toml); the Ableton
Remote Script is checked on its own against Live's stubs (tests/daw_scripts/ableton)."""

from __future__ import annotations

import os
import subprocess
import sys

from processes import ROOT


# mypy's cache outside the checkout: checking torch's and transformers' types costs ~40 s of CPU
# the first time and ~2 s after, and a fresh clone (CI's, a newcomer's second one) reuses it.
# mypy keys the cache by its own version and each file's path, size and hash, and rechecks what changed.
CACHE = os.environ.get("POP2PIANO_MYPY_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
    "pop2piano-bridge", f"mypy-py{sys.version_info[0]}.{sys.version_info[1]}")


def test_mypy_strict_on_the_bridge():
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", CACHE, "bridge"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
