"""The reference recipe of the transformers documentation, for parity checks and the benchmark.

``Pop2PianoProcessor`` → ``generate(composer=…)`` → ``batch_decode``, exactly as documented,
plus a row-by-row variant of the last step for batches the stock ``batch_decode``
cannot handle (rows without EOS). Times come back in clip seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RefNote:
    pitch: int
    start: float
    end: float
    velocity: int


def processor_and_model(folder: str):
    from transformers import Pop2PianoForConditionalGeneration, Pop2PianoProcessor

    return Pop2PianoProcessor.from_pretrained(folder), Pop2PianoForConditionalGeneration.from_pretrained(folder).eval()


def generate(processor, model, audio: np.ndarray, sr: int, composer: str):
    """Features and token ids as the documented recipe gets them."""
    import torch

    inputs = processor(audio=audio, sampling_rate=sr, return_tensors="pt")
    with torch.no_grad():
        ids = model.generate(input_features=inputs["input_features"], composer=composer)
    return inputs, ids


def batch_decode(processor, inputs, ids) -> list[RefNote]:
    """The documented last step (crashes when no row has EOS)."""
    out = processor.batch_decode(token_ids=ids, feature_extractor_output=inputs)
    return _notes(out["notes"], 0.0)  # batch_decode already shifted them by the first beat


def rowwise_decode(processor, inputs, ids) -> list[RefNote]:
    """The stock tokenizer applied to every row on its own, each read to its own EOS."""
    tokenizer = processor.tokenizer
    ids = ids.cpu().numpy()
    ext = np.asarray(inputs["extrapolated_beatstep"][0])
    midi = tokenizer.relative_batch_tokens_ids_to_midi(
        tokens=ids, beatstep=ext, bars_per_batch=tokenizer.num_bars, cutoff_time_idx=(tokenizer.num_bars + 1) * 4
    )
    return _notes(midi.instruments[0].notes, float(inputs["beatsteps"][0][0]))


def _notes(notes, offset: float) -> list[RefNote]:
    result = [RefNote(int(n.pitch), float(n.start) + offset, float(n.end) + offset, int(n.velocity)) for n in notes]
    return sorted(result, key=lambda n: (n.start, n.pitch, n.end))
