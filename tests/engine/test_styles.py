"""Style audition: one clip in many composers' styles at once, each exactly as converted alone."""

from __future__ import annotations

import pytest

from bridge.engine.converter import Converter
from bridge.engine.types import ClipRequest
from bridge.errors import BadRequest, UnknownComposer


def test_every_style_of_an_audition_equals_its_own_conversion(model_dir, song_path):
    """Exact mode (fp32): batching styles together changes nothing a style's own conversion gives."""
    converter = Converter(model_dir, device="cpu", batch_size=16)  # 3 composers × 7 chunks: mixed batches
    request = ClipRequest(song_path, start=1.0, duration=10.0)
    composers = ["composer2", "composer11", "composer20"]
    ready: list[str] = []
    styles = converter.convert_styles(request, composers, on_style=lambda a: ready.append(a.composer))
    assert [a.composer for a in styles] == ready == composers  # in order, each as soon as it was complete
    alone = [converter.convert(ClipRequest(song_path, start=1.0, duration=10.0, composer=c)) for c in composers]
    assert all(a.notes for a in alone), "no notes: the comparison would prove nothing"
    assert len({tuple(a.notes) for a in alone}) == 3  # the styles differ
    for together, single in zip(styles, alone):
        assert together.notes == single.notes and together.beats == single.beats


def test_an_audition_checks_every_composer_first(converter, song_path):
    with pytest.raises(UnknownComposer):
        converter.convert_styles(ClipRequest(song_path), ["composer1", "composer99"])
    with pytest.raises(BadRequest):
        converter.convert_styles(ClipRequest(song_path), [])
