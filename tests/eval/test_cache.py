"""Content-keyed caches: keys follow the settings, writes are atomic, unreadable entries count as missing."""

from __future__ import annotations

import os

import pytest
from PIL import Image

from expander.eval.cache import EvalCache
from expander.files import atomic_write_bytes
from expander.rewards.render_settings import directory_fingerprint, stable_key


def test_keys_follow_content_not_dict_order():
    assert stable_key({"a": 1, "b": [1, 2]}) == stable_key({"b": [1, 2], "a": 1})
    assert stable_key({"a": 1}) != stable_key({"a": 2})


def test_fingerprint_changes_when_an_adapter_is_retrained(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    weights = tmp_path / "adapter_model.safetensors"
    weights.write_bytes(b"x" * 10)
    first = directory_fingerprint(tmp_path)
    assert directory_fingerprint(tmp_path) == first
    weights.write_bytes(b"y" * 11)
    assert directory_fingerprint(tmp_path) != first
    assert directory_fingerprint(None) is None


def test_expansion_and_render_round_trip_and_corruption_means_missing(tmp_path):
    cache = EvalCache(tmp_path)
    key = stable_key("k")
    assert cache.get_expansion(key) is None
    cache.put_expansion(key, {"text": "a fox in deep snow", "seed": 3})
    assert cache.get_expansion(key)["text"] == "a fox in deep snow"
    cache.expansion_path(key).write_text('{"text": "trunc')  # a file cut short by something else
    assert cache.get_expansion(key) is None

    image = Image.new("RGB", (16, 16), (200, 10, 10))
    cache.put_render(key, image)
    assert cache.has_render(key) and cache.get_render(key).getpixel((0, 0)) == (200, 10, 10)
    cache.render_path(key).write_bytes(b"\x89PNG not really")
    assert cache.get_render(key) is None
    assert oct(os.stat(cache.expansion_path(key)).st_mode & 0o044) != "0o0"  # readable like a normal file


def test_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "results.parquet"
    atomic_write_bytes(target, b"old complete file")

    with pytest.raises(TypeError):
        atomic_write_bytes(target, object())  # fails mid-write
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["results.parquet"]
