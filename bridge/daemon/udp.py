"""UDP sockets for OSC: what the server and the ``send`` client both need of one."""

from __future__ import annotations

import socket

# A burst of requests (a script sending many at once) lands in the socket's receive buffer
# while the reading thread is busy; Linux's default 208 KiB holds ~200 small datagrams and
# drops the rest silently (measured: 4 clients × 60 requests lost pings and converts). A client
# of many jobs gets bursts of replies the same way.
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
