"""Where a decoder step's time goes, at a given row count: the model's forward against the lean step.

    python bench/decoder_step.py [--rows 14] [--steps 100] [--precision fp32|fp32-packed|bf16|int8]

A full-size random-weight Pop2Piano (default ``Pop2PianoConfig``), encoder output of 51 positions
per row (a chunk's 50 mel frames and the composer token), tokens fed from position 0 on. Printed,
per decoder step, each averaged over ``--steps`` steps after a warm-up, all in the same run:

- ``forward``: the model's own forward with this project's preallocated cache (what decoding ran
  before the lean step);
- ``lean``: :class:`bridge.engine.stepper.DecoderStep` with this precision's kernels;
- ``linear layers alone``: every linear layer a step runs, nothing else, with the reference's
  kernels (``F.linear``) and with prepacked oneDNN weights: the matrix products' share;
- the rest of the lean step (attention, norms, Python) = lean − its linear layers.

A 30 s clip is 14 rows, a 3-minute song 78.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))
sys.path.insert(0, os.path.join(HERE, ".."))

from bench_machine import describe  # noqa: E402

from bridge.engine.device import CPU_PRECISIONS  # noqa: E402


def per_step(run, steps: int) -> float:
    """Seconds per call of ``run(i)``, over ``steps`` calls after three warm-up calls."""
    for i in range(3):
        run(i)
    start = time.perf_counter()
    for i in range(steps):
        run(i)
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=14)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--precision", default="fp32", choices=CPU_PRECISIONS)
    args = parser.parse_args()

    import torch

    import tiny_model
    from bridge.engine import stepper
    from bridge.engine.decoding import _cache_keyword, _new_cache
    from bridge.engine.model import load, resolve

    print(describe())
    with tempfile.TemporaryDirectory() as work:
        loaded = load(resolve(tiny_model.build(os.path.join(work, "model"), full_size=True, eos_scale=0.0)), "cpu",
                      precision=args.precision)
    model, rows, steps = loaded.model, args.rows, args.steps
    capacity = steps + 8
    dtype = stepper.float_dtype(model)
    hidden = torch.randn(rows, 51, model.config.d_model, generator=torch.Generator().manual_seed(0)).to(dtype)
    tokens = torch.randint(4, 2000, (capacity, rows, 1), generator=torch.Generator().manual_seed(1))
    print(f"rows {rows}, precision {args.precision}, lean kernels: {loaded.kernels.kind if loaded.kernels else None}")

    with torch.inference_mode():
        cache = {_cache_keyword(model): _new_cache(capacity)}
        forward = per_step(lambda i: model(encoder_outputs=(hidden,), decoder_input_ids=tokens[i], use_cache=True,
                                           return_dict=True, **cache), steps)
        lean_step = loaded.kernels.start(hidden, capacity) if loaded.kernels else None
        lean = per_step(lambda i: lean_step.step(tokens[i]), steps) if lean_step else float("nan")
        layers = stepper.decoder_linears(model)
        inputs = {}
        for layer in layers:
            width = layer.in_features
            inputs.setdefault(width, torch.randn(rows, 1, width).to(dtype))
        timings = {}
        if args.precision != "int8":
            weights = [layer.weight for layer in layers]
            timings["F.linear (the reference's kernels)"] = per_step(
                lambda i: [torch.nn.functional.linear(inputs[w.shape[1]], w) for w in weights], steps)
            if stepper.packing_available(dtype):
                packed = [stepper.prepacked(layer) for layer in layers]
                timings["prepacked oneDNN"] = per_step(
                    lambda i: [run(inputs[layer.in_features]) for run, layer in zip(packed, layers)], steps)
        else:
            timings["quantised modules"] = per_step(lambda i: [layer(inputs[layer.in_features]) for layer in layers],
                                                    steps)
    print(f"  model forward      {forward * 1000:7.2f} ms per step")
    print(f"  lean step          {lean * 1000:7.2f} ms per step  ({forward / lean:.2f}x the forward)")
    for name, seconds in timings.items():
        print(f"  linear layers alone, {name}: {seconds * 1000:7.2f} ms per step")
    kernel = "prepacked oneDNN" if loaded.kernels and loaded.kernels.kind == stepper.PACKED else next(iter(timings))
    if kernel in timings:
        print(f"  lean step outside its linear layers (attention, norms, Python): "
              f"{(lean - timings[kernel]) * 1000:.2f} ms per step; lean ÷ its linear layers: {lean / timings[kernel]:.2f}")


if __name__ == "__main__":
    main()
