"""Where the model runs and in which number format: chosen for the user from what the machine has.

:func:`choose` is the whole rule, pure (tests hand it any machine); :func:`probe` asks torch what
this machine has. A device the user names is used as given; ``auto`` precision picks the fastest
format whose notes stay within the documented tolerance (docs/performance.md):

- CUDA: bf16 where the GPU supports it, else fp16; the whole song in one batch.
- Apple MPS: fp16; the whole song in one batch.
- CPU: fp32 (the exact notes) unless the measurements of docs/performance.md showed a faster
  format within tolerance on that kind of CPU (fp32-packed on AVX512-BF16): see :data:`CPU_AUTO`.
"""

from __future__ import annotations

from dataclasses import dataclass

EXACT = "fp32"
# fp32 numbers on weights prepacked for oneDNN (bridge.engine.stepper): faster products whose summation
# order differs from the reference's, so a near-tie between two tokens can go the other way.
FP32_PACKED = "fp32-packed"
# Formats by device kind. fp32 is the reference's arithmetic; the others can change notes.
CPU_PRECISIONS = ("fp32", FP32_PACKED, "bf16", "int8")
GPU_PRECISIONS = ("fp32", "bf16", "fp16")
PRECISIONS = ("auto", "fp32", FP32_PACKED, "bf16", "fp16", "int8")
# A GPU holds a whole song's chunks at once (a 10-minute song is ~260 chunks): one batch.
GPU_BATCH_SIZE = 1024


@dataclass(frozen=True)
class Machine:
    """What the choice depends on (from :func:`probe`, or made up by tests)."""

    cuda: bool = False
    cuda_bf16: bool = False
    mps: bool = False
    cpu_bf16: bool = False  # AVX512-BF16 or AMX: bf16 matrix products in hardware
    cpu_amx: bool = False
    cpu_vnni: bool = False  # int8 dot products in hardware


@dataclass(frozen=True)
class Placement:
    device: str
    precision: str
    batch_size: int | None = None  # None: the CPU default


# `auto` picks the fastest format whose notes stay within this note F1 of fp32's (same pitch, onset
# within 50 ms), as measured by bench/precision.py on that kind of CPU; of two within 10% of each
# other's speed, the one closer to fp32's notes.
AUTO_MIN_F1 = 0.95
# CPU kind → the format `auto` picks there (docs/performance.md, "Precision"). Measured on
# avx512_bf16 + vnni (2 cores, 30 s clip, rows ~160 tokens, two runs): fp32-packed 1.47-1.74x at F1 1.000,
# bf16 1.64-1.66x at F1 0.969 (as fast, notes changed), int8 2.08-2.54x at F1 0.79 (outside AUTO_MIN_F1):
# fp32-packed. amx, vnni alone and other: not measured, so exact.
CPU_AUTO: dict[str, str] = {
    "amx": EXACT,
    "avx512_bf16": FP32_PACKED,
    "vnni": EXACT,
    "other": EXACT,
}


def cpu_kind(machine: Machine) -> str:
    if machine.cpu_amx:
        return "amx"
    if machine.cpu_bf16:
        return "avx512_bf16"
    if machine.cpu_vnni:
        return "vnni"
    return "other"


def choose(device: str | None, precision: str, machine: Machine) -> Placement:
    """The device and format to run on. Pure. Raises ValueError for a format the device cannot run."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = (device or ("cuda" if machine.cuda else "mps" if machine.mps else "cpu")).split(":")[0]
    chosen = device or kind
    gpu = kind in ("cuda", "mps")
    if precision == "auto":
        if kind == "cuda":
            precision = "bf16" if machine.cuda_bf16 else "fp16"
        elif kind == "mps":
            precision = "fp16"
        else:
            precision = CPU_AUTO[cpu_kind(machine)]
    allowed = GPU_PRECISIONS if gpu else CPU_PRECISIONS
    if precision not in allowed:
        raise ValueError(f"precision {precision} does not run on {kind}; use one of {', '.join(allowed)}")
    return Placement(chosen, precision, GPU_BATCH_SIZE if gpu else None)


def probe() -> Machine:
    """What this machine has, as torch sees it."""
    import torch  # seconds to import: `doctor` and the CLI probe only when they need a device

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    cpu = torch.cpu
    return Machine(
        cuda=cuda,
        cuda_bf16=cuda and torch.cuda.is_bf16_supported(),
        mps=mps,
        cpu_bf16=bool(getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()),
        cpu_amx=bool(getattr(cpu, "_is_amx_tile_supported", lambda: False)()),
        cpu_vnni=bool(getattr(cpu, "_is_vnni_supported", lambda: False)()),
    )
