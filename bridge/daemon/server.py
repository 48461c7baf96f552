"""OSC over UDP: translate datagrams into :class:`JobManager` calls and replies back into datagrams.

Replies go to the sender's IP, at the request's ``reply_port`` if it gave one, else the
datagram's source port. A malformed datagram gets ``/pop2piano/error "" bad_request`` (within a
per-peer rate limit); a datagram shaped like one of the bridge's own replies gets nothing;
nothing a client sends can stop the loop.
"""

from __future__ import annotations

import hmac
import logging
import socket
import threading
from typing import Any

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from bridge import __version__
from bridge.daemon.limits import PeerLimiter
from bridge.errors import BridgeError, Forbidden
from bridge.jobs.manager import JobManager
from bridge.protocol import messages as msg
from bridge.protocol.messages import (
    DEFAULT_PORT, Cancel, Composers, Convert, Ping, Play, ProtocolError, Reply, Request, Status, Stop, is_reply,
    parse_request,
)

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
Address = tuple[str, int]


def encode(reply: Reply) -> bytes:
    """An OSC message datagram: ints as i, floats as f, strings as s. Total: any reply can be sent.

    A string that is not valid Unicode text (a file name in a foreign encoding, decoded with
    surrogate escapes) or holds a NUL goes out with those characters escaped: a reply that
    cannot be encoded must never be dropped or garbled, or its client waits forever.
    """
    address, args = reply
    builder = OscMessageBuilder(address=address)
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            arg = str(arg)
        if isinstance(arg, str):
            arg = sendable(arg)
        kind = "i" if isinstance(arg, int) else "f" if isinstance(arg, float) else "s"
        builder.add_arg(arg, kind)
    return builder.build().dgram


def sendable(text: str) -> str:
    """``text`` as an OSC string can carry it: unencodable characters and NULs (OSC strings end at
    the first NUL, so one inside would corrupt the rest of the message) escaped as ``\\x…``. Pure."""
    text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def decode(datagram: bytes) -> tuple[str, list[Any]]:
    """Datagram → (address, args); raises :class:`ProtocolError` for anything but one OSC message."""
    if OscBundle.dgram_is_bundle(datagram):
        raise ProtocolError("OSC bundles are not supported: send one message per datagram")
    try:
        message = OscMessage(datagram)
    except Exception as exc:  # python-osc raises ParseError, but also IndexError & co. on garbage
        raise ProtocolError(f"not an OSC message ({type(exc).__name__})") from None
    return message.address, list(message.params)


def split_secret(args: list[Any]) -> tuple[list[Any], str | None]:
    """Remove a trailing ``"secret", <value>`` pair (allowed on every request). Pure."""
    if len(args) >= 2 and args[-2] == "secret" and isinstance(args[-1], str):
        return args[:-2], args[-1]
    return args, None


# A burst of requests (a script sending many at once) lands in the socket's receive buffer
# while the reading thread is busy; Linux's default 208 KiB holds ~200 small datagrams and
# drops the rest silently (measured: 4 clients × 60 requests lost pings and converts).
RECEIVE_BUFFER = 4 * 1024 * 1024


def grow_receive_buffer(sock: socket.socket, wanted: int = RECEIVE_BUFFER) -> int:
    """Ask for a bigger receive buffer, halving until the OS accepts; return what it gives."""
    size = wanted
    while size >= 65536:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            break
        except OSError:  # macOS refuses sizes above kern.ipc.maxsockbuf
            size //= 2
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


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

    def attach(self, manager: JobManager) -> None:
        self.manager = manager

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
                self._refuse(source[:2], msg.error("", "internal", "unexpected failure; see the bridge log"),
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
            self._refuse(source, msg.error("", exc.code, exc.message), exc.message)
            return
        if is_reply(address, args):
            log.debug("ignored a reply-shaped datagram %s from %s", address, source)
            return
        args, secret = split_secret(args)
        if not self._authentic(secret):
            # Before authentication say little: no parsing details, no job id echoed.
            self._refuse(source, msg.error("", Forbidden.code, FORBIDDEN), "a request without the right secret")
            return
        try:
            request = parse_request(address, args)
        except ProtocolError as exc:
            self._refuse(source, msg.error(exc.job_id, exc.code, exc.message), exc.message)
            return
        target = (source[0], request.reply_port or source[1])
        job_id = getattr(request, "job_id", "")
        try:
            reply = self.dispatch(request, target)
        except BridgeError as exc:
            reply = msg.error(job_id, exc.code, exc.message)
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
        """One request → at most one immediate reply (jobs reply later through the manager)."""
        manager = self.manager
        assert manager is not None, "attach a JobManager first"
        if isinstance(request, Ping):
            return msg.pong(__version__)
        if isinstance(request, Composers):
            return msg.composers(manager.composers)
        if isinstance(request, Convert):
            manager.submit(request, target)
            return None
        if isinstance(request, Cancel):
            manager.cancel(request.job_id, target)
            return None
        if isinstance(request, Status):
            state, fraction = manager.status(request.job_id)
            return msg.status(request.job_id, state, fraction)
        if isinstance(request, Play):
            manager.play(request.job_id, request.from_seconds)
            return msg.playing(request.job_id, request.from_seconds)
        if isinstance(request, Stop):
            manager.stop()
            return msg.stopped()
        raise ProtocolError(f"unhandled request {type(request).__name__}")

    def _authentic(self, given: str | None) -> bool:
        if not self.secret:
            return True
        return hmac.compare_digest((given or "").encode(), self.secret.encode())


FORBIDDEN = "this bridge needs its shared secret on every request"


def _local_addresses(bound: str) -> frozenset[str]:
    """Addresses that reach this socket: loopback, the bound address, and (bound to any) the host's own."""
    hosts = {bound, "127.0.0.1", "::1", "localhost"}
    if bound in ("0.0.0.0", "::", ""):
        try:
            hosts |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    return frozenset(hosts)
