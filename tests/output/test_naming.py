"""Output names: one per distinct request, readable, sanitised and bounded (pure logic, no files)."""

from __future__ import annotations

import dataclasses
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.output.naming import (
    KEY_LENGTH,
    MAX_NAME,
    MAX_VARIANTS,
    NOTES_SUFFIX,
    OutputRequest,
    request_key,
    sanitise,
    stem_for,
    variants,
)

ENGINE = ("sha256:abc", "faithful", "relu", "librosa", "fp32")
SAFE_NAME = re.compile(r"[A-Za-z0-9 ._()+-]+")


def test_sanitise_removes_separators_and_traversal():
    assert sanitise("../../etc/passwd") == "etc_passwd"
    assert sanitise("C:\\Users\\x") == "C_Users_x"
    assert sanitise("Beyoncé – Halo") == "Beyonce  Halo"  # the dash has no ASCII form
    assert sanitise("...") == "clip"
    assert len(sanitise("a" * 500)) <= 80
    assert sanitise("con.wav - composer1") == "_con.wav - composer1"  # a Windows device name before the dot
    assert sanitise("nul") == "_nul"


def test_stem_names_audio_composer_range_and_the_request_key():
    whole = OutputRequest("/music/My Song.wav", "composer3", engine=ENGINE)
    assert stem_for(whole) == f"My Song.wav - composer3 - full - {request_key(whole)}"
    clip = OutputRequest("/music/My Song.wav", "composer3", 1.5, 8, 1.25, 97.0, engine=ENGINE)
    assert stem_for(clip) == f"My Song.wav - composer3 - 1.50s+8.00s - x1.25 - 97bpm - {request_key(clip)}"
    assert re.fullmatch(f"[0-9a-f]{{{KEY_LENGTH}}}", request_key(clip))


def test_the_issues_examples_get_different_names():
    base = OutputRequest("/p/take.wav", "composer1", engine=ENGINE)
    for other in ("/p/take.WAV", "/p/take.flac", "/q/take.wav"):
        assert stem_for(base) != stem_for(dataclasses.replace(base, audio_path=other))
    assert stem_for(OutputRequest("/p/song.opus", "composer1")) != stem_for(OutputRequest("/p/song.mp3", "composer1"))
    assert stem_for(base) != stem_for(dataclasses.replace(base, playrate=1.5))
    assert stem_for(base) != stem_for(dataclasses.replace(base, tempo=120.0))


def test_equal_requests_written_differently_share_their_name():
    a = OutputRequest("/p/a.wav", "composer1", 0, 0, 1, None, engine=ENGINE)
    b = OutputRequest("/p/a.wav", "composer1", 0.0, -0.0, 1.0, 0.0, engine=list(ENGINE))
    assert stem_for(a) == stem_for(b)


paths = st.one_of(
    st.text(min_size=1, max_size=120),
    st.builds(lambda folder, stem, ext: f"{folder}/{stem}.{ext}",
              st.sampled_from(["/music", "/Music", "/music/old", "C:\\Users\\me\\Music", "/mnt/ü 曲"]),
              st.sampled_from(["take", "Take", "take 1", "take_1", "..", "con", "a" * 200, "曲", ""]),
              st.sampled_from(["wav", "WAV", "Wav", "mp3", "opus", "flac", "aiff", "ogg", ""])),
)
numbers = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 1.005, 1.25, 2.0, 120.0]),
                    st.floats(min_value=0, max_value=1e4, allow_nan=False))
requests = st.builds(
    OutputRequest, audio_path=paths, composer=st.sampled_from([f"composer{i}" for i in range(1, 22)]),
    start=numbers, duration=numbers, playrate=st.floats(min_value=0.05, max_value=8, allow_nan=False),
    tempo=st.one_of(st.none(), st.floats(min_value=1, max_value=999, allow_nan=False)), tempo_map=st.booleans(),
    engine=st.sampled_from([ENGINE, ("sha256:abc", "faithful", "relu", "librosa", "bf16"),
                            ("sha256:def", "reference", "gelu_new", "essentia", "fp32")]),
)
FIELDS = ("audio_path", "composer", "start", "duration", "playrate", "tempo", "tempo_map", "engine")


@st.composite
def request_pairs(draw):
    """A request and another one that differs from it in one or more parameters."""
    first = draw(requests)
    changed = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=3, unique=True))
    other = draw(requests)
    second = dataclasses.replace(first, **{name: getattr(other, name) for name in changed})
    if "audio_path" in changed and draw(st.booleans()):  # the issue's case: only the letter case differs
        second = dataclasses.replace(second, audio_path=first.audio_path.swapcase())
    return first, second


@settings(max_examples=1500, deadline=None)
@given(request_pairs())
def test_different_requests_never_share_a_name(pair):
    first, second = pair
    if first.canonical() == second.canonical():  # the change happened to restore an equal value
        assert stem_for(first) == stem_for(second)
    else:
        assert stem_for(first) != stem_for(second)
        assert request_key(first) != request_key(second)


@settings(max_examples=800, deadline=None)
@given(requests)
def test_names_are_sanitised_and_bounded(request):
    stem = stem_for(request)
    assert stem_for(request) == stem  # the same request, the same name
    names = [stem, *list(variants(stem))[-1:]]
    assert len(list(variants(stem))) == MAX_VARIANTS
    for name in names:
        full = name + NOTES_SUFFIX
        assert SAFE_NAME.fullmatch(full), full
        assert len(full.encode("utf-8")) <= MAX_NAME <= 160
        assert not name.startswith((".", " ")) and not name.endswith((".", " "))
        assert name.split(".", 1)[0].strip().upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}
