"""Run the Remote Script on the fake host under the interpreter running this file (a real
Python 3.7 in the tests: the one Live 11 and 12.0 embed), against a scripted bridge.

Usage: python3.7 run37.py <wav> <work folder> <comma-separated Live versions>
Prints one JSON line: {"python": ..., "placed": {"<version>/<session|arrangement>": notes},
"beats_files": {"<version>/<where>": [sent and readable, removed after the job]},
"auditions": {"<version>/<where>": [the composer option sent, [each placed clip's name and notes]]}}.
Only the stdlib, the fake host and the script: Live's Python has no third-party packages.
"""

import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))  # the checkout
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bridge", "daw_scripts", "ableton"))

import ableton_fakes as fakes  # noqa: E402

fakes.install_live_module()

from Pop2PianoBridge import create_instance, osc  # noqa: E402,F401
from Pop2PianoBridge.script import Pop2PianoBridge  # noqa: E402


def receive(sock, script, address, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        script.update_display()
        try:
            data, source = sock.recvfrom(65535)
        except socket.timeout:
            continue
        got, args = osc.decode(data)
        if got == address:
            return args, source
    raise SystemExit("no %s arrived" % address)


def convert_once(version, where, wav, folder, notes_path, beats_files):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.02)
    with open(os.path.join(folder, "pop2piano-bridge.json"), "w") as handle:
        json.dump({"port": sock.getsockname()[1], "listen_port": 0, "command": []}, handle)
    song, clip = fakes.build_host(version, wav, arrangement=(where == "arrangement"))
    c_instance = fakes.CInstance(song)
    script = Pop2PianoBridge(c_instance, config_dir=folder)
    try:
        clip.name = "Vocal [p2p 3]"
        args, source = receive(sock, script, "/pop2piano/convert")
        beats_path = args[args.index("beats_file") + 1] if "beats_file" in args else ""
        with open(beats_path, encoding="utf-8") as handle:  # the warp grid: a JSON array of seconds
            readable = len(json.load(handle)) > 2
        sock.sendto(osc.encode("/pop2piano/accepted", [args[0]]), source)
        sock.sendto(osc.encode("/pop2piano/done", [args[0], "/x.mid", notes_path, 2]), source)
        deadline = time.monotonic() + 5
        while len(song.tracks) < 3 and time.monotonic() < deadline:
            script.update_display()
            time.sleep(0.01)
        beats_files["%s/%s" % (version, where)] = [readable, not os.path.exists(beats_path)]
        track = song.tracks[1]
        piano = track.arrangement_clips[0] if where == "arrangement" else track.clip_slots[2].clip
        return len(piano.fake_notes)
    finally:
        script.disconnect()
        sock.close()


def audition_once(version, where, wav, folder, notes_path):
    """[p2p 3,7]: two done_style replies, then done; the clips the script placed (name, notes)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.02)
    with open(os.path.join(folder, "pop2piano-bridge.json"), "w") as handle:
        json.dump({"port": sock.getsockname()[1], "listen_port": 0, "command": []}, handle)
    song, clip = fakes.build_host(version, wav, arrangement=(where == "arrangement"))
    script = Pop2PianoBridge(fakes.CInstance(song), config_dir=folder)
    try:
        clip.name = "Vocal [p2p 3,7]"
        args, source = receive(sock, script, "/pop2piano/convert")
        sock.sendto(osc.encode("/pop2piano/accepted", [args[0]]), source)
        for composer in ("composer3", "composer7"):
            sock.sendto(osc.encode("/pop2piano/done_style", [args[0], composer, "/x.mid", notes_path, 2]), source)
        sock.sendto(osc.encode("/pop2piano/done", [args[0], "", "", 2]), source)
        deadline = time.monotonic() + 5
        while script._jobs and time.monotonic() < deadline:
            script.update_display()
            time.sleep(0.01)
        if where == "session":
            clips = [slot.clip for slot in song.tracks[1].clip_slots if slot.clip is not None]
        else:  # no take lanes before Live 12.2: a track per style
            clips = [c for track in song.tracks[1:-1] for c in track.arrangement_clips]
        return [args[args.index("composer") + 1], [[c.name, len(c.fake_notes)] for c in clips]]
    finally:
        script.disconnect()
        sock.close()


def main():
    wav, folder, wanted = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    notes_path = os.path.join(folder, "run37.notes.json")
    with open(notes_path, "w") as handle:
        json.dump({"notes": [{"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 90},
                             {"pitch": 67, "start": 1.0, "end": 2.0, "velocity": 80}]}, handle)
    placed, beats_files, auditions = {}, {}, {}
    for version in wanted:
        for where in ("session", "arrangement"):
            key = "%s/%s" % (version, where)
            placed[key] = convert_once(version, where, wav, folder, notes_path, beats_files)
            auditions[key] = audition_once(version, where, wav, folder, notes_path)
    print(json.dumps({"python": "%d.%d.%d" % sys.version_info[:3], "placed": placed, "beats_files": beats_files,
                      "auditions": auditions}))


if __name__ == "__main__":
    main()
