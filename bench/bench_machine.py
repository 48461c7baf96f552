"""What a benchmark ran on, printed beside its figures: machines of this project differ (AVX2 only, or
AVX-512 with BF16/VNNI), and a figure means little without its machine."""

from __future__ import annotations

import os
import platform


# What limits the instruction sets torch's, oneDNN's and MKL's kernels use: a run with them set to AVX2
# on an AVX-512 CPU runs the AVX2 machines' kernels (not their memory system or clock).
ISA_LIMITS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector extensions the kernels may use (from /proc/cpuinfo where there is one)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next(line for line in handle if line.startswith("flags")).split(":", 1)[1].split()
    except (OSError, StopIteration):
        return []
    wanted = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile")
    return [f for f in wanted if f in flags]


def describe() -> str:
    """One line: CPU, torch's CPU capability, cores and threads, device."""
    import torch

    device = "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else (
        "mps" if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available() else "cpu")
    capability = torch.backends.cpu.get_cpu_capability()
    limited = [f"{name}={os.environ[name]}" for name in ISA_LIMITS if os.environ.get(name)]
    return (f"machine: {cpu_model()}; flags {' '.join(cpu_flags()) or '?'}; torch {torch.__version__} CPU capability "
            f"{capability}; {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; device {device}"
            + (f"; kernels limited by {' '.join(limited)} (another machine class's kernels, on this CPU)"
               if limited else ""))


if __name__ == "__main__":
    print(describe())
