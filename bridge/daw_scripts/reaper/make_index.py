"""Write bridge/daw_scripts/reaper/index.xml, the ReaPack index users subscribe to.

    python bridge/daw_scripts/reaper/make_index.py [--base-url URL]

URL is where the repository's raw ``bridge/daw_scripts/`` files are served (the default is the
project's GitHub). One package installs all five actions (each registered in the Main section) and
their modules: REAPER's own (``reaper/pop2piano/``) and the core shared with Ardour (``lua/``), at the
paths ``pop2piano-bridge install reaper`` gives them (``bridge.hosts.package_files``).
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BASE = "https://raw.githubusercontent.com/pop2piano-bridge/pop2piano-bridge/main/bridge/daw_scripts/"
sys.path.insert(0, os.path.join(HERE, "..", "..", ".."))


def sources() -> list[tuple[str, str, bool]]:
    """(installed path, path under bridge/daw_scripts/, is an action) for every file REAPER gets."""
    from bridge.hosts import HOSTS, SCRIPTS, package_files

    files = package_files(HOSTS["reaper"])
    entries = [(rel, path.relative_to(SCRIPTS).as_posix(), "/" not in rel) for rel, path in files.items()]
    return sorted(entries, key=lambda e: (not e[2], e[0]))


def build(base: str, version: str) -> str:
    lines = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<index version="1" name="Pop2Piano Bridge">',
        '  <category name="Items Editing">',
        '    <reapack name="Pop2Piano - Convert selected items to piano.lua" type="script" '
        'desc="Pop2Piano: audio items to aligned piano MIDI">',
        "      <metadata>",
        "        <description><![CDATA[Turns selected audio items into piano arrangements with the Pop2Piano "
        "bridge (pip install pop2piano-bridge, then pop2piano-bridge install reaper).]]></description>",
        "      </metadata>",
        f'      <version name={quoteattr(version)} author="Pop2Piano Bridge">',
    ]
    for path, source, is_action in sources():
        url = base + urllib.parse.quote(source)
        main = ' main="main"' if is_action else ""
        lines.append(f"        <source file={quoteattr(path)}{main}>{escape(url)}</source>")
    lines += ["      </version>", "    </reapack>", "  </category>", "</index>", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default=DEFAULT_BASE)
    args = parser.parse_args()
    from bridge import __version__

    with open(os.path.join(HERE, "index.xml"), "w", encoding="utf-8") as handle:
        handle.write(build(args.base_url, __version__))


if __name__ == "__main__":
    main()
