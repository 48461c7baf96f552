"""Build ``members.json``: which Live API members exist in which Live version, from public API dumps.

Source: the GitHub repository PhotonicVelocity/LiveAPI, files ``build/<version>/Live.xml``. Each is
the output of the "API_MakeDoc" MIDI Remote Script run inside that Live version (runtime
introspection of the ``Live`` module): one ``<Class>``/``<Property>``/``<Method>`` element per
member, followed by a ``<Doc>`` holding Boost.Python's signature (``name( (Type)arg…) -> Return :``)
and, in the header, the embedded Python version. The dumps left the repository's newest tree (they
were turned into stubs), so this script reads them from a commit that still has them.

Usage (from the worktree root, after ``fetch github:PhotonicVelocity/LiveAPI`` brought a snapshot)::

    python tests/daw_scripts/ableton/live_api/extract.py --repo /work/.mirror/PhotonicVelocity+LiveAPI/repo \
        --commit 92a0c79fdcc6f8ab450a39bc76ddb84f6f2975f4 --out tests/daw_scripts/ableton/live_api/members.json

The table keeps only the classes the Remote Script and its fake host touch, and leaves out the
listener plumbing (``add_x_listener``, ``remove_x_listener``, ``x_has_listener``), so it stays small.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Tuple

REPOSITORY = "PhotonicVelocity/LiveAPI"
COMMIT = "92a0c79fdcc6f8ab450a39bc76ddb84f6f2975f4"  # "Remove old fork workflow and scripts", 2026-03-07
CLASSES = (
    "Live.Application.Application",
    "Live.Base.LimitationError",
    "Live.Clip.Clip",
    "Live.Clip.MidiNoteSpecification",
    "Live.Clip.WarpMarker",
    "Live.ClipSlot.ClipSlot",
    "Live.DeviceParameter.DeviceParameter",
    "Live.MixerDevice.MixerDevice",
    "Live.Scene.Scene",
    "Live.Song.Song",
    "Live.Song.Song.View",
    "Live.TakeLane.TakeLane",
    "Live.Track.Track",
)
LISTENER = re.compile(r"^(add_\w+_listener|remove_\w+_listener|\w+_has_listener)$")  # left out: noise here
RETURNS = re.compile(r"\)\s*->\s*([A-Za-z_][\w.]*)\s*:")
PYTHON = re.compile(r"Running Python version (\d+\.\d+\.\d+)")


def version_key(version: str) -> Tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def parse_dump(text: str) -> Tuple[str, Dict[str, Dict[str, Tuple[str, Optional[str]]]]]:
    """(python version, {class: {member: (kind, return type or None)}}) of one ``Live.xml``."""
    root = ET.fromstring(text)
    live = root.find("Live")
    assert live is not None, "no <Live> element"
    python = ""
    entries: List[Tuple[str, str, str]] = []  # (tag, qualified name, doc)
    for element in live:
        name = (element.text or "").strip()
        if element.tag == "Doc":
            doc = " ".join("".join(element.itertext()).split())
            if entries and not entries[-1][2]:
                entries[-1] = (entries[-1][0], entries[-1][1], doc)
            match = PYTHON.search(doc)
            if match and not python:
                python = match.group(1)
            continue
        entries.append((element.tag, name, ""))
    classes = {name for tag, name, _doc in entries if tag == "Class"}
    table: Dict[str, Dict[str, Tuple[str, Optional[str]]]] = {c: {} for c in classes}
    for tag, name, doc in entries:
        if tag not in ("Property", "Method"):
            continue
        bare = name[:-2] if name.endswith("()") else name
        owner, _, member = bare.rpartition(".")
        if owner not in table or LISTENER.match(member):
            continue
        returns: Optional[str] = None
        if tag == "Method":
            match = RETURNS.search(doc)
            returns = match.group(1) if match else None
        table[owner][member] = ("method" if tag == "Method" else "property", returns)
    return python, table


def ranges(present: List[bool], versions: List[str]) -> List[List[str]]:
    """Runs of consecutive versions where ``present`` is true, as [first, last] pairs."""
    runs: List[List[str]] = []
    for i, (flag, version) in enumerate(zip(present, versions)):
        if not flag:
            continue
        if i > 0 and present[i - 1]:
            runs[-1][1] = version
        else:
            runs.append([version, version])
    return runs


def build(dumps: Dict[str, str], repository: str, commit: str) -> dict:
    versions = sorted(dumps, key=version_key)
    parsed = {v: parse_dump(dumps[v]) for v in versions}
    out: dict = {
        "source": {
            "repository": repository,
            "commit": commit,
            "files": "build/<version>/Live.xml",
            "made_by": "tests/daw_scripts/ableton/live_api/extract.py",
            "how": "API_MakeDoc MIDI Remote Script run inside each Live version (runtime introspection)",
        },
        "versions": versions,
        "python": {v: parsed[v][0] for v in versions},
        "class_in": {},
        "classes": {},
    }
    for cls in CLASSES:
        out["class_in"][cls] = ranges([cls in parsed[v][1] for v in versions], versions)
        names = sorted({m for v in versions for m in parsed[v][1].get(cls, {})})
        members = {}
        for member in names:
            present = [member in parsed[v][1].get(cls, {}) for v in versions]
            kinds = [parsed[v][1][cls][member][0] for v, p in zip(versions, present) if p]
            entry: dict = {"kind": kinds[-1], "in": ranges(present, versions)}
            if entry["kind"] == "method":
                steps: Dict[str, Optional[str]] = {}
                last: object = object()
                for v, p in zip(versions, present):
                    if not p:
                        continue
                    value = parsed[v][1][cls][member][1]
                    if value != last:
                        steps[v] = value
                        last = value
                entry["returns"] = steps
            members[member] = entry
        out["classes"][cls] = members
    return out


def render(table: dict) -> str:
    """JSON with one member per line, so a diff of two extractions reads member by member."""
    compact = lambda value: json.dumps(value, sort_keys=True, separators=(",", ":"))  # noqa: E731
    lines = ["{"]
    for key in ("source", "versions", "python", "class_in"):
        lines.append(" %s: %s," % (json.dumps(key), compact(table[key])))
    lines.append(' "classes": {')
    classes = sorted(table["classes"])
    for i, cls in enumerate(classes):
        lines.append("  %s: {" % json.dumps(cls))
        members = sorted(table["classes"][cls])
        for j, member in enumerate(members):
            comma = "," if j < len(members) - 1 else ""
            lines.append("   %s: %s%s" % (json.dumps(member), compact(table["classes"][cls][member]), comma))
        lines.append("  }%s" % ("," if i < len(classes) - 1 else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def read_from_git(repo: str, commit: str) -> Dict[str, str]:
    listing = subprocess.run(["git", "--git-dir", repo, "ls-tree", "--name-only", commit, "build/"],
                             capture_output=True, text=True, check=True).stdout.split()
    dumps = {}
    for path in listing:
        version = path.split("/", 1)[1]
        if not re.fullmatch(r"\d+\.\d+\.\d+", version):
            continue
        shown = subprocess.run(["git", "--git-dir", repo, "show", "%s:%s/Live.xml" % (commit, path)],
                               capture_output=True, text=True)
        if shown.returncode == 0:
            dumps[version] = shown.stdout
    return dumps


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", required=True, help="git directory of a PhotonicVelocity/LiveAPI snapshot")
    parser.add_argument("--commit", default=COMMIT)
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    dumps = read_from_git(args.repo, args.commit)
    if not dumps:
        print("no build/<version>/Live.xml at %s in %s" % (args.commit, args.repo), file=sys.stderr)
        return 1
    text = render(build(dumps, REPOSITORY, args.commit))
    if args.out == "-":
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
