"""The model is found the way users find it: a folder, or a hub id through the HF cache (offline)."""

from __future__ import annotations

import os
import shutil

import pytest

from bridge.engine.model import folder_revision, resolve
from bridge.errors import ModelUnavailable

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture()
def hf_cache(tmp_path, model_dir, monkeypatch):
    """An HF hub cache holding the tiny model as ``tester/tiny-pop2piano`` at one commit."""
    repo = tmp_path / "hub" / "models--tester--tiny-pop2piano"
    snapshot = repo / "snapshots" / COMMIT
    shutil.copytree(model_dir, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return snapshot


def test_hub_id_resolves_through_the_cache_offline(hf_cache):
    source = resolve("tester/tiny-pop2piano")
    assert os.path.samefile(source.folder, hf_cache)
    assert source.revision == COMMIT and source.model_id == "tester/tiny-pop2piano"


def test_hub_id_missing_from_cache_offline_says_how_to_get_it(hf_cache):
    with pytest.raises(ModelUnavailable) as info:
        resolve("tester/other-model")
    message = str(info.value)
    assert "HF_HUB_OFFLINE" in message and "huggingface-cli download tester/other-model" in message


def test_converter_loads_by_hub_id(hf_cache):
    from bridge.engine.converter import Converter

    converter = Converter("tester/tiny-pop2piano", device="cpu")
    assert converter.revision == COMMIT
    assert converter.composers[0] == "composer1" and converter.composers[-1] == "composer21"
    assert len(converter.composers) == 21


def test_folder_revision_changes_with_the_weights(tmp_path, model_dir):
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    before = folder_revision(str(copy))
    assert before == folder_revision(model_dir)
    with open(copy / "config.json", "a", encoding="utf-8") as handle:
        handle.write("\n")
    assert folder_revision(str(copy)) != before


def test_path_like_names_are_not_sent_to_the_hub(tmp_path):
    with pytest.raises(ModelUnavailable, match="model folder not found"):
        resolve(str(tmp_path / "missing"))
