"""What a DAW script relies on: `send --request` (no shell, JSON lines, heartbeats), a bridge that starts
without a model, `serve --log-file` (install and doctor: tests/test_hosts.py).

Real processes and real UDP throughout; the DAW side of the same contract is tested in
tests/daw_scripts/reaper/test_reaper.py and tests/daw_scripts/ableton/test_ableton.py."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import ROOT, Daemon

from bridge.daemon.client import type_args, type_values


def run(*args, env=None, timeout=120):
    full_env = {**os.environ, "HF_HUB_DISABLE_PROGRESS_BARS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "bridge", *args], capture_output=True, timeout=timeout,
                          env=full_env, cwd=ROOT)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(tmp_path, port, address, *args, **extra):
    """Write a request file as a DAW script does; return (request path, out path)."""
    req, out = tmp_path / f"req-{time.monotonic_ns()}.json", tmp_path / f"out-{time.monotonic_ns()}.jsonl"
    req.write_text(json.dumps({"address": address, "args": list(args), "port": port, "out": str(out), **extra}),
                   encoding="utf-8")
    return req, out


def lines(out: Path) -> list[list]:
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


# -- typing arguments ------------------------------------------------------------------

def test_the_protocol_table_types_arguments_so_a_drive_letter_path_stays_a_path():
    assert type_args("/pop2piano/convert", ["j", "f:\\music\\a.wav", "start", "12", "reply_port", "9000"]) == [
        "j", "f:\\music\\a.wav", "start", 12.0, "reply_port", 9000]
    assert type_args("/pop2piano/convert", ["j", "s:/x.wav", "composer", "i:3"]) == ["j", "s:/x.wav", "composer", "i:3"]
    # where the table says nothing, a prefix still forces a type
    assert type_args("/other", ["i:3", "f:2", "s:7", "8", "x"]) == [3, 2.0, "7", 8, "x"]
    with pytest.raises(ValueError, match="should be a number"):
        type_args("/pop2piano/convert", ["j", "a.wav", "start", "soon"])


def test_request_file_values_keep_their_strings_and_take_numbers_from_the_table():
    assert type_values("/pop2piano/convert", ["j", "i:1", "start", 3, "reply_port", 9000.0]) == [
        "j", "i:1", "start", 3.0, "reply_port", 9000]
    assert type_values("/pop2piano/play", ["j", 2]) == ["j", 2.0]
    for bad in (["j", "a", "reply_port", 1.5], ["j", "a", "composer", 3], ["j", True]):
        with pytest.raises(ValueError):
            type_values("/pop2piano/convert", bad)


# -- send --request against a real bridge ------------------------------------------------

@pytest.fixture(scope="module")
def daemon(shared_daemon):
    return shared_daemon


def test_request_file_in_json_lines_out_and_the_request_file_is_removed(daemon, song_path, tmp_path):
    # a file name no shell quoting survives unharmed: quotes, a backtick, $, !, ü, a CJK character
    odd = tmp_path / "it's \"a\" `take` $HOME! ü 曲.wav"
    shutil.copyfile(song_path, odd)
    req, out = request(tmp_path, daemon.port, "/pop2piano/convert", "rq1", str(odd), "composer", "composer3",
                       "duration", 6, "out_dir", str(tmp_path))
    result = run("send", "--request", str(req))
    assert result.returncode == 0, result.stderr
    assert not req.exists()  # it may hold the secret
    got = lines(out)
    assert got[0] == ["#started", "0.1.0"] and got[1] == ["/pop2piano/accepted", "rq1"]
    assert got[-1] == ["#exit", 0]
    done = got[-2]
    assert done[0] == "/pop2piano/done" and done[1] == "rq1" and done[4] > 0
    assert os.path.exists(done[2]) and json.load(open(done[3], encoding="utf-8"))["source"]["path"] == str(odd)


def test_a_waiting_job_sends_heartbeats(daemon, long_song_path, song_path, tmp_path):
    """A job that waits in the queue gets no replies of its own: `send` asks for its status and writes it.

    (The daemon is shared with other modules: the busy job's composer is one no other test converts
    the long song with, so it really runs instead of coming from the cache.)"""
    busy, busy_out = request(tmp_path, daemon.port, "/pop2piano/convert", "hb-busy", long_song_path,
                             "composer", "composer14", "out_dir", str(tmp_path))
    waiting, waiting_out = request(tmp_path, daemon.port, "/pop2piano/convert", "hb-wait", song_path,
                                   "composer", "composer13", "out_dir", str(tmp_path), heartbeat=0.3)
    first = subprocess.Popen([sys.executable, "-m", "bridge", "send", "--request", str(busy)], cwd=ROOT)
    try:
        time.sleep(1.0)
        second = run("send", "--request", str(waiting), timeout=300)
        assert second.returncode == 0, second.stderr
        got = lines(waiting_out)
        alive = [line for line in got if line[0] == "#alive"]
        assert alive and alive[0][1] == "queued", got
        assert got[-2][0] == "/pop2piano/done"
    finally:
        first.wait(300)
    assert lines(busy_out)[-1] == ["#exit", 0]


def test_no_bridge_is_reported_as_not_running(tmp_path):
    req, out = request(tmp_path, free_port(), "/pop2piano/ping")
    result = run("send", "--request", str(req))
    assert result.returncode == 2
    got = lines(out)
    assert got[0][0] == "#started" and got[1][:2] == ["#error", "not_running"] and got[-1] == ["#exit", 2]
    assert "pop2piano-bridge serve" in got[1][2]


def test_a_bad_request_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "job7.request.json"
    bad.write_text("{not json", encoding="utf-8")
    result = run("send", "--request", str(bad))
    assert result.returncode == 3 and b"not UTF-8 JSON" in result.stderr and b"Traceback" not in result.stderr
    # a DAW script waits on X.out.jsonl for X.request.json: it hears of the problem at once
    got = lines(tmp_path / "job7.out.jsonl")
    assert got[0][0] == "#started" and got[1][:2] == ["#error", "bad_request"] and got[-1] == ["#exit", 3]
    req, out = request(tmp_path, 9, "/pop2piano/convert", "j", "a.wav", "reply_port", 1.5)
    result = run("send", "--request", str(req))
    assert result.returncode == 3 and lines(out)[1][:2] == ["#error", "bad_request"]


def test_replies_are_written_in_utf8_whatever_the_console_encoding(daemon, tmp_path):
    """A Windows console redirected to a file writes the ANSI code page (bpo-30410); send writes UTF-8."""
    missing = str(tmp_path / "ü 曲 missing.wav")
    result = run("send", "--port", str(daemon.port), "/pop2piano/convert", "enc1", missing,
                 env={"PYTHONIOENCODING": "cp1252"})
    assert result.returncode == 1
    text = result.stdout.decode("utf-8")
    assert "not_found" in text and "ü 曲 missing.wav" in text


# -- a bridge without a model, and one that logs to a file -------------------------------

def test_a_bridge_without_its_model_answers_and_says_why_then_recovers(model_dir, song_path, tmp_path):
    later = tmp_path / "model arrives later"
    log_file = tmp_path / "bridge.log"
    server = Daemon(str(later), "--no-live", "--log-file", str(log_file)).start()
    try:
        for address, args in (("/pop2piano/ping", []), ("/pop2piano/composers", []),
                              ("/pop2piano/convert", ["nm1", song_path, "duration", 4])):
            req, out = request(tmp_path, server.port, address, *args)
            run("send", "--request", str(req))
            got = lines(out)
            if address.endswith("ping"):
                assert got[1] == ["/pop2piano/pong", "0.1.0"]
            else:
                error = got[-2]
                assert error[0] == "/pop2piano/error" and error[2] == "model_unavailable", got
                assert "huggingface-cli download" in error[3]
        shutil.copytree(model_dir, later)  # the producer fetches the weights: the next job loads them
        req, out = request(tmp_path, server.port, "/pop2piano/convert", "nm2", song_path, "duration", 4,
                           "out_dir", str(tmp_path))
        run("send", "--request", str(req))
        assert lines(out)[-2][0] == "/pop2piano/done"
    finally:
        assert server.stop() == 0
    text = log_file.read_text(encoding="utf-8")
    assert "model unavailable" in text and "listening on udp://127.0.0.1:" in text


def test_a_port_out_of_range_is_one_line_before_the_model_loads(tmp_path):
    started = time.monotonic()
    result = run("serve", "--port", "70000", "--model", str(tmp_path / "no model"), "--no-live")
    assert result.returncode == 1 and time.monotonic() - started < 20
    lines_ = result.stderr.decode().strip().splitlines()
    assert lines_ == ["pop2piano-bridge: error: --port 70000 is not a UDP port (0-65535)"]
