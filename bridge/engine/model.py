"""Finding and loading Pop2Piano weights: a hub id through the HF cache, or a local folder.

``HF_HUB_OFFLINE=1`` is honoured by ``huggingface_hub`` itself: only the cache is read.
Every way of failing ends in one :class:`ModelUnavailable` that says how to get the weights.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any

from bridge.engine.device import FP32_PACKED, choose, probe
from bridge.engine.optional import essentia_available
from bridge.errors import ModelUnavailable

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sweetcocoa/pop2piano"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_SNAPSHOT = re.compile(r"[\\/]snapshots[\\/]([0-9a-f]{40})[\\/]?$")

HOW_TO_GET = (
    "download it on a connected machine with "
    "`huggingface-cli download {model}` (then copy the HF cache, or the folder, here) "
    "and pass `--model DIR` for a folder"
)


@dataclass(frozen=True)
class ModelSource:
    """Where the weights are: the folder, the id users gave, and a revision for caching."""

    folder: str
    model_id: str
    revision: str


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def check_local(model: str) -> None:
    """Raise :class:`ModelUnavailable` for a model folder that is missing or incomplete: cheap (no
    hashing, no download, no torch), so a bridge without its model can say so at once."""
    if os.path.isdir(model):
        _check_folder(os.path.abspath(model), model)
    elif looks_like_path(model):
        raise ModelUnavailable(f"model folder not found: {model}; " + HOW_TO_GET.format(model=DEFAULT_MODEL))


def resolve(model: str = DEFAULT_MODEL, revision: str | None = None) -> ModelSource:
    """Find the model folder: a local folder as is, a hub id through the HF cache."""
    check_local(model)
    if os.path.isdir(model):
        folder = os.path.abspath(model)
        return ModelSource(folder, model, folder_revision(folder))
    folder = _download(model, revision)
    _check_folder(folder, model)
    match = _SNAPSHOT.search(folder)
    return ModelSource(folder, model, match.group(1) if match else folder_revision(folder))


def looks_like_path(model: str) -> bool:
    """Hub ids are ``name`` or ``owner/name``; anything else was meant as a folder."""
    return model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1 or os.path.exists(model)


def _download(model: str, revision: str | None) -> str:
    # The hub client is needed only to fetch a model: importing it here keeps `import bridge` light.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        folder = snapshot_download(model, revision=revision, allow_patterns=["*.json", "*.safetensors"])
        if not any(os.path.exists(os.path.join(folder, name)) for name in WEIGHT_FILES):
            folder = snapshot_download(model, revision=revision, allow_patterns=["*.json", "pytorch_model.bin"])
    except LocalEntryNotFoundError:
        where = "HF_HUB_OFFLINE is set and it is not in the HF cache" if offline() else "it could not be downloaded"
        raise ModelUnavailable(f"model {model!r} is not available: {where}; " + HOW_TO_GET.format(model=model)) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(
            f"model {model!r} is not available ({first}); " + HOW_TO_GET.format(model=model)
        ) from None
    return str(folder)


def _check_folder(folder: str, model: str) -> None:
    missing = [n for n in ("config.json", "vocab.json") if not os.path.exists(os.path.join(folder, n))]
    if not any(os.path.exists(os.path.join(folder, n)) for n in WEIGHT_FILES):
        missing.append("model.safetensors or pytorch_model.bin")
    if missing:
        raise ModelUnavailable(
            f"model folder {folder} is incomplete (missing {', '.join(missing)}); " + HOW_TO_GET.format(model=model)
        )


def folder_revision(folder: str) -> str:
    """A content fingerprint for a plain folder: changes whenever config or weights change."""
    match = _SNAPSHOT.search(folder)
    if match:
        return match.group(1)
    digest = hashlib.sha256()
    for name in ("config.json", "generation_config.json", "vocab.json", *WEIGHT_FILES):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
            continue
        digest.update(name.encode())
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return "sha256:" + digest.hexdigest()[:16]


@dataclass
class LoadedModel:
    """The model in memory, with the settings read from its folder."""

    source: ModelSource
    model: Any
    generation_config: Any
    encoder: dict[str, int]
    composers: dict[str, int]
    device: str
    activation: str = "relu"
    precision: str = "fp32"
    dtype: Any = None
    batch_size: int | None = None  # what the device can hold at once (None: the CPU default)
    kernels: Any = None  # bridge.engine.stepper.Kernels for the lean decoder step; None: the model's forward

    def generation_config_copy(self) -> Any:
        """A private copy per call: ``generate()`` writes its kwargs into the config it is given."""
        return copy.deepcopy(self.generation_config)


ACTIVATIONS = ("config", "gelu_new")


def load(
    source: ModelSource, device: str | None = None, activation: str = "config", precision: str = "fp32"
) -> LoadedModel:
    """Load weights and settings from a resolved folder, on the device and in the format :mod:`device` chooses.

    ``activation="gelu_new"`` runs the feed-forward layers with T5's gated-GELU, which the
    original Pop2Piano was trained with; ``"config"`` keeps what ``config.json`` says
    (``Pop2PianoConfig`` defaults ``dense_act_fn`` to ``relu``). See docs/engine.md.
    """
    placement = choose(device, precision, probe())
    device, precision = placement.device, placement.precision
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    overrides = {"dense_act_fn": "gelu_new"} if activation == "gelu_new" else {}
    essentia_available()  # imports essentia quietly first: transformers' Pop2Piano imports it, and it prints
    # transformers and torch take seconds to import: only the process that loads the model pays it.
    from transformers import Pop2PianoForConditionalGeneration
    from transformers.utils import logging as hf_logging

    try:
        with open(os.path.join(source.folder, "vocab.json"), encoding="utf-8") as handle:
            encoder = {str(k): int(v) for k, v in json.load(handle).items()}
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity(logging.ERROR)
        try:
            model: Any = Pop2PianoForConditionalGeneration.from_pretrained(source.folder, **overrides)  # type: ignore[arg-type]
        finally:
            hf_logging.set_verbosity(verbosity)
    except (OSError, ValueError, RuntimeError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelUnavailable(f"could not load the model from {source.folder}: {first}") from None
    import torch  # already loaded by transformers above; imported here like it, for the same reason

    model = model.to(device).eval()
    dtype = torch.float32
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        model = model.to(dtype)
    elif precision == "int8":
        # torch.ao's dynamic int8, deprecated in favour of torchao: torchao's int8 is built for
        # torch.compile and is slower than fp32 in eager mode here (docs/performance.md, "Why not torchao").
        model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear}, dtype=torch.qint8)
    generation_config = model.generation_config
    composers = dict(getattr(generation_config, "composer_to_feature_token", {}) or {})
    if not composers:
        raise ModelUnavailable(f"{source.folder}/generation_config.json has no composer_to_feature_token")
    act = getattr(model.config, "dense_act_fn", "?")
    kernels = decoder_kernels(model, precision, device)
    log.info("loaded %s (revision %s) on %s in %s, feed-forward activation %s, decoder step: %s", source.model_id,
             source.revision, device, precision, act, kernels.kind if kernels is not None else "the model's forward")
    return LoadedModel(source, model, generation_config, encoder, composers, device, str(act), precision, dtype,
                       placement.batch_size, kernels)


def decoder_kernels(model: Any, precision: str, device: str) -> Any:
    """The lean decoder step's kernels for this model (see :mod:`bridge.engine.stepper`), or None when
    it does not give the model's own logits here. Prepacked weights on CPU for ``fp32-packed`` and
    bf16 (neither promises the reference's summation order); the model's own layers otherwise."""
    from bridge.engine import stepper  # imports torch: only the process that loads the model pays it

    if not stepper.verify(model):
        return None
    dtype = stepper.float_dtype(model)
    if device == "cpu" and precision in (FP32_PACKED, "bf16") and stepper.packing_available(dtype):
        return stepper.Kernels(model, stepper.PACKED)
    if precision == FP32_PACKED:
        log.warning("oneDNN cannot prepack weights on this machine: fp32-packed runs the exact fp32 kernels")
    return stepper.Kernels(model, stepper.MODULE)
