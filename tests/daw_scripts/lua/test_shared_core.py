"""The Lua core REAPER and Ardour share (bridge/daw_scripts/lua): its unit tests under each DAW's Lua,
and luacheck on the Ardour scripts (REAPER's own test checks REAPER's and the core).

REAPER 6/7 embed Lua 5.4; Ardour 7 embeds Lua 5.3, and ``ardour7-lua`` (Debian package ``ardour``) is
that very interpreter, so the core runs here under exactly what Ardour runs it with.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from processes import ROOT

TESTS = "tests/daw_scripts/lua/test_core.lua"


@pytest.mark.skipif(not shutil.which("lua5.4"), reason="needs lua5.4 (Debian package lua5.4)")
def test_shared_core_under_lua_54():
    result = subprocess.run(["lua5.4", TESTS], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lua 5.4: " in result.stdout and " 0 failures" in result.stdout


@pytest.mark.skipif(not shutil.which("ardour7-lua"), reason="needs ardour7-lua (Debian package ardour)")
def test_shared_core_under_ardours_lua_53():
    result = subprocess.run(["ardour7-lua", TESTS], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lua 5.3: " in result.stdout and " 0 failures" in result.stdout


@pytest.mark.skipif(not shutil.which("luacheck"), reason="needs luacheck (Debian package lua-check)")
def test_luacheck_is_clean_on_the_ardour_scripts():
    result = subprocess.run(["luacheck", "-q", "bridge/daw_scripts/ardour", "bridge/daw_scripts/lua", "tests/daw_scripts/ardour",
                             "tests/daw_scripts/lua"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
