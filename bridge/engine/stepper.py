"""One step of Pop2Piano's decoder without transformers' per-token machinery.

Why: the model's ``forward`` builds masks, recomputes the relative position bias and dispatches
through cache objects and output recorders on every token. For a short clip (14 rows) that is a
sizable share of each ~28 ms step on 2 cores (``python bench/decoder_step.py``). A
:class:`DecoderStep` calls the model's own modules (layer norms, linear layers, activation) in the
forward's order and with its shapes, keeps keys and values in preallocated buffers, computes the
cross-attention keys and values once and the position bias once per batch.

Kernels (:class:`Kernels`): ``module`` calls the model's linear layers, i.e. the reference's
arithmetic: the logits are bit-identical to the forward's, which :func:`verify` checks when a model
is loaded (a transformers version that computes differently falls back to the forward). ``packed``
runs the same layers on weights prepacked once for oneDNN (CPU, fp32 or bf16): 1.5–2× faster
matrix products at a short clip's row count (docs/performance.md), in a different summation order,
so a token whose two best scores are within rounding of each other can come out differently.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

Linear = Callable[[torch.Tensor], torch.Tensor]
MODULE = "module"
PACKED = "packed"
# Linear layers as loaded: float, or torch.ao's dynamically quantised int8 (``--precision int8``).
_LINEAR_TYPES = (torch.nn.Linear, torch.ao.nn.quantized.dynamic.Linear)


class Kernels:
    """How this loaded model's decoder linear layers are computed; one object per loaded model."""

    def __init__(self, model: Any, kind: str = MODULE) -> None:
        self.model = model
        self.kind = kind
        self.eager = getattr(model.config, "_attn_implementation", "eager") != "sdpa"
        self._linears: dict[int, Linear] = {}
        if kind == PACKED:
            for module in decoder_linears(model):
                self._linears[id(module)] = prepacked(module)

    def attend(self, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """Attention of one query per row (T5: no scaling, the position bias added to the scores).

        The forward's kernel for both kinds (plain matrix products were slower inside the step, 14 rows:
        20.8 against 17.4 ms per step; 78 rows: 62.7 against 54.8, though faster in isolation): SDPA
        where the model runs SDPA (transformers 5), else the eager arithmetic (transformers 4.57)."""
        if self.eager:
            scores = torch.matmul(query, keys.transpose(3, 2)) + bias
            return torch.matmul(F.softmax(scores.float(), dim=-1).type_as(scores), values)
        return F.scaled_dot_product_attention(query, keys, values, attn_mask=bias, scale=1.0)

    def linear(self, module: Any) -> Linear:
        """The function computing ``module``'s output: its prepacked form, or the module itself."""
        packed = self._linears.get(id(module))
        return packed if packed is not None else cast(Linear, module)

    def start(self, hidden: torch.Tensor, capacity: int) -> DecoderStep:
        """A decoder for a batch whose encoder output is ``hidden``, rows up to ``capacity`` tokens."""
        return DecoderStep(self, hidden, capacity)


def decoder_linears(model: Any) -> list[Any]:
    """The linear layers run once per token: the decoder's (except cross-attention keys and values,
    computed once per batch) and the output head."""
    found = [m for name, m in model.decoder.named_modules() if isinstance(m, _LINEAR_TYPES)
             and ".EncDecAttention.k" not in name and ".EncDecAttention.v" not in name]
    return [*found, model.lm_head]


def prepacked(module: torch.nn.Linear) -> Linear:
    """``module`` on a weight reordered once into oneDNN's blocked layout (what inductor's CPU
    freezing does): no per-call weight reorder. The batch-size hint only tunes the layout."""
    weight = torch.ops.mkldnn._reorder_linear_weight(module.weight.detach(), 16)
    bias = None if module.bias is None else module.bias.detach()

    def run(x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
        return out

    return run


def packing_available(dtype: torch.dtype) -> bool:
    """True when oneDNN can prepack linear weights of ``dtype`` on this CPU (fp32; bf16 needs AVX512)."""
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return False
    try:
        probe = torch.nn.Linear(8, 8, bias=False).to(dtype)
        out = prepacked(probe)(torch.ones(2, 8, dtype=dtype))
        return bool(torch.allclose(out.float(), probe(torch.ones(2, 8, dtype=dtype)).float(), rtol=1e-2, atol=1e-2))
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


class DecoderStep:
    """The decoder state of one batch: ``step(tokens)`` → next-token logits, ``keep(rows)`` drops rows."""

    def __init__(self, kernels: Kernels, hidden: torch.Tensor, capacity: int) -> None:
        model = kernels.model
        decoder = model.decoder
        self.kernels = kernels
        self.model = model
        self.blocks = list(decoder.block)
        self.heads = int(model.config.num_heads)
        self.width = int(model.config.d_kv)
        self.scale = model.model_dim ** -0.5 if getattr(model.config, "scale_decoder_outputs", True) else None
        rows, frames = hidden.shape[0], hidden.shape[1]
        dtype, device = hidden.dtype, hidden.device
        attention = self.blocks[0].layer[0].SelfAttention
        self.bias = attention.compute_bias(capacity, capacity, device=device)  # (1, heads, query, key)
        shape = (rows, self.heads, capacity, self.width)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in self.blocks]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in self.blocks]
        self.cross_keys: list[torch.Tensor] = []
        self.cross_values: list[torch.Tensor] = []
        for block in self.blocks:
            cross = block.layer[1].EncDecAttention
            self.cross_keys.append(self._heads(cross.k(hidden)))
            self.cross_values.append(self._heads(cross.v(hidden)))
        # The forward's cross-attention mask without an encoder mask: a zero position bias.
        self.cross_mask = torch.zeros((1, self.heads, 1, frames), dtype=dtype, device=device)
        self.length = 0

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, positions, heads × width) → (rows, heads, positions, width), as the forward views it."""
        return x.view(x.shape[0], x.shape[1], -1, self.width).transpose(1, 2)

    def _merge(self, attended: torch.Tensor) -> torch.Tensor:
        """Attention output back to (rows, 1, heads × width) in the forward's memory layout."""
        rows = attended.shape[0]
        merged = attended.reshape(rows, -1, 1, self.width).transpose(1, 2).contiguous()
        return merged.reshape(rows, 1, -1).contiguous()

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (rows, vocab) for the next token after ``tokens`` (rows, 1), the rows' latest."""
        at = self.length
        if at >= self.bias.shape[-1]:
            raise ValueError(f"row longer than this decoder's capacity of {self.bias.shape[-1]} tokens")
        linear = self.kernels.linear
        x = self.model.decoder.embed_tokens(tokens)
        bias = self.bias[:, :, at:at + 1, :at + 1].contiguous()
        for i, block in enumerate(self.blocks):
            own, cross, feed = block.layer[0], block.layer[1], block.layer[-1]
            attention = own.SelfAttention
            h = own.layer_norm(x)
            self.keys[i][:, :, at:at + 1] = self._heads(linear(attention.k)(h))
            self.values[i][:, :, at:at + 1] = self._heads(linear(attention.v)(h))
            attended = self.kernels.attend(
                self._heads(linear(attention.q)(h)), self.keys[i][:, :, :at + 1], self.values[i][:, :, :at + 1], bias)
            x = x + linear(attention.o)(self._merge(attended))
            attention = cross.EncDecAttention
            h = cross.layer_norm(x)
            attended = self.kernels.attend(
                self._heads(linear(attention.q)(h)), self.cross_keys[i], self.cross_values[i], self.cross_mask)
            x = x + linear(attention.o)(self._merge(attended))
            x = x + self._feed_forward(feed, feed.layer_norm(x))
        x = self.model.decoder.final_layer_norm(x)
        if self.scale is not None:
            x = x * self.scale
        self.length += 1
        return linear(self.model.lm_head)(x)[:, -1, :]

    def _feed_forward(self, layer: Any, h: torch.Tensor) -> torch.Tensor:
        """The forward's ``DenseReluDense`` (gated or not), through :attr:`kernels`."""
        dense, linear = layer.DenseReluDense, self.kernels.linear
        if hasattr(dense, "wi_0"):
            h = dense.act(linear(dense.wi_0)(h)) * linear(dense.wi_1)(h)
        else:
            h = dense.act(linear(dense.wi)(h))
        weight = getattr(dense.wo, "weight", None)  # a method on quantised layers: no cast then, as in the forward
        if isinstance(weight, torch.Tensor) and h.dtype != weight.dtype and weight.dtype != torch.int8:
            h = h.to(weight.dtype)
        return linear(dense.wo)(h)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only batch rows ``rows`` (finished rows leave the batch)."""
        for state in (self.keys, self.values, self.cross_keys, self.cross_values):
            state[:] = [t.index_select(0, rows) for t in state]


def verify(model: Any, steps: int = 3) -> bool:
    """True when :class:`DecoderStep` with the model's own kernels gives the forward's logits bit for bit.

    Run once per loaded model on two made-up rows: a transformers version whose decoder computes
    differently (another attention path, a new scaling) is caught here and decoding keeps to the
    model's forward. Costs a few decoder steps.
    """
    from bridge.engine.decoding import _cache_keyword, _new_cache  # the forward's own cache setup

    try:
        parameter = next(model.decoder.parameters())
        generator = torch.Generator().manual_seed(0)
        hidden = torch.randn(2, 5, int(model.config.d_model), generator=generator)
        hidden = hidden.to(parameter.device, float_dtype(model))
        tokens = torch.randint(0, int(model.config.vocab_size), (steps, 2, 1), generator=generator).to(parameter.device)
        cache = {_cache_keyword(model): _new_cache(steps)}
        with torch.inference_mode():
            ours = Kernels(model).start(hidden, steps)
            for token in tokens:
                theirs = model(encoder_outputs=(hidden,), decoder_input_ids=token, use_cache=True, return_dict=True,
                               **cache).logits[:, -1, :]
                if not torch.equal(ours.step(token), theirs):
                    log.warning("the lean decoder step differs from this transformers version's forward: "
                                "using the forward")
                    return False
    except (AttributeError, IndexError, RuntimeError, TypeError, ValueError) as exc:
        log.warning("the lean decoder step does not fit this model (%s): using the forward", exc)
        return False
    return True


def float_dtype(model: Any) -> torch.dtype:
    """The dtype activations flow in: the embeddings' (quantised models keep float embeddings)."""
    return model.decoder.embed_tokens.weight.dtype  # type: ignore[no-any-return]
