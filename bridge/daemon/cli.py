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
from typing import TYPE_CHECKING

from bridge import __version__
from bridge.daemon.send import send_command, send_request
from bridge.engine.planning import LIVE_STARTS, UNBROKEN
from bridge.errors import BadRequest, MidiUnavailable, ModelUnavailable
from bridge.output.ports import API_NAMES, DEFAULT_MIDI_PORT, api_name

if TYPE_CHECKING:
    from bridge.daemon.server import OscServer
    from bridge.jobs.inference import Engine
    from bridge.jobs.manager import JobManager
from bridge.protocol import DEFAULT_PORT

log = logging.getLogger("bridge.daemon")

SECRET_ENV = "POP2PIANO_BRIDGE_SECRET"


ArgumentAdder = Callable[[argparse.ArgumentParser], None]


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], add_model_args: ArgumentAdder,
                 add_common: ArgumentAdder) -> None:
    serve = sub.add_parser("serve", help="run the bridge daemon for the DAW scripts (OSC over UDP)")
    add_model_args(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT)
    serve.add_argument("--secret", default=os.environ.get(SECRET_ENV),
                       help=f"shared secret every request must carry (required beyond loopback; env {SECRET_ENV})")
    serve.add_argument("--midi-port-name", default=DEFAULT_MIDI_PORT, help="virtual (or, on Windows, loopMIDI) port")
    serve.add_argument("--midi-api", default=None, type=_api,
                       help="MIDI API for live MIDI: jack, alsa, coremidi, winmm (or rtmidi's names: "
                       f"{', '.join(API_NAMES)}); default: the first that works")
    serve.add_argument("--no-live", action="store_true", help="do not open a MIDI port (file output only)")
    serve.add_argument("--queue", type=int, default=8,
                       help="jobs that may wait while one runs (0: none wait; beyond it a convert is answered busy)")
    serve.add_argument("--max-file-mb", type=float, default=2048.0, help="largest audio file accepted")
    serve.add_argument("--max-minutes", type=float, default=30.0, help="longest clip accepted")
    serve.add_argument("--batch-size", type=int, default=None, metavar="ROWS",
                       help="chunks generated together at most (default 128; more uses more memory)")
    serve.add_argument("--live-start", choices=LIVE_STARTS, default=UNBROKEN,
                       help="live preview: start once it will play through without stopping (unbroken), or at the "
                       "first notes (earlier; may stop to wait for the opening)")
    serve.add_argument("--watchdog", type=float, default=None, metavar="SECONDS",
                       help="end a job whose inference process shows no sign of life for this long and restart "
                       "the process (default: 20 s where its CPU time can be read, as on Linux; 120 s elsewhere)")
    serve.add_argument("--log-file", metavar="PATH",
                       help="append everything the bridge (and the libraries under it) prints to this file: "
                       "for a bridge started in the background by a DAW script")
    serve.add_argument("--in-process", action="store_true",
                       help="run inference in the daemon's process (slower replies and live timing while converting)")
    add_common(serve)
    serve.set_defaults(handler=_serve)

    send = sub.add_parser("send", help="send one OSC message to the bridge and print the replies",
                          description="Send one message and print the replies until the request ends. A job "
                          "(convert, cancel) is followed as long as the bridge reports it alive. Arguments are "
                          "typed by the protocol's table; where it says nothing, prefix i: f: s: to force a type.")
    send.add_argument("address", nargs="?", help="e.g. /pop2piano/ping or /pop2piano/convert")
    send.add_argument("args", nargs=argparse.REMAINDER, help="the message's arguments")
    send.add_argument("--request", metavar="FILE",
                      help="read address, arguments, port and secret from a JSON request file and write the "
                      "replies as JSON lines to the file it names (for DAW scripts: no shell needed; "
                      "see docs/protocol.md)")
    send.add_argument("--host", default="127.0.0.1")
    send.add_argument("--port", type=int, default=DEFAULT_PORT)
    send.add_argument("--timeout", type=float, default=None,
                      help="give up on a job after this many seconds (default: wait while the bridge says it is alive)")
    send.add_argument("--secret", default=os.environ.get(SECRET_ENV), help=f"shared secret (env {SECRET_ENV})")
    add_common(send)
    send.set_defaults(handler=_send)


def _api(text: str) -> str:
    try:
        return api_name(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    # Imported here, not at the top: `send` runs through this module too, and a DAW script starts
    # one per request, so its start-up stays free of the daemon's audio, MIDI and job modules.
    from bridge.daemon.server import OscServer
    from bridge.jobs.manager import JobManager, Limits
    from bridge.output.live import port_player

    _check_serve_args(args)
    if args.log_file:
        _log_to_file(args.log_file)
    logging.getLogger("bridge").setLevel(logging.INFO if args.verbose or args.log_file else logging.WARNING)
    # The socket first: a port in use is one line at once, not after loading the model.
    # Requests that arrive while the model loads wait in the socket's buffer.
    try:
        server = OscServer(args.host, args.port, secret=args.secret)
    except OSError as exc:
        raise BadRequest(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
    try:
        engine = _engine(args)
    except BaseException:
        server.close()
        raise
    live = None if args.no_live else (lambda: port_player(args.midi_port_name, args.midi_api))
    manager = JobManager(engine, server, live=live, max_queue=args.queue,
                         limits=Limits(args.max_file_mb * 1e6, args.max_minutes * 60))
    server.attach(manager)
    banner = (f"pop2piano-bridge {__version__} listening on udp://{server.address[0]}:{server.address[1]} "
              f"({_model_state(engine)}, live MIDI {_open_live(manager, args)})")
    print(banner, flush=True)
    log.info("%s", banner)
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda number, _frame: _stop(server, number))
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


def _stop(server: OscServer, signum: int) -> None:
    log.info("signal %s: shutting down", signum)
    server.stop()


def _check_serve_args(args: argparse.Namespace) -> None:
    """Everything ``serve`` can refuse before it opens anything, each as one line."""
    if not _is_loopback(args.host) and not args.secret:
        raise BadRequest(f"listening on {args.host} (beyond loopback) needs a secret ({SECRET_ENV}, or --secret)")
    if not 0 <= args.port <= 65535:
        raise BadRequest(f"--port {args.port} is not a UDP port (0-65535)")
    if args.queue < 0:
        raise BadRequest(f"--queue {args.queue} must be 0 or more")
    if args.batch_size is not None and not 1 <= args.batch_size <= 4096:
        raise BadRequest("--batch-size must be between 1 and 4096")
    if args.watchdog is not None and args.watchdog <= 0:
        raise BadRequest("--watchdog must be a positive number of seconds")


def _engine(args: argparse.Namespace) -> Engine:
    from bridge.jobs.inference import (  # see _serve
        EngineSettings,
        LocalEngine,
        ProcessEngine,
    )

    settings = EngineSettings(args.model, args.device, args.activation, args.recipe, args.beat_tracker,
                              args.precision, args.batch_size, args.live_start)
    if args.in_process:
        return LocalEngine(settings.build())
    return ProcessEngine(settings, require_model=False, watchdog_s=args.watchdog)


def _model_state(engine: Engine) -> str:
    try:
        return f"model {engine.info.model_id}"
    except ModelUnavailable as exc:
        return f"model unavailable: {exc.message}"


def _open_live(manager: JobManager, args: argparse.Namespace) -> str:
    """Open the live port now, so a DAW can route it before the first job; say how that went."""
    if args.no_live:
        return "off"
    try:
        manager.open_live()
    except MidiUnavailable as exc:
        log.warning("%s", exc.message)
        return f"unavailable ({exc.message})"
    return f"port {args.midi_port_name!r}"


def _log_to_file(path: str) -> None:
    """Send stdout, stderr and the log to ``path`` (appending): a bridge a DAW started has no console.

    The file descriptors themselves are redirected, so what C libraries print (ALSA, JACK) lands
    there too; under ``pythonw`` (Windows, no console) the streams are created here.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as exc:
        raise BadRequest(f"cannot write the log file {path}: {exc.strerror}") from None
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = open(1, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", buffering=1, closefd=False)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
            handler.setStream(sys.stderr)


def _send(args: argparse.Namespace) -> int:
    if args.request:
        if args.address:
            raise BadRequest("send --request FILE takes no address or arguments: they are in the file")
        return send_request(args.request, args.secret)
    if not args.address:
        raise BadRequest("send needs an address, e.g. /pop2piano/ping (or --request FILE)")
    return send_command(args.address, args.args, args.host, args.port, args.secret, args.timeout)
