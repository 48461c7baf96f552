"""OSC over UDP: datagrams in, job-manager calls, job events and replies back out as datagrams.

Replies go to the sender's IP, at the request's ``reply_port`` if it gave one, else the
datagram's source port. A malformed datagram gets ``/pop2piano/error "" bad_request`` (within a
per-peer rate limit); a datagram shaped like one of the bridge's own replies gets nothing;
nothing a client sends can stop the loop. The protocol itself (codec, requests, replies) is
:mod:`bridge.protocol`; this module is transport and translation only.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from bridge import __version__
from bridge.daemon.limits import PeerLimiter
from bridge.daemon.udp import grow_receive_buffer
from bridge.errors import BridgeError, Forbidden, ProtocolError
from bridge.jobs.api import (
    JobAccepted,
    JobCancelled,
    JobDone,
    JobEvent,
    JobFailed,
    JobProgress,
    JobRequest,
    JobStyleDone,
)
from bridge.jobs.manager import JobManager
from bridge.protocol import (
    DEFAULT_PORT,
    MAX_DATAGRAM,
    Cancel,
    Composers,
    Convert,
    Ping,
    Play,
    Reply,
    Request,
    Status,
    Stop,
    decode,
    encode,
    is_reply,
    parse_request,
    replies,
    split_secret,
)
from bridge.protocol.requests import styles_in

log = logging.getLogger(__name__)

Address = tuple[str, int]
FORBIDDEN = "this bridge needs its shared secret on every request"


def job_request(request: Convert) -> JobRequest:
    """The protocol's convert request as the job core's plain request. Pure."""
    styles, every = styles_in(request.composer)
    return JobRequest(request.job_id, request.audio_path, None if styles or every else request.composer,
                      request.start, request.duration, request.playrate, request.tempo, request.output,
                      request.out_dir, request.grid_bpm, request.grid_offset, request.beats_file, styles, every)


def reply_for(event: JobEvent) -> Reply:
    """A job event as the OSC reply that announces it. Pure."""
    if isinstance(event, JobAccepted):
        return replies.accepted(event.job_id)
    if isinstance(event, JobProgress):
        return replies.progress(event.job_id, event.fraction, event.stage)
    if isinstance(event, JobStyleDone):
        return replies.done_style(event.job_id, event.composer, event.midi_path, event.notes_path, event.note_count)
    if isinstance(event, JobDone):
        return replies.done(event.job_id, event.midi_path, event.notes_path, event.note_count)
    if isinstance(event, JobFailed):
        return replies.error(event.job_id, event.code, event.message)
    if isinstance(event, JobCancelled):
        return replies.cancelled(event.job_id)
    raise TypeError(f"no reply for {type(event).__name__}")


class OscServer:
    """Owns the UDP socket; one thread reads it, the job manager's worker sends from it too.

    What it never does (each one a way to start a reply loop or a flood): answer a datagram
    shaped like one of its own replies, send to its own address, or answer malformed or
    unauthenticated datagrams faster than :class:`~bridge.daemon.limits.PeerLimiter` allows.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, secret: str | None = None) -> None:
        self.secret = secret
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.receive_buffer = grow_receive_buffer(self.sock)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address: Address = self.sock.getsockname()[:2]
        self._own_hosts = _local_addresses(self.address[0])
        self.manager: JobManager | None = None
        self.limiter = PeerLimiter()
        self._stopping = threading.Event()
        self._send_lock = threading.Lock()
        # Each request type's handler: one request in, at most one immediate reply out
        # (jobs answer later, through their events). A test checks every request has one.
        self.handlers: dict[type, Callable[[Any, Address], Reply | None]] = {
            Ping: self._ping, Composers: self._composers, Convert: self._convert, Cancel: self._cancel,
            Status: self._status, Play: self._play, Stop: self._stop,
        }

    def attach(self, manager: JobManager) -> None:
        self.manager = manager
    def on_event(self, event: JobEvent, target: Address) -> None:
        """The job manager's listener: each job event goes out as its reply."""
        self.send(target, reply_for(event))

    def is_own_address(self, target: Address) -> bool:
        """Whether ``target`` is this very socket (a reply there would come straight back in)."""
        return target[1] == self.address[1] and target[0] in self._own_hosts

    def send(self, target: Address, reply: Reply) -> None:
        if self.is_own_address(target):
            verdict = self.limiter.trouble(target[0], f"a reply to the bridge's own address was not sent ({reply[0]})")
            if verdict.log:
                log.warning("%s", verdict.log)
            return
        data = encode(reply)
        with self._send_lock:
            try:
                self.sock.sendto(data, target)
            except OSError as exc:
                log.warning("reply %s to %s failed: %s", reply[0], target, exc)

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                data, source = self.sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stopping.is_set():
                    break
                log.warning("receive failed: %s", exc)
                continue
            try:
                self.handle(data, source[:2])
            except Exception:  # the loop outlives any bug in one request
                log.exception("unexpected failure handling a datagram from %s", source)
                self._refuse(source[:2], replies.error("", "internal", "unexpected failure; see the bridge log"),
                             "unexpected failure")

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        self.sock.close()

    def handle(self, data: bytes, source: Address) -> None:
        if self.is_own_address(source):
            return  # our own datagram came back
        try:
            address, args = decode(data)
        except ProtocolError as exc:
            self._refuse(source, replies.error("", exc.code, exc.message), exc.message)
            return
        if is_reply(address, args):
            log.debug("ignored a reply-shaped datagram %s from %s", address, source)
            return
        args, secret = split_secret(args)
        if not self._authentic(secret):
            # Before authentication say little: no parsing details, no job id echoed.
            self._refuse(source, replies.error("", Forbidden.code, FORBIDDEN), "a request without the right secret")
            return
        try:
            request = parse_request(address, args)
        except ProtocolError as exc:
            self._refuse(source, replies.error(exc.job_id, exc.code, exc.message), exc.message)
            return
        target = (source[0], request.reply_port or source[1])
        job_id = getattr(request, "job_id", "")
        try:
            reply = self.dispatch(request, target)
        except BridgeError as exc:
            reply = replies.error(job_id, exc.code, exc.message)
        if reply is not None:
            self.send(target, reply)

    def _refuse(self, peer: Address, reply: Reply, what: str) -> None:
        """Answer a datagram we could not accept, within the peer's rate limit; log once per flood."""
        verdict = self.limiter.trouble(peer[0], what)
        if verdict.log:
            log.warning("refused a request from %s", verdict.log)
        if verdict.answer:
            self.send(peer, reply)

    def dispatch(self, request: Request, target: Address) -> Reply | None:
        """One request → its handler → at most one immediate reply."""
        return self.handlers[type(request)](request, target)

    # -- handlers --------------------------------------------------------------------------
    def _ping(self, request: Ping, target: Address) -> Reply:
        return replies.pong(__version__)

    def _composers(self, request: Composers, target: Address) -> Reply:
        return replies.composers(self._manager().composers)

    def _convert(self, request: Convert, target: Address) -> None:
        self._manager().submit(job_request(request), target)  # it answers through its events

    def _cancel(self, request: Cancel, target: Address) -> None:
        self._manager().cancel(request.job_id, target)

    def _status(self, request: Status, target: Address) -> Reply:
        state, fraction = self._manager().status(request.job_id)
        return replies.status(request.job_id, state, fraction)

    def _play(self, request: Play, target: Address) -> Reply:
        self._manager().play(request.job_id, request.from_seconds, request.composer)
        return replies.playing(request.job_id, request.from_seconds)

    def _stop(self, request: Stop, target: Address) -> Reply:
        self._manager().stop()
        return replies.stopped()

    def _manager(self) -> JobManager:
        assert self.manager is not None, "attach a JobManager first"
        return self.manager

    def _authentic(self, given: str | None) -> bool:
        if not self.secret:
            return True
        return hmac.compare_digest((given or "").encode(), self.secret.encode())


def _local_addresses(bound: str) -> frozenset[str]:
    """Addresses that reach this socket: loopback, the bound address, and (bound to any) the host's own."""
    hosts = {bound, "127.0.0.1", "::1", "localhost"}
    if bound in ("0.0.0.0", "::", ""):
        try:
            hosts |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return frozenset(hosts)
