"""Output names: derived, sanitised, and never over a file the bridge did not write."""

from __future__ import annotations

from bridge.jobs.naming import free_midi_path, sanitise, stem_for


def test_sanitise_removes_separators_and_traversal():
    assert sanitise("../../etc/passwd") == "etc_passwd"
    assert sanitise("C:\\Users\\x") == "C_Users_x"
    assert sanitise("Beyoncé – Halo") == "Beyonce  Halo"  # the dash has no ASCII form
    assert sanitise("...") == "clip"
    assert len(sanitise("a" * 500)) <= 80


def test_stem_names_audio_composer_and_range():
    assert stem_for("/music/My Song.wav", "composer3", 0, 0) == "My Song - composer3 - full"
    assert stem_for("/music/My Song.wav", "composer3", 1.5, 8) == "My Song - composer3 - 1.50s+8.00s"


def test_free_path_skips_foreign_files_and_reuses_ours(tmp_path, converter, song_path):
    from bridge.engine.types import ClipRequest
    from bridge.output.files import write_outputs

    (tmp_path / "x.mid").write_bytes(b"someone else's file")
    path = free_midi_path(str(tmp_path), "x")
    assert path.endswith("x (2).mid")
    arrangement = converter.convert(ClipRequest(song_path, duration=3.0))
    write_outputs(arrangement, path)
    assert free_midi_path(str(tmp_path), "x") == path  # ours: may be replaced
    (tmp_path / "y.notes.json").write_text("{}")
    assert free_midi_path(str(tmp_path), "y").endswith("y (2).mid")
    assert (tmp_path / "x.mid").read_bytes() == b"someone else's file"
