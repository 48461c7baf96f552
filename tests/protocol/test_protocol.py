"""OSC API v1 parsing and the client's argument typing: pure, no sockets."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.daemon.client import type_args
from bridge.protocol import (
    Cancel,
    Composers,
    Convert,
    Ping,
    Play,
    ProtocolError,
    Status,
    Stop,
    decode,
    encode,
    parse_request,
)


def test_simple_requests():
    assert parse_request("/pop2piano/ping", []) == Ping()
    assert parse_request("/pop2piano/ping", [9000]) == Ping(9000)
    assert parse_request("/pop2piano/stop", []) == Stop()
    assert parse_request("/pop2piano/composers", [7000]) == Composers(7000)
    assert parse_request("/pop2piano/cancel", ["a1"]) == Cancel("a1")
    assert parse_request("/pop2piano/status", ["a1", 5000]) == Status("a1", 5000)
    assert parse_request("/pop2piano/play", ["a1", 2]) == Play("a1", 2.0)


def test_convert_with_options():
    request = parse_request("/pop2piano/convert", [
        "job-1", "/audio/a.wav", "composer", "composer3", "start", 1.5, "duration", 8, "playrate", 1.25,
        "tempo", 100.0, "output", "both", "out_dir", "/tmp", "reply_port", 9999,
    ])
    assert request == Convert("job-1", "/audio/a.wav", "composer3", 1.5, 8.0, 1.25, 100.0, "both", "/tmp", 9999)


def test_convert_defaults():
    request = parse_request("/pop2piano/convert", ["j", "/a.wav", "tempo", 0.0])
    assert (request.output, request.start, request.duration, request.playrate, request.tempo) == ("file", 0, 0, 1, None)


@pytest.mark.parametrize("address,args,words", [
    ("/pop2piano/nope", [], "unknown address"),
    ("/other", [], "unknown address"),
    ("/pop2piano/ping", ["x"], "integer"),
    ("/pop2piano/ping", [1, 2], "at most one"),
    ("/pop2piano/ping", [70000], "not a UDP port"),
    ("/pop2piano/cancel", [], "needs a job_id"),
    ("/pop2piano/cancel", [3], "string"),
    ("/pop2piano/status", ["../x"], "job_id must be"),
    ("/pop2piano/convert", ["j"], "needs job_id and audio_path"),
    ("/pop2piano/convert", ["j", 5], "audio_path must be a string"),
    ("/pop2piano/convert", ["j", "/a.wav", "start"], "key value pairs"),
    ("/pop2piano/convert", ["j", "/a.wav", "colour", "red"], "unknown option"),
    ("/pop2piano/convert", ["j", "/a.wav", "start", "soon"], "start must be a number"),
    ("/pop2piano/convert", ["j", "/a.wav", "start", float("nan")], "finite"),
    ("/pop2piano/convert", ["j", "/a.wav", "output", "cloud"], "output must be one of"),
    ("/pop2piano/convert", ["j", "/a.wav", "start", 1.0, "start", 2.0], "given twice"),
    ("/pop2piano/convert", ["j", "x" * 5000], "longer than"),
    ("/pop2piano/play", ["j", -1.0], "negative"),
])
def test_bad_requests_are_protocol_errors(address, args, words):
    with pytest.raises(ProtocolError) as info:
        parse_request(address, args)
    assert words in info.value.message and info.value.code == "bad_request"


def test_error_keeps_the_job_id_when_readable():
    with pytest.raises(ProtocolError) as info:
        parse_request("/pop2piano/convert", ["job7", "/a.wav", "start", "x"])
    assert info.value.job_id == "job7"


def test_codec_round_trip_and_garbage():
    data = encode(("/pop2piano/done", ["j", "/a b.mid", "/a b.notes.json", 12]))
    assert decode(data) == ("/pop2piano/done", ["j", "/a b.mid", "/a b.notes.json", 12])
    for garbage in (b"", b"\x00\x01", b"#bundle\x00" + b"\x00" * 8, b"/x\x00\x00,i\x00\x00\x00"):
        with pytest.raises(ProtocolError):
            decode(garbage)


@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=200))
def test_any_bytes_decode_or_raise_protocol_error(data):
    try:
        address, args = decode(data)
    except ProtocolError:
        return
    try:
        parse_request(address, args)
    except ProtocolError:
        pass


def test_client_types_arguments_by_the_protocol():
    assert type_args("/pop2piano/convert", ["7", "/a.wav", "start", "12", "reply_port", "9000", "composer", "3"]) == [
        "7", "/a.wav", "start", 12.0, "reply_port", 9000, "composer", "3"]
    assert type_args("/pop2piano/play", ["42", "1.5"]) == ["42", 1.5]
    assert type_args("/pop2piano/ping", ["9000"]) == [9000]
    assert type_args("/x/y", ["1", "2.5", "s:3", "hello"]) == [1, 2.5, "3", "hello"]
    with pytest.raises(ValueError):
        type_args("/pop2piano/convert", ["j", "/a.wav", "start", "soon"])


def test_convert_takes_the_sessions_grid():
    request = parse_request("/pop2piano/convert", ["j", "/a.wav", "grid_bpm", 97.5, "grid_offset", 1.25])
    assert (request.grid_bpm, request.grid_offset, request.beats_file) == (97.5, 1.25, None)
    request = parse_request("/pop2piano/convert", ["j", "/a.wav", "beats_file", "/p/beats.json"])
    assert request.beats_file == "/p/beats.json"
    for args, words in ((["grid_bpm", 100.0, "beats_file", "/b.json"], "not both"),
                        (["grid_offset", 1.0], "needs grid_bpm"), (["beats_file", "beats.json"], "absolute")):
        with pytest.raises(ProtocolError, match=words):
            parse_request("/pop2piano/convert", ["j", "/a.wav", *args])


def test_an_audition_and_playing_one_of_its_styles():
    from bridge.protocol.requests import styles_in

    assert styles_in("composer3, composer7,composer3") == (("composer3", "composer7"), False)
    assert styles_in("ALL") == ((), True) and styles_in("composer2") == ((), False) and styles_in(None) == ((), False)
    assert parse_request("/pop2piano/play", ["j", 1.5, "composer7"]) == Play("j", 1.5, "composer7")
    assert parse_request("/pop2piano/play", ["j", 1.5, 9000]) == Play("j", 1.5, reply_port=9000)  # v1 clients
    assert parse_request("/pop2piano/play", ["j", 1.5, "composer7", 9000]) == Play("j", 1.5, "composer7", 9000)
