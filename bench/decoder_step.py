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

``--variants`` prints instead what three ideas for a faster step would gain at ``--rows``, each
against what the step does, measured alone with 64 MB written between calls (inside a step the
weights streaming through evict the cache; measured without it, small operands stay cached and
every variant looks better than it is):

- attention with keys and values stored in bf16 (half the bytes read) against fp32, through the
  step's kernel (SDPA), per call, at the cross-attention's 51 positions and at 128 cached tokens;
- the prepacked products with q, k, v in one product and the gated feed-forward's two input
  products in one, against separate ones, per layer;
- int8 weights with float activations (``torch.ops.aten._weight_int8pack_mm``, the CPU kernel of
  torchao's int8 weight-only format; fp32 and bf16 activations) against torch.ao's dynamic int8
  (``--precision int8``) and ``F.linear``, every per-token linear layer of a step.
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
    parser.add_argument("--variants", action="store_true", help="what three rejected ideas would gain")
    args = parser.parse_args()
    print(describe())
    loaded = full_size("fp32" if args.variants else args.precision)  # the variants start from fp32 layers
    if args.variants:
        variants(loaded.model, args.rows)
        return

    import torch

    from bridge.engine import stepper
    from bridge.engine.decoding import _cache_keyword, _new_cache

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


def full_size(precision: str):  # noqa: ANN201 - a bridge.engine.model.LoadedModel
    """The full-size random-weight Pop2Piano (default ``Pop2PianoConfig``), loaded in ``precision``."""
    import tiny_model
    from bridge.engine.model import load, resolve

    with tempfile.TemporaryDirectory() as work:
        return load(resolve(tiny_model.build(os.path.join(work, "model"), full_size=True, eos_scale=0.0)), "cpu",
                    precision=precision)


def evicting(run, calls: int = 60) -> float:
    """Seconds per call of ``run()`` with 64 MB written before each call (not timed): operands come
    from memory, as inside a step where ~120 MB of weights stream through between two uses."""
    import torch

    flush = torch.empty(16 * 1024 * 1024)
    total = 0.0
    for i in range(calls + 3):
        flush.add_(1.0)
        start = time.perf_counter()
        run()
        if i >= 3:
            total += time.perf_counter() - start
    return total / calls


def variants(model, rows: int) -> None:  # noqa: ANN001 - a fp32 Pop2PianoForConditionalGeneration
    import torch
    import torch.nn.functional as F

    from bridge.engine import stepper

    config = model.config
    heads, width, model_dim = int(config.num_heads), int(config.d_kv), int(config.d_model)
    generator = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        print(f"rows {rows}; per call, 64 MB written between calls")
        for length in (51, 128):
            times = {}
            for dtype in (torch.float32, torch.bfloat16):
                keys, values = (torch.randn(rows, heads, 256, width, generator=generator).to(dtype) for _ in "kv")
                query = torch.randn(rows, heads, 1, width, generator=generator).to(dtype)
                bias = torch.randn(1, heads, 1, length, generator=generator).to(dtype)
                times[dtype] = evicting(lambda: F.scaled_dot_product_attention(
                    query, keys[:, :, :length], values[:, :, :length], attn_mask=bias, scale=1.0))
            print(f"  attention over {length:3d} positions: fp32 {times[torch.float32] * 1e6:6.0f} us, "
                  f"bf16 keys and values {times[torch.bfloat16] * 1e6:6.0f} us "
                  f"({times[torch.bfloat16] / times[torch.float32]:.2f}x)")
        x = torch.randn(rows, 1, model_dim, generator=generator)
        block = model.decoder.block[0]
        attention, dense = block.layer[0].SelfAttention, block.layer[-1].DenseReluDense
        for name, layers in (("q, k, v", [attention.q, attention.k, attention.v]),
                             ("gated feed-forward input", [dense.wi_0, dense.wi_1])):
            out = layers[0].out_features
            joined = torch.nn.Linear(model_dim, out * len(layers), bias=False)
            joined.weight.copy_(torch.cat([layer.weight for layer in layers]))
            separate = [stepper.prepacked(layer) for layer in layers]
            fused = stepper.prepacked(joined)
            apart = evicting(lambda: [run(x) for run in separate])
            together = evicting(lambda: fused(x).split(out, -1))
            print(f"  prepacked {name}: {len(layers)} products {apart * 1e6:6.0f} us, one product "
                  f"{together * 1e6:6.0f} us ({together / apart:.2f}x)")
        layers = stepper.decoder_linears(model)  # every per-token linear layer of a step, and the head
        inputs = {w: torch.randn(rows, w, generator=generator) for w in {layer.in_features for layer in layers}}
        quantised = [torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear},
                                                            dtype=torch.qint8)[0] for layer in layers]
        int8_weights = []
        for layer in layers:
            scale = layer.weight.abs().amax(1) / 127
            int8_weights.append((torch.round(layer.weight / scale[:, None]).to(torch.int8), scale))
        plain = evicting(lambda: [F.linear(inputs[layer.in_features], layer.weight) for layer in layers], 10)
        dynamic = evicting(lambda: [q(inputs[layer.in_features]) for q, layer in zip(quantised, layers)], 10)
        weight_only = evicting(lambda: [torch.ops.aten._weight_int8pack_mm(inputs[layer.in_features], w, scale)
                                        for (w, scale), layer in zip(int8_weights, layers)], 10)
        halves = {w: x.bfloat16() for w, x in inputs.items()}
        half_scales = [(w, scale.bfloat16()) for w, scale in int8_weights]
        weight_only_bf16 = evicting(lambda: [torch.ops.aten._weight_int8pack_mm(halves[layer.in_features], w, scale)
                                             for (w, scale), layer in zip(half_scales, layers)], 10)
        print(f"  a step's linear layers: F.linear {plain * 1e3:.2f} ms, dynamic int8 {dynamic * 1e3:.2f} ms, "
              f"int8 weights with fp32 activations {weight_only * 1e3:.2f} ms, with bf16 activations "
              f"{weight_only_bf16 * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
