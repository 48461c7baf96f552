"""Per-peer rate limits for what the bridge says to peers it cannot trust yet. Pure: no sockets.

An error reply to a malformed or unauthenticated datagram is what a flood (or a reply loop
with another program) feeds on, so those replies come from a token bucket per peer address.
Each peer's trouble is logged once when it starts and once, with a count, when it is over,
not once per packet. The peer table is bounded, so spoofed source addresses cannot grow it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

# A client that sends a few bad requests gets every answer; a flood gets ~RATE per second.
BURST, RATE = 50.0, 20.0
MAX_PEERS = 1024
# After this long without trouble a peer's flood counts as over (its summary is logged).
QUIET_S = 10.0


@dataclass
class _Peer:
    tokens: float
    updated: float
    suppressed: int = 0
    noted: bool = False
    last_trouble: float = field(default=0.0)


@dataclass(frozen=True)
class Verdict:
    """Whether to answer this datagram, and what (if anything) to log about the peer now."""

    answer: bool
    log: str = ""


class PeerLimiter:
    """A token bucket per peer for error replies, with once-per-flood log lines."""

    def __init__(self, burst: float = BURST, rate: float = RATE, clock: Callable[[], float] = time.monotonic,
                 max_peers: int = MAX_PEERS) -> None:
        self.burst, self.rate, self.clock, self.max_peers = burst, rate, clock, max_peers
        self._peers: OrderedDict[Hashable, _Peer] = OrderedDict()

    def trouble(self, peer: Hashable, what: str) -> Verdict:
        """The peer sent something bad (``what``): may we answer it, and is there something to log?"""
        now = self.clock()
        state = self._peers.get(peer)
        log = ""
        if state is None:
            state = _Peer(self.burst, now)
            self._peers[peer] = state
            while len(self._peers) > self.max_peers:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
            if state.noted and now - state.last_trouble > QUIET_S:
                log = f"{peer}: {state.suppressed} earlier replies were not sent (flood over)"
                state.noted, state.suppressed = False, 0
        state.tokens = min(self.burst, state.tokens + (now - state.updated) * self.rate)
        state.updated = now
        state.last_trouble = now
        if state.tokens >= 1.0:
            state.tokens -= 1.0
            if not state.noted and not log:
                log = f"{peer}: {what}"
                state.noted = True
            return Verdict(True, log)
        state.suppressed += 1
        if state.suppressed == 1:
            log = f"{peer}: too many bad requests; replies to it are paused (logged once)"
        return Verdict(False, log)
