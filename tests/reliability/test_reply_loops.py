"""Reply loops and floods, against real daemons over real UDP: a reply is never answered, the bridge
never sends to itself, and what it says to peers it cannot trust is rate-limited and logged once."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from processes import Daemon, Peer

from bridge.daemon.limits import BURST, RATE, PeerLimiter
from bridge.jobs.inference import cpu_seconds
from bridge.protocol import decode, encode, is_reply, parse_request, sendable
from bridge.protocol import replies as msg

SECRET = "s3cret"


def busy_seconds(pid: int, seconds: float = 2.0) -> float:
    """CPU time ``pid`` uses over the next ``seconds`` (a reply loop keeps a core busy)."""
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return cpu_seconds(pid) - before


@pytest.fixture(scope="module")
def daemon(shared_daemon):
    return shared_daemon


@pytest.fixture(scope="module")
def guarded(model_dir):
    server = Daemon(model_dir, "--no-live", env={"POP2PIANO_BRIDGE_SECRET": SECRET}).start()
    yield server
    assert server.stop() == 0


# -- pure: every reply the bridge can send is recognised as one ----------------------------

text = st.text(max_size=30)
number = st.floats(allow_nan=False, allow_infinity=False, width=32)
replies = st.one_of(
    st.builds(msg.pong, text), st.builds(msg.accepted, text), st.builds(msg.progress, text, number, text),
    st.builds(msg.done, text, text, text, st.integers(0, 10**6)), st.builds(msg.error, text, text, text),
    st.builds(msg.cancelled, text), st.builds(msg.status, text, text, number),
    st.builds(msg.composers, st.lists(text, min_size=1, max_size=30)), st.builds(msg.stopped),
    st.builds(msg.playing, text, number),
)


@settings(max_examples=500, deadline=None)
@given(reply=replies)
def test_every_reply_the_bridge_sends_is_recognised_as_a_reply(reply):
    address, args = decode(encode(reply))
    assert is_reply(address, args)


@pytest.mark.parametrize("address,args", [
    ("/pop2piano/ping", []), ("/pop2piano/ping", [9000]), ("/pop2piano/status", ["j1"]),
    ("/pop2piano/status", ["j1", 9000]), ("/pop2piano/composers", []), ("/pop2piano/composers", [9000]),
    ("/pop2piano/convert", ["j", "/a.wav"]), ("/pop2piano/cancel", ["j"]), ("/pop2piano/stop", []),
    ("/pop2piano/play", ["j", 1.0]),
])
def test_no_request_is_mistaken_for_a_reply(address, args):
    assert not is_reply(address, args)
    parse_request(address, args)


@settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=40))
def test_any_text_can_be_sent(value):
    """A reply holding a name that is not valid Unicode (surrogate escapes) is still sent, never dropped."""
    broken = value + "\udcff"
    address, args = decode(encode(msg.done("j", broken, broken, 1)))
    assert address == "/pop2piano/done" and args[1] == sendable(broken) and "\\udcff" in args[1]


def test_peer_limiter_lets_a_burst_through_then_a_steady_rate_and_logs_once():
    now = [0.0]
    limiter = PeerLimiter(burst=5, rate=2, clock=lambda: now[0])
    verdicts = [limiter.trouble("10.0.0.1", "bad") for _ in range(20)]
    assert sum(v.answer for v in verdicts) == 5
    assert [v.log for v in verdicts if v.log] == ["10.0.0.1: bad", "10.0.0.1: too many bad requests; replies to "
                                                   "it are paused (logged once)"]
    now[0] += 1.0  # two tokens later
    assert [limiter.trouble("10.0.0.1", "bad").answer for _ in range(3)] == [True, True, False]
    assert limiter.trouble("10.0.0.2", "bad").answer  # another peer has its own bucket
    now[0] += 60.0  # the flood is over: its summary is logged with the next trouble
    later = limiter.trouble("10.0.0.1", "bad")
    assert later.answer and "earlier replies were not sent" in later.log


def test_the_peer_table_is_bounded():
    limiter = PeerLimiter(max_peers=100)
    for i in range(10_000):
        limiter.trouble(f"10.0.{i // 256}.{i % 256}", "spoofed")
    assert len(limiter._peers) == 100


# -- real daemons ------------------------------------------------------------------------

@pytest.mark.skipif(not shutil.which("oscsend"), reason="needs liblo-tools (oscsend)")
def test_a_ping_whose_reply_port_is_the_bridge_itself_does_not_loop(daemon):
    """`oscsend localhost 9310 /pop2piano/ping i 9310`: the pong would come straight back in."""
    subprocess.run(["oscsend", "localhost", str(daemon.port), "/pop2piano/ping", "i", str(daemon.port)], check=True)
    assert busy_seconds(daemon.proc.pid) < 0.3
    peer = Peer(daemon.port)
    try:
        peer.send("/pop2piano/ping")
        assert peer.receive(5) == ("/pop2piano/pong", ["0.1.0"])
    finally:
        peer.close()


def test_two_bridges_never_answer_each_others_errors(daemon, guarded):
    """A ping without the secret to a guarded bridge, its reply port set to another bridge, used to start
    an endless error ping-pong. An unauthenticated request's answer goes only to its own source, and a
    bridge never answers anything shaped like a reply (`error`, or `status`/`composers` replies that
    share a request's name)."""
    peer = Peer(guarded.port)
    try:
        peer.send("/pop2piano/ping", daemon.port)
        assert peer.receive(5) == ("/pop2piano/error", ["", "forbidden", msg_forbidden()])
        for reply in (msg.error("", "forbidden", msg_forbidden()), msg.status("j", "running", 0.5),
                      msg.composers(["composer1"]), msg.pong("0.1.0")):
            peer.sock.sendto(encode(reply), ("127.0.0.1", daemon.port))
        assert busy_seconds(guarded.proc.pid) < 0.3 and busy_seconds(daemon.proc.pid) < 0.3
        with pytest.raises(OSError):
            peer.receive(0.5)  # the other bridge answered none of them
    finally:
        peer.close()


def test_a_guarded_bridge_says_little_before_authentication(guarded):
    peer = Peer(guarded.port)
    try:
        peer.send("/pop2piano/convert", "job-x", "relative.wav", "start", "not a number")
        assert peer.receive(5) == ("/pop2piano/error", ["", "forbidden", msg_forbidden()])
        peer.send("/pop2piano/ping", "secret", SECRET)
        assert peer.receive(5) == ("/pop2piano/pong", ["0.1.0"])
        peer.send("/pop2piano/convert", "job-y", "relative.wav", "secret", SECRET)
        address, args = peer.receive(5)
        assert address == "/pop2piano/error" and args[:2] == ["job-y", "bad_request"] and "absolute" in args[2]
    finally:
        peer.close()


def msg_forbidden() -> str:
    from bridge.daemon.server import FORBIDDEN

    return FORBIDDEN


def test_a_flood_of_malformed_datagrams_gets_rate_limited_answers_and_one_log_line(model_dir):
    server = Daemon(model_dir, "--no-live").start()
    peer = Peer(server.port)
    try:
        started = time.monotonic()
        for i in range(2000):
            peer.send_raw(b"\x00garbage" + str(i).encode())
        elapsed = time.monotonic() - started
        answered = 0
        while True:
            try:
                peer.receive(0.5)
                answered += 1
            except OSError:
                break
        assert 0 < answered <= BURST + RATE * (elapsed + 1.0) + 5
        peer.send("/pop2piano/ping")  # a well-formed request is answered at once, flood or not
        assert peer.receive(5) == ("/pop2piano/pong", ["0.1.0"])
    finally:
        peer.close()
        assert server.stop() == 0
        log = server.stderr_text
    lines = [line for line in log.splitlines() if "127.0.0.1" in line]
    assert 1 <= len(lines) <= 3, log[-2000:]  # the peer is named, once per flood, not per packet
