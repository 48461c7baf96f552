"""OSC over UDP: translate datagrams into :class:`JobManager` calls and replies back into datagrams.

Replies go to the sender's IP, at the request's ``reply_port`` if it gave one, else the
datagram's source port. Every malformed datagram gets ``/pop2piano/error "" bad_request``;
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
from bridge.errors import BridgeError, Forbidden
from bridge.jobs.manager import JobManager
from bridge.protocol import messages as msg
from bridge.protocol.messages import (
    DEFAULT_PORT, Cancel, Composers, Convert, Ping, Play, ProtocolError, Reply, Request, Status, Stop, parse_request,
)

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
Address = tuple[str, int]


def encode(reply: Reply) -> bytes:
    """An OSC message datagram: ints as i, floats as f, strings as s."""
    address, args = reply
    builder = OscMessageBuilder(address=address)
    for arg in args:
        if isinstance(arg, bool) or not isinstance(arg, (int, float, str)):
            arg = str(arg)
        kind = "i" if isinstance(arg, int) else "f" if isinstance(arg, float) else "s"
        builder.add_arg(arg, kind)
    return builder.build().dgram


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
    """Owns the UDP socket; one thread reads it, the job manager's worker sends from it too."""

    def __init__(self, host: str = "127.0.0.1", port: int = DEFAULT_PORT, secret: str | None = None) -> None:
        self.secret = secret
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.receive_buffer = grow_receive_buffer(self.sock)
        self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address: Address = self.sock.getsockname()[:2]
        self.manager: JobManager | None = None
        self._stopping = threading.Event()
        self._send_lock = threading.Lock()

    def attach(self, manager: JobManager) -> None:
        self.manager = manager

    def send(self, target: Address, reply: Reply) -> None:
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
                self.send(source[:2], msg.error("", "internal", "unexpected failure; see the bridge log"))

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        self.stop()
        self.sock.close()

    def handle(self, data: bytes, source: Address) -> None:
        try:
            address, args = decode(data)
            args, secret = split_secret(args)
            request = parse_request(address, args)
        except ProtocolError as exc:
            log.info("bad request from %s: %s", source, exc.message)
            self.send(source, msg.error(exc.job_id, exc.code, exc.message))
            return
        target = (source[0], request.reply_port or source[1])
        job_id = getattr(request, "job_id", "")
        try:
            self._check_secret(secret)
            reply = self.dispatch(request, target)
        except BridgeError as exc:
            reply = msg.error(job_id, exc.code, exc.message)
        if reply is not None:
            self.send(target, reply)

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

    def _check_secret(self, given: str | None) -> None:
        if not self.secret:
            return
        if not hmac.compare_digest((given or "").encode(), self.secret.encode()):
            log.warning("refused a request without the right shared secret")
            raise Forbidden("this bridge needs the shared secret: end every request with: secret <value>")
