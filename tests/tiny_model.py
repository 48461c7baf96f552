"""A tiny random-weight Pop2Piano saved in the hub's file layout, for tests and benchmarks.

The real weights (``sweetcocoa/pop2piano``) cannot be downloaded everywhere, so tests
build this one and load it through the same code path as the real model. The output
head is shaped so greedy decoding stays inside the 234-token vocabulary (the real
model's behaviour) and the EOS row is scaled so some rows end and some run to the
maximum length, which exercises both decoding paths.
"""

from __future__ import annotations

import json
import os

SPECIAL, NOTE, VELOCITY, TIME = 4, 128, 2, 100
VOCAB_SIZE = SPECIAL + NOTE + VELOCITY + TIME  # 234


def vocab() -> dict[str, int]:
    """The hub's ``vocab.json``: SPECIAL 0–3, NOTE 4–131, VELOCITY 132–133, TIME 134–233."""
    table: dict[str, int] = {}
    for i in range(SPECIAL):
        table[f"{i}_TOKEN_SPECIAL"] = i
    for i in range(NOTE):
        table[f"{i}_TOKEN_NOTE"] = SPECIAL + i
    for i in range(VELOCITY):
        table[f"{i}_TOKEN_VELOCITY"] = SPECIAL + NOTE + i
    for i in range(TIME):
        table[f"{i}_TOKEN_TIME"] = SPECIAL + NOTE + VELOCITY + i
    return table


def build(folder: str, seed: int = 2, eos_scale: float = 1.5, d_ff: int = 128, layers: int = 2,
          full_size: bool = False, in_vocab: bool = True, max_length: int = 256, forced_eos: bool = False,
          dense_act_fn: str | None = None, note_on_scale: float = 2.0, min_length: int = 0) -> str:
    """Write a random-weight Pop2Piano into ``folder`` in the hub layout; return the folder.

    The defaults (seed 2, EOS row × 1.5) give, on the tests' chord audio, some rows that
    end with EOS and some that run to ``max_length``. ``forced_eos`` makes every row end
    with EOS (``forced_eos_token_id``), the only case the stock ``batch_decode`` handles
    exactly; ``full_size`` builds the default ~59M-parameter configuration; ``min_length``
    suppresses EOS before that length.
    """
    import torch
    from transformers import (
        GenerationConfig,
        Pop2PianoConfig,
        Pop2PianoFeatureExtractor,
        Pop2PianoForConditionalGeneration,
    )

    torch.manual_seed(seed)
    if full_size:
        config = Pop2PianoConfig()
    else:
        config = Pop2PianoConfig(d_model=512, d_kv=8, d_ff=d_ff, num_layers=layers, num_heads=2)
    if dense_act_fn:
        config.dense_act_fn = dense_act_fn
    model = Pop2PianoForConditionalGeneration(config).eval()
    if in_vocab:
        with torch.no_grad():
            model.lm_head.weight[VOCAB_SIZE:] = 0
            model.lm_head.weight[1] *= eos_scale
            model.lm_head.weight[SPECIAL + NOTE + 1] *= note_on_scale  # "velocity 1": note-on mode
    generation = GenerationConfig(max_length=max_length, decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    if forced_eos:
        generation.forced_eos_token_id = 1
    if min_length:  # e.g. max_length - 1 with forced_eos: every row runs to the maximum (benchmarks)
        generation.min_length = min_length
    generation.composer_to_feature_token = {f"composer{i}": 2051 + i for i in range(1, 22)}
    model.generation_config = generation
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as handle:
        json.dump(vocab(), handle)
    Pop2PianoFeatureExtractor().to_json_file(os.path.join(folder, "preprocessor_config.json"))
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as handle:
        json.dump({"tokenizer_class": "Pop2PianoTokenizer", "default_velocity": 77, "num_bars": 2}, handle)
    return folder
