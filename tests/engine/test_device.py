"""Device and number format, chosen for the user: the rule on any machine (no GPU is needed to test it)."""

from __future__ import annotations

import pytest

from bridge.engine.device import CPU_AUTO, GPU_BATCH_SIZE, Machine, choose, cpu_kind, probe


def test_a_gpu_is_chosen_when_present_with_the_fastest_format_it_runs():
    cuda = choose(None, "auto", Machine(cuda=True, cuda_bf16=True, cpu_bf16=True))
    assert (cuda.device, cuda.precision, cuda.batch_size) == ("cuda", "bf16", GPU_BATCH_SIZE)
    old_gpu = choose(None, "auto", Machine(cuda=True, cuda_bf16=False))
    assert (old_gpu.device, old_gpu.precision) == ("cuda", "fp16")
    apple = choose(None, "auto", Machine(mps=True))
    assert (apple.device, apple.precision, apple.batch_size) == ("mps", "fp16", GPU_BATCH_SIZE)
    assert choose(None, "fp32", Machine(cuda=True)).precision == "fp32"  # asked for: the exact notes


def test_a_named_device_and_format_are_used_as_given():
    assert choose("cpu", "auto", Machine(cuda=True)).device == "cpu"
    assert choose("cuda:1", "fp16", Machine(cuda=True)).device == "cuda:1"
    placement = choose(None, "fp32", Machine())
    assert (placement.device, placement.precision, placement.batch_size) == ("cpu", "fp32", None)


def test_formats_a_device_cannot_run_are_refused_clearly():
    with pytest.raises(ValueError, match="does not run on cpu"):
        choose(None, "fp16", Machine())
    with pytest.raises(ValueError, match="does not run on cuda"):
        choose(None, "int8", Machine(cuda=True))
    with pytest.raises(ValueError, match="must be one of"):
        choose(None, "fp8", Machine())


def test_auto_on_a_cpu_follows_the_measured_table():
    for machine, kind in ((Machine(cpu_amx=True, cpu_bf16=True), "amx"), (Machine(cpu_bf16=True), "avx512_bf16"),
                          (Machine(cpu_vnni=True), "vnni"), (Machine(), "other")):
        assert cpu_kind(machine) == kind
        assert choose(None, "auto", machine).precision == CPU_AUTO[kind]


def test_this_machine_is_probed_without_error():
    machine = probe()
    assert choose(None, "auto", machine).device in ("cpu", "cuda", "mps")
