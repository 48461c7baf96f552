"""``pop2piano-bridge doctor``: what is installed, where the model is, which MIDI ports exist.

Each check is gathered into a :class:`Check` (no printing here) so the CLI renders
them and tests can read them.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from dataclasses import dataclass

from bridge import __version__
from bridge.engine.model import DEFAULT_MODEL, looks_like_path, offline
from bridge.engine.optional import essentia_available
from bridge.hosts import HOSTS, installed_state
from bridge.output.ports import DEFAULT_MIDI_PORT, compiled_apis, quiet_native_stderr

OK, WARN, MISSING = "ok", "warn", "missing"

PACKAGES = (
    ("torch", True, "pip install torch"),
    ("transformers", True, "pip install transformers"),
    ("librosa", True, "pip install librosa"),
    ("resampy", True, "pip install resampy (the model's kaiser_best resampling needs it)"),
    ("soundfile", True, "pip install soundfile"),
    ("numpy", True, "pip install numpy"),
    ("scipy", True, "pip install scipy"),
    ("mido", True, "pip install mido"),
    ("python-rtmidi", False, "pip install python-rtmidi (needed for live MIDI)"),
    ("python-osc", True, "pip install python-osc"),
    ("pretty_midi", False, "optional: only the reference recipe uses it"),
    ("essentia", False, "pip install essentia (Linux/macOS; the reference beat tracker)"),
)


@dataclass(frozen=True)
class Check:
    """One line of the report: what, how it stands, details, and what to do if not ok."""

    name: str
    status: str
    detail: str
    advice: str = ""


def package_checks() -> list[Check]:
    checks = [Check("python", OK, f"{platform.python_version()} on {platform.system()} {platform.machine()}")]
    for dist, required, advice in PACKAGES:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            checks.append(Check(dist, MISSING if required else WARN, "not installed", advice))
            continue
        checks.append(Check(dist, OK, version))
    try:  # each probe imports its library itself: a missing one is a finding, not a crash
        import soundfile

        checks.append(Check("libsndfile", OK, soundfile.__libsndfile_version__))
    except (ImportError, OSError) as exc:
        checks.append(Check("libsndfile", MISSING, str(exc), "pip install --force-reinstall soundfile"))
    return checks


def device_check() -> Check:
    try:  # a missing torch is reported, not raised
        import torch
    except ImportError:
        return Check("device", MISSING, "torch is not installed", "pip install torch")
    if torch.cuda.is_available():
        return Check("device", OK, f"cuda ({torch.cuda.get_device_name(0)})")
    return Check("device", OK, f"cpu ({torch.get_num_threads()} threads); no CUDA device found")


def model_check(model: str = DEFAULT_MODEL) -> Check:
    """Where the weights are, without downloading anything."""
    if os.path.isdir(model):
        present = [n for n in ("config.json", "vocab.json", "model.safetensors", "pytorch_model.bin")
                   if os.path.exists(os.path.join(model, n))]
        weights = {"model.safetensors", "pytorch_model.bin"} & set(present)
        if {"config.json", "vocab.json"} <= set(present) and weights:
            return Check("model", OK, f"local folder {os.path.abspath(model)}")
        return Check("model", MISSING, f"folder {model} is incomplete (has {', '.join(present) or 'nothing'})",
                     "copy a full download of sweetcocoa/pop2piano into it")
    if looks_like_path(model):
        return Check("model", MISSING, f"model folder not found: {model}",
                     "copy a full download of sweetcocoa/pop2piano there, or pass --model DIR")
    try:  # a missing hub client is reported, not raised
        from huggingface_hub import constants, try_to_load_from_cache
    except ImportError:
        return Check("model", MISSING, "huggingface_hub is not installed", "pip install huggingface_hub")
    mode = "offline (HF_HUB_OFFLINE)" if offline() else "online"
    cached = try_to_load_from_cache(model, "config.json")
    if isinstance(cached, str):
        return Check("model", OK, f"{model} cached in {os.path.dirname(cached)} ({mode})")
    advice = (
        f"run `huggingface-cli download {model}` on a connected machine and copy {constants.HF_HUB_CACHE} here, "
        "or pass --model DIR"
    )
    if offline():
        return Check("model", MISSING, f"{model} is not in the HF cache {constants.HF_HUB_CACHE} ({mode})", advice)
    return Check("model", WARN, f"{model} is not cached yet; the first conversion downloads it ({mode})", advice)


def beat_tracker_check() -> Check:
    if essentia_available():
        return Check("beat tracker", OK, "essentia RhythmExtractor2013 (multifeature)")
    return Check("beat tracker", WARN, "essentia is not installed: the portable librosa tracker runs instead",
                 "pip install essentia where wheels exist (Linux x86_64, some macOS); see docs/engine.md")


def midi_checks() -> list[Check]:
    """Compiled MIDI APIs and the output ports each one sees right now (library noise kept quiet)."""
    try:
        import mido.backends.rtmidi  # noqa: F401 - is python-rtmidi there at all
    except ImportError:
        return [Check("midi", WARN, "python-rtmidi is not installed", "pip install python-rtmidi")]
    checks = []
    for api in compiled_apis():
        try:
            with quiet_native_stderr():
                ports = mido.Backend(f"mido.backends.rtmidi/{api}", load=True).get_output_names()
        except (OSError, RuntimeError) as exc:  # rtmidi's errors are RuntimeErrors
            checks.append(Check(f"midi api {api}", WARN, f"not usable now: {str(exc).strip()}", MIDI_ADVICE.get(api, "")))
            continue
        detail = f"{len(ports)} output port(s)" + (f": {', '.join(ports)}" if ports else "")
        checks.append(Check(f"midi api {api}", OK, detail))
    if not checks:
        checks.append(Check("midi", WARN, "python-rtmidi has no MIDI API compiled in", "reinstall python-rtmidi"))
    if sys.platform == "win32":
        checks.append(Check("virtual ports", WARN, "Windows has no virtual MIDI ports",
                            f"install loopMIDI and create a port named {DEFAULT_MIDI_PORT!r}"))
    return checks


MIDI_ADVICE = {
    "UNIX_JACK": "start a JACK server (e.g. `jackd -d dummy`) to use JACK ports",
    "LINUX_ALSA": "load the ALSA sequencer (`sudo modprobe snd-seq`) to use ALSA ports",
}


def daw_checks() -> list[Check]:
    """For each DAW: are the scripts in its default folder, as this version has them, and can they run us?"""

    checks = []
    for host in HOSTS.values():
        state = installed_state(host)
        name = f"{host.title} scripts"
        install = f"pop2piano-bridge install {host.name}"
        if state.folder is None:
            continue  # the DAW does not run on this OS (Live on Linux)
        if not state.installed:
            checks.append(Check(name, WARN, state.detail, f"{install} (or --path DIR if {host.title} keeps its "
                                                          "scripts elsewhere)"))
        elif state.modified:
            checks.append(Check(name, WARN, f"in {state.folder}, changed since installed: {', '.join(state.modified)}",
                                f"{install} --force (keeps a .bak copy of each changed file)"))
        elif not state.current:
            checks.append(Check(name, WARN, f"in {state.folder} from version {state.version or '?'}, not this one "
                                            f"({__version__})", install))
        elif not state.command_ok:
            checks.append(Check(name, WARN, f"in {state.folder}, but the bridge command they run is gone", install))
        else:
            checks.append(Check(name, OK, f"installed and current in {state.folder}"))
    return checks


def run_checks(model: str = DEFAULT_MODEL) -> list[Check]:
    """Everything ``doctor`` reports, in display order."""
    return [
        Check("pop2piano-bridge", OK, __version__),
        *package_checks(),
        device_check(),
        model_check(model),
        beat_tracker_check(),
        *midi_checks(),
        *daw_checks(),
    ]
