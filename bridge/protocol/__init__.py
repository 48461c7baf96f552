"""The OSC API v1, apart from any transport: the codec, the requests table, the replies. Pure.

The one front door for everything that speaks the protocol (the daemon's UDP server, the
``send`` client, tests): requests come in through :func:`parse_request`, replies go out through
the builders in :mod:`bridge.protocol.replies`. Documented in docs/protocol.md.
"""

from bridge.errors import ProtocolError
from bridge.protocol.osc import (
    MAX_DATAGRAM,
    Message,
    decode,
    encode,
    sendable,
    split_secret,
)
from bridge.protocol.replies import FINAL_REPLIES, REPLIES, Reply, is_reply
from bridge.protocol.requests import (
    CONVERT_OPTIONS,
    DEFAULT_LISTEN_PORT,
    DEFAULT_PORT,
    OUTPUTS,
    PREFIX,
    REQUESTS,
    Cancel,
    Composers,
    Convert,
    Ping,
    Play,
    Request,
    Spec,
    Status,
    Stop,
    parse_request,
)

__all__ = [
    "CONVERT_OPTIONS", "DEFAULT_LISTEN_PORT", "DEFAULT_PORT", "FINAL_REPLIES", "MAX_DATAGRAM", "OUTPUTS", "PREFIX",
    "REPLIES", "REQUESTS", "Cancel", "Composers", "Convert", "Message", "Ping", "Play", "ProtocolError", "Reply",
    "Request", "Spec", "Status", "Stop", "decode", "encode", "is_reply", "parse_request", "sendable", "split_secret",
]
