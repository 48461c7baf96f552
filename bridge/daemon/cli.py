"""``serve`` and ``send``: the daemon's command-line frontends."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from bridge import __version__
from bridge.errors import BadRequest, MidiUnavailable

log = logging.getLogger("bridge.daemon")

DEFAULT_PORT = 9310
DEFAULT_MIDI_PORT = "Pop2Piano Bridge"
SECRET_ENV = "POP2PIANO_BRIDGE_SECRET"


def add_commands(sub, add_model_args: Callable, add_common: Callable) -> None:
    serve = sub.add_parser("serve", help="run the bridge daemon for the DAW scripts (OSC over UDP)")
    add_model_args(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--secret", default=os.environ.get(SECRET_ENV),
                       help=f"shared secret every request must carry (required beyond loopback; env {SECRET_ENV})")
    serve.add_argument("--midi-port-name", default=DEFAULT_MIDI_PORT, help="virtual (or, on Windows, loopMIDI) port")
    serve.add_argument("--midi-api", default=None, choices=("LINUX_ALSA", "UNIX_JACK", "MACOSX_CORE", "WINDOWS_MM"),
                       help="rtmidi API for live MIDI (default: the first that works)")
    serve.add_argument("--no-live", action="store_true", help="do not open a MIDI port (file output only)")
    serve.add_argument("--queue", type=int, default=8, help="jobs that may wait (beyond it: busy)")
    serve.add_argument("--max-file-mb", type=float, default=2048.0, help="largest audio file accepted")
    serve.add_argument("--max-minutes", type=float, default=30.0, help="longest clip accepted")
    serve.add_argument("--in-process", action="store_true",
                       help="run inference in the daemon's process (slower replies and live timing while converting)")
    add_common(serve)
    serve.set_defaults(handler=_serve)

    send = sub.add_parser("send", help="send one OSC message to the bridge and print the replies")
    send.add_argument("address", help="e.g. /pop2piano/ping or /pop2piano/convert")
    send.add_argument("args", nargs=argparse.REMAINDER, help="arguments; prefix i: f: s: to force a type")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=DEFAULT_PORT)
    send.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for a job to end")
    send.add_argument("--secret", default=os.environ.get(SECRET_ENV), help=f"shared secret (env {SECRET_ENV})")
    add_common(send)
    send.set_defaults(handler=_send)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    from bridge.daemon.server import OscServer
    from bridge.jobs.engine import EngineSettings, LocalEngine, ProcessEngine
    from bridge.jobs.manager import JobManager, Limits
    from bridge.output.live import port_player

    if not _is_loopback(args.host) and not args.secret:
        raise BadRequest(f"listening on {args.host} (beyond loopback) needs --secret (or {SECRET_ENV})")
    logging.getLogger("bridge").setLevel(logging.INFO if args.verbose else logging.WARNING)
    settings = EngineSettings(args.model, args.device, args.activation, args.recipe, args.beat_tracker,
                              args.precision)
    engine = LocalEngine(settings.build()) if args.in_process else ProcessEngine(settings)
    try:
        server = OscServer(args.host, args.port, secret=args.secret)
    except OSError as exc:
        engine.close()
        raise BadRequest(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    live = None if args.no_live else (lambda: port_player(args.midi_port_name, args.midi_api))
    manager = JobManager(engine, server.send, live=live, max_queue=args.queue,
                         limits=Limits(args.max_file_mb * 1e6, args.max_minutes * 60))
    server.attach(manager)
    live_state = "off"
    if live is not None:
        try:
            manager._live()  # open the port now, so the DAW can route it before the first job
            live_state = f"port {args.midi_port_name!r}"
        except MidiUnavailable as exc:
            live_state = f"unavailable ({exc.message})"
            log.warning("%s", exc.message)

    def on_signal(signum, _frame) -> None:
        log.info("signal %s: shutting down", signum)
        server.stop()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    host, port = server.address
    print(f"pop2piano-bridge {__version__} listening on udp://{host}:{port} "
          f"(model {engine.info.model_id}, live MIDI {live_state})", flush=True)
    try:
        server.serve_forever()
    finally:
        manager.shutdown()
        server.close()
        print("pop2piano-bridge stopped", flush=True)
    # Everything is closed and flushed. Leave without running third-party destructors: an
    # rtmidi JACK client whose server died crashes libjack when it is finally freed.
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0)


def _send(args: argparse.Namespace) -> int:
    from bridge.client import exchange, type_args

    try:
        values = type_args(args.address, args.args)
        if args.secret:
            values += ["secret", args.secret]
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    status = 0
    try:
        for address, reply_args in exchange(args.address, values, args.host, args.port, args.timeout):
            print("\t".join([address, *(str(a) for a in reply_args)]), flush=True)
            if address.endswith("/error"):
                status = 1
    except TimeoutError as exc:
        print(f"pop2piano-bridge: error: {exc} from the bridge at {args.host}:{args.port}; "
              "is it running? Start it with `pop2piano-bridge serve`", file=sys.stderr)
        return 2
    return status
