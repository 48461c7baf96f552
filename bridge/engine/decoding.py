"""Greedy decoding for Pop2Piano without ``generate()``'s waste, giving the same tokens.

``generate()`` grows its key/value cache by concatenation (every step copies the whole
cache: half of all decoding time, measured) and keeps computing rows that already
ended until every row of the batch has. This loop writes keys and values into
preallocated buffers (the attention sees the same values), drops finished rows from
the batch, and checks the cancel flag every token. It applies the same logits rules
``generate()`` applies for this model's settings (min_length, forced EOS) and refuses
settings it does not implement, so callers can fall back to ``generate()``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers.cache_utils import Cache, DynamicLayer, EncoderDecoderCache

from bridge.engine.stepper import Kernels

# GenerationConfig fields with the values this loop implements (greedy search).
_REQUIRED = {
    "do_sample": (False, None),
    "num_beams": (1, None),
    "num_beam_groups": (1, None),
    "repetition_penalty": (1.0, None),
    "no_repeat_ngram_size": (0, None),
    "encoder_no_repeat_ngram_size": (0, None),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "forced_bos_token_id": (None,),
    "max_new_tokens": (None,),
    "min_new_tokens": (None,),
    "penalty_alpha": (None,),
    "sequence_bias": (None,),
    "exponential_decay_length_penalty": (None,),
    "renormalize_logits": (False, None),
    "guidance_scale": (None, 1.0),
    "constraints": (None,),
    "force_words_ids": (None,),
    "epsilon_cutoff": (None, 0.0),
    "diversity_penalty": (None, 0.0),
}


# A logits processor over the rows still generating: (their tokens so far, this step's scores) → scores
# changed in place. What a ``LogitsProcessor`` passed to ``generate()`` does (benchmarks, experiments).
StepRule = Callable[[list[list[int]], torch.Tensor], None]


def supported(config: Any) -> bool:
    """True when greedy decoding with min_length/forced EOS is all ``config`` asks for."""
    return all(getattr(config, name, allowed[0]) in allowed for name, allowed in _REQUIRED.items())


# transformers 5 passes values to DynamicLayer.lazy_initialization as well; 4.57 only keys.
_LAZY_INIT_TAKES_VALUES = "value_states" in inspect.signature(DynamicLayer.lazy_initialization).parameters


class PreallocatedLayer(DynamicLayer):  # type: ignore[no-untyped-call]
    """A key/value cache layer that writes into preallocated buffers and returns views.

    The buffers start at ``capacity`` positions (the row length limit, so they never
    grow in practice) and double if a row runs past it.
    """

    capacity = 16

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        if _LAZY_INIT_TAKES_VALUES:
            super().lazy_initialization(key_states, value_states)
        else:  # transformers 4.57: DynamicLayer.lazy_initialization(key_states)
            super().lazy_initialization(key_states)  # type: ignore[call-arg]
        self._length = 0
        self._kbuf: torch.Tensor | None = None
        self._vbuf: torch.Tensor | None = None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any,
               **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        new = key_states.shape[-2]
        end = self._length + new
        kbuf, vbuf = self._kbuf, self._vbuf
        if kbuf is None or vbuf is None or end > kbuf.shape[-2]:
            capacity = max(end, 2 * kbuf.shape[-2] if kbuf is not None else self.capacity)
            kbuf = self._kbuf = self._grow(kbuf, key_states, capacity)
            vbuf = self._vbuf = self._grow(vbuf, value_states, capacity)
        kbuf[..., self._length : end, :] = key_states
        vbuf[..., self._length : end, :] = value_states
        self._length = end
        self.keys = kbuf[..., :end, :]
        self.values = vbuf[..., :end, :]
        return self.keys, self.values

    def _grow(self, old: torch.Tensor | None, like: torch.Tensor, capacity: int) -> torch.Tensor:
        shape = (*like.shape[:-2], capacity, like.shape[-1])
        buffer = torch.empty(shape, dtype=like.dtype, device=like.device)
        if old is not None and self._length:
            buffer[..., : self._length, :] = old[..., : self._length, :]
        return buffer

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        if self._kbuf is None or self._vbuf is None:
            return
        kbuf = self._kbuf = self._kbuf.index_select(0, indices)
        vbuf = self._vbuf = self._vbuf.index_select(0, indices)
        self.keys = kbuf[..., : self._length, :]
        self.values = vbuf[..., : self._length, :]


def _new_cache(capacity: int) -> EncoderDecoderCache:
    layer = type("PreallocatedLayerForRun", (PreallocatedLayer,), {"capacity": max(1, capacity)})
    return EncoderDecoderCache(Cache(layer_class_to_replicate=layer), Cache(layer_class_to_replicate=DynamicLayer))


def _cache_keyword(model: Any) -> str:
    """``cache`` where the model's forward takes it (transformers 5.x renamed ``past_key_values``,
    which now warns on every call), ``past_key_values`` before that."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def composer_runs(composers: Sequence[str]) -> list[tuple[str, int, int]]:
    """(composer, first row, last row + 1) for each run of rows that share a composer. Pure."""
    runs: list[tuple[str, int, int]] = []
    for row, composer in enumerate(composers):
        if runs and runs[-1][0] == composer:
            runs[-1] = (composer, runs[-1][1], row + 1)
        else:
            runs.append((composer, row, row + 1))
    return runs


def _conditioned(model: Any, features: torch.Tensor, composers: Sequence[str], config: Any) -> tuple[Any, Any]:
    """The encoder's input for each row: its mel features behind its composer's style token.

    The model's conditioner takes one composer per call, so rows of several composers (one batch
    of many styles) are conditioned run by run and joined; the rows stay in their order.
    """
    embeds, masks = [], []
    for composer, first, last in composer_runs(composers):
        embed, mask = model.get_mel_conditioner_outputs(
            input_features=features[first:last], attention_mask=None, composer=composer, generation_config=config)
        embeds.append(embed)
        masks.append(mask)
    if len(embeds) == 1:
        return embeds[0], masks[0]
    return torch.cat(embeds), None if any(m is None for m in masks) else torch.cat(masks)


@torch.inference_mode()
def greedy(
    model: Any,
    features: torch.Tensor,
    composers: Sequence[str],
    config: Any,
    cancel: Any = None,
    on_step: Callable[[list[int], list[int]], None] | None = None,
    rule: StepRule | None = None,
    kernels: Kernels | None = None,
) -> list[list[int]]:
    """Token rows (decoder start token first, up to and including EOS) for each chunk.

    ``composers[i]`` is row ``i``'s style. ``on_step(rows, tokens)`` hears every step's new token of each row
    still generating, so a caller can turn tokens into notes while the batch is still running. ``rule``
    sees each step's scores after the config's own rules, as a logits processor passed to ``generate()``.
    With ``kernels`` (see :mod:`bridge.engine.stepper`) each step runs without the model's per-token
    machinery; without them, or with an encoder mask the lean step does not take, through its forward.
    """
    eos = int(config.eos_token_id if not isinstance(config.eos_token_id, list) else config.eos_token_id[0])
    start = int(config.decoder_start_token_id if config.decoder_start_token_id is not None else config.pad_token_id)
    max_length = int(config.max_length)
    min_length = int(config.min_length or 0)
    forced_eos = config.forced_eos_token_id
    embeds, mask = _conditioned(model, features, composers, config)
    encoded = model.get_encoder()(inputs_embeds=embeds, attention_mask=mask, return_dict=True)
    hidden = encoded.last_hidden_state
    batch = features.shape[0]
    rows: list[list[int]] = [[start] for _ in range(batch)]
    active = torch.arange(batch)
    tokens = torch.full((batch, 1), start, dtype=torch.long, device=features.device)
    cache = _new_cache(max_length)
    cache_kwarg = {_cache_keyword(model): cache}
    lean = kernels.start(hidden, max_length) if kernels is not None and mask is None else None
    for length in range(1, max_length):  # ``length`` tokens so far in every active row
        if cancel is not None and cancel.is_set():
            break
        if lean is not None:
            scores = lean.step(tokens)
        else:
            scores = model(
                encoder_outputs=(hidden,), attention_mask=mask, decoder_input_ids=tokens, use_cache=True,
                return_dict=True, **cache_kwarg,
            ).logits[:, -1, :]
        if length < min_length:
            scores[:, eos] = -float("inf")
        if forced_eos is not None and length == max_length - 1:
            scores[:, :] = -float("inf")
            scores[:, int(forced_eos)] = 0
        slots = active.tolist()
        if rule is not None:
            rule([rows[slot] for slot in slots], scores)
        chosen = torch.argmax(scores, dim=-1)
        picked = chosen.tolist()
        for slot, token in zip(slots, picked):
            rows[slot].append(token)
        if on_step is not None:
            on_step(slots, picked)
        ended = chosen == eos
        if bool(ended.any()):
            keep = torch.nonzero(~ended).flatten()
            if keep.numel() == 0:
                break
            active = active[keep]
            chosen = chosen[keep]
            if lean is not None:
                lean.keep(keep)
            else:
                hidden = hidden.index_select(0, keep)
                mask = mask.index_select(0, keep) if mask is not None else None
                for layer in (*cache.self_attention_cache.layers, *cache.cross_attention_cache.layers):
                    layer.batch_select_indices(keep)  # type: ignore[union-attr]  # our DynamicLayers have it
        tokens = chosen[:, None]
    return rows
