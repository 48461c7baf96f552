"""Command line: ``pop2piano-bridge convert | doctor | serve | send``.

A frontend only: it parses arguments, calls the engine (or the daemon) and renders the
result. Every :class:`bridge.errors.BridgeError` becomes one line on stderr and exit 1.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from bridge import __version__
from bridge.daemon.cli import SECRET_ENV, add_commands
from bridge.engine.device import PRECISIONS
from bridge.engine.model import ACTIVATIONS, DEFAULT_MODEL
from bridge.engine.request import RECIPES, TRACKERS
from bridge.engine.types import DEFAULT_COMPOSER, ClipRequest, Progress
from bridge.errors import BadRequest, BridgeError
from bridge.hosts import HOSTS, install
from bridge.protocol import DEFAULT_LISTEN_PORT, DEFAULT_PORT
from bridge.protocol.requests import styles_in

log = logging.getLogger("bridge.cli")

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pop2piano-bridge", description="Pop recordings to piano MIDI, for DAWs.")
    parser.add_argument("--version", action="version", version=f"pop2piano-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    convert = sub.add_parser("convert", help="convert an audio file (or a range of it) to piano MIDI")
    convert.add_argument("song", help="audio file: WAV, AIFF, FLAC, OGG/Opus or MP3")
    convert.add_argument("-o", "--output", required=True,
                         help="MIDI file to write; OUT.notes.json goes beside it. An existing file there is "
                              "replaced only if the bridge wrote it and nobody changed it since")
    convert.add_argument("--overwrite", action="store_true",
                         help="replace existing files at OUT.mid / OUT.notes.json even if the bridge did not "
                              "write them (never a symbolic link)")
    _add_model_args(convert)
    convert.add_argument("--composer", default=DEFAULT_COMPOSER,
                         help="style: composer1 … composer21; `all`, or a comma-separated list, converts the clip in "
                         "each of those styles at once (one OUT - <composer>.mid and notes JSON each)")
    convert.add_argument("--start", type=float, default=0.0, help="clip start in seconds of the source file")
    convert.add_argument("--duration", type=float, default=0.0, help="clip length in source seconds (0: to the end)")
    convert.add_argument("--playrate", type=float, default=1.0, help="the DAW take's playback rate")
    convert.add_argument("--tempo", type=float, default=None, help="session tempo in BPM (default: detected)")
    convert.add_argument("--tempo-map", action="store_true", help="write a tempo map that follows the detected beats")
    grid = convert.add_mutually_exclusive_group()
    grid.add_argument("--grid-bpm", type=float, metavar="BPM",
                      help="the session's constant tempo, in source time: notes land on its beats (no beat tracking)")
    grid.add_argument("--beats", metavar="FILE",
                      help="a JSON array of beat times in source seconds (any tempo map): notes land on those beats")
    convert.add_argument("--grid-offset", type=float, metavar="SECONDS",
                         help="with --grid-bpm: the source second of one beat (default: the clip start)")
    _add_common(convert)

    doctor = sub.add_parser("doctor", help="report packages, model location and MIDI ports")
    doctor.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local folder to look for")
    _add_common(doctor)

    install = sub.add_parser("install", help="copy the DAW scripts into a DAW's user folder and point them here")
    install.add_argument("daw", choices=sorted(HOSTS), help="which DAW")
    install.add_argument("--path", help="the folder to install into instead of the DAW's default "
                         "(REAPER: its resource path's Scripts folder; Ardour: its user scripts folder, "
                         "~/.config/ardour7/scripts on Linux; Live: the User Library's Remote Scripts folder)")
    install.add_argument("--port", type=int, default=DEFAULT_PORT, help="the bridge's UDP port the scripts use")
    install.add_argument("--listen-port", type=int, default=DEFAULT_LISTEN_PORT,
                         help="Live only: where the Remote Script listens for replies and triggers")
    install.add_argument("--force", action="store_true",
                         help="replace files changed since they were installed (a .bak copy of each is kept)")
    _add_common(install)
    install.set_defaults(handler=_install)

    add_commands(sub, _add_model_args, _add_common)

    return parser


def _add_model_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local folder in the hub layout")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if present, else cpu)")
    parser.add_argument("--activation", choices=ACTIVATIONS, default="config",
                        help="feed-forward activation: as the model config says, or T5's gated gelu_new")
    parser.add_argument("--recipe", choices=RECIPES, default="faithful",
                        help="faithful: original Pop2Piano semantics, whole clip; reference: the transformers port")
    parser.add_argument("--beat-tracker", choices=TRACKERS, default="auto",
                        help="auto: essentia where installed, else librosa")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32: the reference's notes; fp32-packed/bf16/fp16/int8: faster, notes can change; auto: the "
                        "fastest this machine runs within the documented tolerance (docs/performance.md)")


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args)) if hasattr(args, "handler") else _dispatch(args)
    except BridgeError as exc:
        print(f"pop2piano-bridge: error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pop2piano-bridge: interrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "convert":
        return _convert(args)
    if args.command == "doctor":
        return _doctor(args)
    raise AssertionError(args.command)


def _convert(args: argparse.Namespace) -> int:
    # Imported here, as in _doctor: audio, MIDI and (below) the model stack are for this command only;
    # `send`, which DAW scripts start once per request, shares this module and must start fast.
    from bridge.engine.audio import probe, resolve_range
    from bridge.engine.grid import grid_for
    from bridge.output.files import check_target, write_outputs

    # Cheap checks first: nobody should wait for the model to learn the path is wrong.
    info = probe(args.song)
    first, last = resolve_range(info, args.start, args.duration)
    if args.grid_offset is not None and args.grid_bpm is None:
        raise BadRequest("--grid-offset needs --grid-bpm")
    grid = grid_for(args.grid_bpm, args.grid_offset, os.path.abspath(args.beats) if args.beats else None,
                    first / info.sample_rate, last / info.sample_rate)
    folder = os.path.dirname(os.path.abspath(args.output))
    if not os.path.isdir(folder):
        raise BadRequest(f"output folder does not exist: {folder}")
    styles, every = styles_in(args.composer)
    audition = bool(styles) or every
    if not audition:
        check_target(args.output, args.overwrite)
    for composer in styles:  # each style's own file must be free too (every style's is checked below)
        check_target(style_path(args.output, composer), args.overwrite)

    from bridge.engine.converter import Converter  # torch and transformers: seconds

    converter = Converter(args.model, device=args.device, activation=args.activation, recipe=args.recipe,
                          beat_tracker=args.beat_tracker, precision=args.precision)
    request = ClipRequest(args.song, args.start, args.duration, args.playrate, args.tempo, args.composer, grid)
    with _ProgressBar(enabled=sys.stderr.isatty()) as bar:
        if not audition:
            arrangements = [converter.convert(request, progress=bar.update)]
        else:
            composers = list(converter.composers if every else styles)
            for composer in composers:
                check_target(style_path(args.output, composer), args.overwrite)
            arrangements = converter.convert_styles(request, composers, progress=bar.update)
    for arrangement in arrangements:
        target = style_path(args.output, arrangement.composer) if audition else args.output
        midi_path, notes_path = write_outputs(arrangement, target, tempo_map=args.tempo_map, overwrite=args.overwrite)
        log.info("wrote %s and %s", midi_path, notes_path)
        print(f"{midi_path}\t{notes_path}\t{len(arrangement.notes)} notes" + (f"\t{arrangement.composer}"
                                                                            if audition else ""))
    return EXIT_OK


def style_path(output: str, composer: str) -> str:
    """``OUT.mid`` → ``OUT - composer7.mid``: one file per style of an audition."""
    stem, ext = os.path.splitext(output)
    return f"{stem} - {composer}{ext or '.mid'}"


def _install(args: argparse.Namespace) -> int:
    host = HOSTS[args.daw]
    # The secret comes from the environment only: a command-line argument would show in `ps`.
    report = install(host, Path(args.path).expanduser() if args.path else None, port=args.port,
                     secret=os.environ.get(SECRET_ENV, ""), listen_port=args.listen_port, force=args.force)
    print(f"{host.title}: installed into {report.folder} ({len(report.written)} written, "
          f"{len(report.unchanged)} unchanged{f', {len(report.removed)} old removed' if report.removed else ''})")
    for backup in report.backups:
        print(f"  kept your changed file as {backup}")
    print(f"  the scripts run: {' '.join(report.config['command'])} (port {report.config['port']})")
    if host.name == "reaper" and any('"' in part for part in report.config["command"]):
        print('  warning: that command holds a double quote ("), which REAPER cannot pass to a program: '
              "install the bridge in a folder without one")
    print("  " + host.next_steps.format(folder=report.folder))
    return EXIT_OK


def _doctor(args: argparse.Namespace) -> int:
    from bridge.doctor import (  # it probes every library: see _convert
        MISSING,
        run_checks,
    )

    checks = run_checks(args.model)
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{check.name:<{width}}  [{check.status:^7}]  {check.detail}")
        if check.advice and check.status != "ok":
            print(f"{'':<{width}}             → {check.advice}")
    return EXIT_ERROR if any(c.status == MISSING for c in checks) else EXIT_OK


class _ProgressBar:
    """A tqdm bar on a terminal, nothing otherwise (logs and pipes stay clean)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bar = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            self.bar = tqdm(total=1000, unit="‰", bar_format="{desc:<12} {bar} {percentage:3.0f}% {elapsed}")
        return self

    def update(self, progress: Progress) -> None:
        if self.bar is None:
            return
        self.bar.set_description_str(progress.stage)
        self.bar.n = int(progress.fraction * 1000)
        self.bar.refresh()

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()
