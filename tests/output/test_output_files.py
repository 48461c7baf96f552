"""Result files on a real disk: the producer's files are never replaced, the bridge's own are reused."""

from __future__ import annotations

import json
import os

import pytest

from bridge.engine.types import ClipRequest
from bridge.output.naming import OutputRequest, stem_for
from bridge.output.files import write_result
from bridge.output.manifest import MANIFEST_NAME, Manifest

ENGINE = ("sha256:test", "faithful", "relu", "librosa", "fp32")


@pytest.fixture(scope="module")
def arrangement(converter, song_path):
    result = converter.convert(ClipRequest(song_path, composer="composer2"))
    assert result.notes
    return result


@pytest.fixture()
def request_(song_path):
    return OutputRequest(song_path, "composer2", engine=ENGINE)


def _snapshot(folder) -> dict[str, tuple[bytes, int]]:
    """Every file in ``folder`` (not following symlinks): contents and mtime."""
    out = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.islink(path):
            out[name] = (b"-> " + os.readlink(path).encode(), 0)
        else:
            out[name] = (open(path, "rb").read(), os.stat(path).st_mtime_ns)
    return out


def test_the_same_request_again_reuses_its_files_untouched(arrangement, request_, tmp_path):
    midi, notes = write_result(arrangement, str(tmp_path), request_)
    assert os.path.basename(midi) == stem_for(request_) + ".mid" and notes == midi[:-4] + ".notes.json"
    before = _snapshot(tmp_path)
    assert sorted(before) == sorted([os.path.basename(midi), os.path.basename(notes), MANIFEST_NAME])
    assert write_result(arrangement, str(tmp_path), request_) == (midi, notes)
    assert _snapshot(tmp_path) == before  # not rewritten: same bytes, same mtimes
    assert json.load(open(notes, encoding="utf-8"))["midi"]["path"] == midi


def test_a_changed_result_of_the_same_request_replaces_the_bridges_own_files(arrangement, request_, tmp_path):
    import dataclasses

    midi, notes = write_result(arrangement, str(tmp_path), request_)
    fewer = dataclasses.replace(arrangement, notes=arrangement.notes[:1])  # e.g. the audio was re-recorded
    assert write_result(fewer, str(tmp_path), request_) == (midi, notes)
    assert json.load(open(notes, encoding="utf-8"))["note_count"] == 1
    assert len(os.listdir(tmp_path)) == 3


def _edit_content(path):
    with open(path, "ab") as handle:
        handle.write(b"\x00producer edit")


def _edit_mtime(path):
    info = os.stat(path)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + 5_000_000_000))


def _edit_keeping_size_and_mtime(path):
    """Same size, same mtime, other bytes: only the content hash can tell."""
    info = os.stat(path)
    data = bytearray(open(path, "rb").read())
    data[-1] ^= 0xFF
    open(path, "wb").write(bytes(data))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.mark.parametrize("edit", [_edit_content, _edit_mtime, _edit_keeping_size_and_mtime])
@pytest.mark.parametrize("which", ["midi", "notes"])
def test_a_file_the_producer_changed_is_theirs(arrangement, request_, tmp_path, edit, which):
    midi, notes = write_result(arrangement, str(tmp_path), request_)
    edit(midi if which == "midi" else notes)
    kept = _snapshot(tmp_path)
    new_midi, new_notes = write_result(arrangement, str(tmp_path), request_)
    assert new_midi == midi[:-4] + " (2).mid" and os.path.exists(new_notes)
    after = _snapshot(tmp_path)
    for name in (os.path.basename(midi), os.path.basename(notes)):
        assert after[name] == kept[name]  # the edit (and its partner) survive, byte for byte and mtime
    # and stay the producer's: the next conversion reuses (2), never the edited pair
    assert write_result(arrangement, str(tmp_path), request_) == (new_midi, new_notes)
    assert _snapshot(tmp_path) == after


def test_a_foreign_pair_that_looks_like_ours_is_not_replaced(arrangement, request_, tmp_path):
    """A pair copied in from elsewhere (a backup, another project): its notes JSON says the bridge
    wrote it, but this folder's manifest never recorded it."""
    midi, notes = write_result(arrangement, str(tmp_path), request_)
    os.unlink(tmp_path / MANIFEST_NAME)
    kept = _snapshot(tmp_path)
    assert write_result(arrangement, str(tmp_path), request_)[0] == midi[:-4] + " (2).mid"
    after = _snapshot(tmp_path)
    assert {name: after[name] for name in kept} == kept


@pytest.mark.parametrize("target", ["elsewhere", "dangling"])
@pytest.mark.parametrize("which", [".mid", ".notes.json"])
def test_a_symlink_at_the_name_is_neither_written_through_nor_replaced(arrangement, request_, tmp_path, target,
                                                                        which):
    out = tmp_path / "out"
    out.mkdir()
    victim = tmp_path / "producer.mid"
    if target == "elsewhere":
        victim.write_bytes(b"the producer's real file")
    link = out / (stem_for(request_) + which)
    os.symlink(victim, link)
    midi, notes = write_result(arrangement, str(out), request_)
    assert os.path.basename(midi) == stem_for(request_) + " (2).mid"
    assert os.path.islink(link) and os.readlink(link) == str(victim)
    if target == "elsewhere":
        assert victim.read_bytes() == b"the producer's real file"
    else:
        assert not victim.exists()


def test_a_symlinked_output_folder_is_followed(arrangement, request_, tmp_path):
    """A media folder on another drive, linked into the project, is a normal place to write."""
    real = tmp_path / "other drive"
    real.mkdir()
    os.symlink(real, tmp_path / "Pop2Piano")
    midi, _notes = write_result(arrangement, str(tmp_path / "Pop2Piano"), request_)
    assert os.path.isfile(real / os.path.basename(midi)) and not os.path.islink(midi)


@pytest.mark.parametrize("damage", [b"", b"{not json", b'{"schema": "something else", "files": {}}',
                                    b'{"schema": "pop2piano-bridge/manifest", "version": 1, "files": {"x": 3}}',
                                    b'{"schema": "pop2piano-bridge/manifest", "version": 1, '
                                    b'"files": {"../../etc/passwd": {"size": 1, "mtime_ns": 1, "sha256": "x"}}}'])
def test_a_corrupt_manifest_makes_nothing_ours_and_is_rewritten(arrangement, request_, tmp_path, damage):
    midi, _notes = write_result(arrangement, str(tmp_path), request_)
    (tmp_path / MANIFEST_NAME).write_bytes(damage)
    kept = {k: v for k, v in _snapshot(tmp_path).items() if k != MANIFEST_NAME}
    assert write_result(arrangement, str(tmp_path), request_)[0] == midi[:-4] + " (2).mid"
    after = _snapshot(tmp_path)
    assert {name: after[name] for name in kept} == kept
    assert set(Manifest.load(str(tmp_path)).records) == {stem_for(request_) + " (2).mid",
                                                         stem_for(request_) + " (2).notes.json"}


def test_a_manifest_name_held_by_a_symlink_is_left_alone(arrangement, request_, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "notes.txt"
    elsewhere.write_text("the producer's")
    os.symlink(elsewhere, out / MANIFEST_NAME)
    first = write_result(arrangement, str(out), request_)
    second = write_result(arrangement, str(out), request_)  # nothing recorded: the first pair is not ours
    assert first != second and all(os.path.isfile(p) for p in (*first, *second))
    assert os.path.islink(out / MANIFEST_NAME) and elsewhere.read_text() == "the producer's"


def test_names_of_other_requests_are_never_reused(arrangement, request_, tmp_path):
    """The request key is recorded: an unchanged file of another request is not replaced even at
    a name that (by a hash collision or a rename by hand) matches this request's."""
    import dataclasses

    other = dataclasses.replace(request_, composer="composer3")
    other_midi, _ = write_result(arrangement, str(tmp_path), other)
    manifest = json.loads((tmp_path / MANIFEST_NAME).read_text())
    mine = stem_for(request_)
    for suffix in (".mid", ".notes.json"):  # move the other request's files to this request's name
        os.rename(other_midi[:-4] + suffix, tmp_path / (mine + suffix))
        manifest["files"][mine + suffix] = manifest["files"].pop(os.path.basename(other_midi[:-4] + suffix))
    (tmp_path / MANIFEST_NAME).write_text(json.dumps(manifest))
    assert os.path.basename(write_result(arrangement, str(tmp_path), request_)[0]) == mine + " (2).mid"
