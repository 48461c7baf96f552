"""The bridge's own code type-checks under mypy --strict (settings in pyproject.toml); the Ableton
Remote Script is checked on its own against Live's stubs (tests/daw_scripts/ableton)."""

from __future__ import annotations

import subprocess
import sys

from processes import ROOT


def test_mypy_strict_on_the_bridge():
    result = subprocess.run([sys.executable, "-m", "mypy", "bridge"], cwd=ROOT, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
