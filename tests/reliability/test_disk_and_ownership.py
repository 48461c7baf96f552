"""The producer's files through the real daemon: edits survive, names never collide, a full disk
(a real, tiny tmpfs) leaves nothing half-written, a removed out_dir is reported, modes follow the umask."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Iterator

import pytest
from processes import Daemon, Peer

from bridge.engine.types import ClipRequest
from bridge.errors import IOFailure
from bridge.output.naming import OutputRequest, stem_for
from bridge.output.files import render, write_result
from bridge.output.manifest import MANIFEST_NAME

PAGE = os.sysconf("SC_PAGE_SIZE")  # tmpfs charges whole pages


@pytest.fixture(scope="module")
def daemon(model_dir):
    server = Daemon(model_dir, "--no-live", umask=0o022).start()
    yield server
    assert server.stop() == 0


@pytest.fixture()
def peer(daemon):
    client = Peer(daemon.port)
    yield client
    client.close()


def _convert(peer: Peer, job: str, audio: str, out_dir: str, *options) -> tuple[str, list]:
    peer.send("/pop2piano/convert", job, audio, "composer", "composer3", "duration", 5.0, "out_dir", out_dir,
              *options)
    address, args = peer.until_final(job, timeout=180)[-1]
    return address, args


def _done(peer: Peer, job: str, audio: str, out_dir: str, *options) -> tuple[str, str]:
    address, args = _convert(peer, job, audio, out_dir, *options)
    assert address == "/pop2piano/done", args
    return args[1], args[2]


def _files(folder) -> dict[str, tuple[bytes, int]]:
    return {name: (open(os.path.join(folder, name), "rb").read(), os.lstat(os.path.join(folder, name)).st_mtime_ns)
            for name in sorted(os.listdir(folder)) if not os.path.islink(os.path.join(folder, name))}


def test_an_edited_result_survives_a_new_conversion_and_an_unchanged_one_is_reused(peer, song_path, tmp_path):
    midi, notes = _done(peer, "e1", song_path, str(tmp_path))
    with open(midi, "ab") as handle:  # the producer edits the MIDI file in place
        handle.write(b"\x00edited")
    edited = _files(tmp_path)
    midi2, notes2 = _done(peer, "e2", song_path, str(tmp_path))
    assert midi2 == midi[:-4] + " (2).mid" and notes2 == notes[:-len(".notes.json")] + " (2).notes.json"
    after = _files(tmp_path)
    assert {k: after[k] for k in (os.path.basename(midi), os.path.basename(notes))} == \
        {k: edited[k] for k in (os.path.basename(midi), os.path.basename(notes))}
    assert _done(peer, "e3", song_path, str(tmp_path)) == (midi2, notes2)  # the same request: its own files
    assert _files(tmp_path) == after  # identical result: not even rewritten


def test_different_requests_in_one_folder_never_replace_each_other(peer, song_path, tmp_path):
    audio = tmp_path / "audio"
    audio.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    for name in ("take.wav", "take.WAV"):
        shutil.copy(song_path, audio / name)
    results = [
        _done(peer, "n1", str(audio / "take.wav"), str(out)),
        _done(peer, "n2", str(audio / "take.WAV"), str(out)),
        _done(peer, "n3", str(audio / "take.wav"), str(out), "playrate", 1.25),
        _done(peer, "n4", str(audio / "take.wav"), str(out), "tempo", 97.0),
        _done(peer, "n5", song_path, str(out)),
    ]
    paths = [p for pair in results for p in pair]
    assert len(set(paths)) == len(paths) and all(os.path.isfile(p) for p in paths)
    assert sorted(os.listdir(out)) == sorted([MANIFEST_NAME, *(os.path.basename(p) for p in paths)])


def test_a_foreign_file_or_symlink_at_the_name_is_left_alone(peer, song_path, tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    midi, notes = _done(peer, "f1", song_path, str(first))
    name, notes_name = os.path.basename(midi), os.path.basename(notes)  # names do not depend on the folder
    folders = {kind: tmp_path / kind for kind in ("foreign", "linked", "saved over", "json linked")}
    for folder in folders.values():
        folder.mkdir()
    (folders["foreign"] / name).write_bytes(b"the producer's own MIDI")  # there before any conversion
    target = tmp_path / "target.mid"
    target.write_bytes(b"what the symlink points to")
    os.symlink(target, folders["linked"] / name)
    # After a conversion: the producer's DAW saves its own MIDI over the result (write, then rename),
    # leaving the bridge's notes JSON beside it …
    _done(peer, "f2", song_path, str(folders["saved over"]))
    (folders["saved over"] / "export.tmp").write_bytes(b"exported from the DAW")
    os.replace(folders["saved over"] / "export.tmp", folders["saved over"] / name)
    # … or moves the notes JSON to a shared folder and links it back.
    _done(peer, "f3", song_path, str(folders["json linked"]))
    shared = tmp_path / "shared.notes.json"
    os.replace(folders["json linked"] / notes_name, shared)
    os.symlink(shared, folders["json linked"] / notes_name)
    shared_json = shared.read_bytes()
    for kind, folder in folders.items():
        got, _ = _done(peer, "f-" + kind.replace(" ", "-"), song_path, str(folder))
        assert os.path.basename(got) == name[:-4] + " (2).mid", kind
    assert (folders["foreign"] / name).read_bytes() == b"the producer's own MIDI"
    assert os.path.islink(folders["linked"] / name) and target.read_bytes() == b"what the symlink points to"
    assert (folders["saved over"] / name).read_bytes() == b"exported from the DAW"
    assert os.path.islink(folders["json linked"] / notes_name) and shared.read_bytes() == shared_json


# -- a full disk, for real ----------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(folder: str, size_kib: int) -> Iterator[str]:
    """A tiny tmpfs at ``folder`` (made here), unmounted and removed afterwards; skips where mounting is refused."""
    if not shutil.which("mount"):
        pytest.skip("needs mount(8) to make a tiny tmpfs")
    os.makedirs(folder)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", folder],
                          capture_output=True, text=True)
    if done.returncode != 0:
        os.rmdir(folder)
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", folder], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", folder], check=True)  # still busy: detach it now
        os.rmdir(folder)


def _pages(size: int) -> int:
    return -(-size // PAGE)


def _fill(disk: str, leave_pages: int) -> str:
    """Fill the tmpfs at ``disk`` with a file so that exactly ``leave_pages`` pages stay free."""
    filler = os.path.join(disk, "filler")
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // PAGE
    with open(filler, "wb") as handle:
        handle.write(b"\0" * ((free - leave_pages) * PAGE))
    assert os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize // PAGE == leave_pages
    return filler


@pytest.fixture(scope="module")
def arrangement(converter, song_path):
    return converter.convert(ClipRequest(song_path, composer="composer2"))


@pytest.mark.parametrize("fails", ["notes json", "manifest"])
def test_a_full_disk_leaves_nothing_and_says_so(arrangement, song_path, tmp_path, fails):
    request = OutputRequest(song_path, "composer2", engine=("test",))
    with tmpfs(str(tmp_path / "disk"), 2048) as disk:
        out = os.path.join(disk, "out")
        os.mkdir(out)
        midi, notes = render(arrangement, os.path.join(out, stem_for(request) + ".mid"))
        # The MIDI file fits, then the notes JSON (or, after both, the manifest) does not.
        filler = _fill(disk, _pages(len(midi)) + _pages(len(notes)) - (1 if fails == "notes json" else 0))
        for _attempt in range(3):  # retries add nothing either
            with pytest.raises(IOFailure, match=f"^disk full: {re.escape(out)}$") as caught:
                write_result(arrangement, out, request)
            assert caught.value.code == "io_error"
            assert os.listdir(out) == []  # no .mid without its JSON, no temporary file, no manifest
        os.unlink(filler)
        midi_path, notes_path = write_result(arrangement, out, request)
        assert sorted(os.listdir(out)) == sorted([os.path.basename(midi_path), os.path.basename(notes_path),
                                                  MANIFEST_NAME])


def test_a_full_disk_through_the_daemon(peer, song_path, tmp_path):
    with tmpfs(str(tmp_path / "disk"), 2048) as disk:
        # A first conversion into a folder of the same name length gives the exact file sizes.
        sizing, out = os.path.join(disk, "a"), os.path.join(disk, "b")
        os.mkdir(sizing)
        os.mkdir(out)
        midi, notes = _done(peer, "d0", song_path, sizing)
        filler = _fill(disk, _pages(os.path.getsize(midi)) + _pages(os.path.getsize(notes)) - 1)
        for job in ("d1", "d2"):
            address, args = _convert(peer, job, song_path, out)
            assert (address, args) == ("/pop2piano/error", [job, "io_error", f"disk full: {out}"])
            assert os.listdir(out) == []
        os.unlink(filler)
        midi, notes = _done(peer, "d3", song_path, out)
        assert sorted(os.listdir(out)) == sorted([os.path.basename(midi), os.path.basename(notes), MANIFEST_NAME])
    peer.send("/pop2piano/ping")
    assert peer.receive()[0] == "/pop2piano/pong"


def test_out_dir_removed_mid_job_is_not_found(peer, long_song_path, tmp_path):
    out = tmp_path / "gone"
    out.mkdir()
    peer.send("/pop2piano/convert", "gone1", long_song_path, "out_dir", str(out))
    peer.until_generating("gone1")
    out.rmdir()
    address, args = peer.until_final("gone1")[-1]
    assert (address, args) == ("/pop2piano/error", ["gone1", "not_found",
                                                    f"out_dir was removed while converting: {out}"])
    assert not out.exists()  # not recreated behind the producer's back


# 027 tells every earlier behaviour apart: mkstemp's fixed 0600 and a fixed 0644 alike.
@pytest.mark.parametrize("umask, mode", [(0o027, 0o640)])
def test_result_files_follow_the_daemons_umask(model_dir, song_path, tmp_path, umask, mode):
    server = Daemon(model_dir, "--no-live", umask=umask).start()
    client = Peer(server.port)
    try:
        midi, notes = _done(client, "m1", song_path, str(tmp_path))
        for path in (midi, notes, str(tmp_path / MANIFEST_NAME)):
            assert stat.S_IMODE(os.stat(path).st_mode) == mode, (path, oct(os.stat(path).st_mode))
    finally:
        client.close()
        assert server.stop() == 0
