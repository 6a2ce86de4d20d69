"""Model references: built-in conversion (cached), local dirs, clear errors for unknown refs."""

import json
import subprocess
import sys
import time

import pytest

from expander.files import cache_dir
from expander.models import ModelNotFoundError, resolve_model


def test_builtin_is_a_loadable_hf_dir(builtin_model_dir):
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        assert (builtin_model_dir / name).is_file(), name
    config = json.loads((builtin_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama" and "quantization_config" not in config
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(builtin_model_dir)
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>user" in text and text.rstrip().endswith("<|im_start|>assistant")


def test_builtin_is_converted_once(builtin_model_dir):
    before = (builtin_model_dir / "model.safetensors").stat().st_mtime_ns
    start = time.perf_counter()
    assert resolve_model("smollm2-135m") == builtin_model_dir
    assert time.perf_counter() - start < 1.0  # cached: no second dequantisation
    assert (builtin_model_dir / "model.safetensors").stat().st_mtime_ns == before
    assert builtin_model_dir.parent.parent == cache_dir()


def test_local_directory_ref(builtin_model_dir):
    assert resolve_model(str(builtin_model_dir)) == builtin_model_dir


def test_unknown_ref_names_what_was_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("nobody/does-not-exist")
    message = str(info.value)
    assert "'nobody/does-not-exist'" in message
    assert "built-in names" in message and "local directory" in message and "hub id" in message

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(str(empty))
    with pytest.raises(ModelNotFoundError, match="not a hub id"):
        resolve_model("not-a-model")


def test_expander_cache_moves_the_conversion(tmp_path):
    """A fresh cache dir converts again (in a subprocess, so this session's cache is untouched)."""
    code = "from expander.models import resolve_model; print(resolve_model('smollm2-135m'))"
    env = {"EXPANDER_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    # Two processes at once: the file lock makes one convert and the other wait for it.
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip().splitlines()[-1] for o in outs}
    assert paths == {str(tmp_path / "cache" / "models" / "smollm2-135m")}
    assert not list((tmp_path / "cache" / "models").glob("*.tmp-*"))  # no half-written leftovers


def test_adapter_resolution(tmp_path):
    from expander.models import ADAPTERS_DIR, resolve_adapter

    shipped = ADAPTERS_DIR / "smollm2-135m-expander"
    expected = str(shipped)
    assert resolve_adapter("smollm2-135m") == expected
    assert resolve_adapter("smollm2-135m", "default") == expected
    assert resolve_adapter("smollm2-135m", "none") is None
    assert resolve_adapter("smollm2-135m", str(tmp_path)) == str(tmp_path)
    assert resolve_adapter("org/other-model") is None  # no shipped adapter for other models


def test_the_shipped_default_adapter_is_small_bf16_with_its_card():
    from safetensors import safe_open

    from expander.models import ADAPTERS_DIR

    shipped = ADAPTERS_DIR / "smollm2-135m-expander"
    weights = shipped / "adapter_model.safetensors"
    assert weights.stat().st_size <= 20 * 2**20
    with safe_open(str(weights), "pt") as f:
        keys = list(f.keys())
        assert keys and all(str(f.get_slice(k).get_dtype()) == "BF16" for k in keys)
    config = json.loads((shipped / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["base_model_name_or_path"] == "smollm2-135m"
    card = (shipped / "README.md").read_text()
    assert "Held-out quality" in card and "constraint pass rate" in card and "added-subject share" in card


def test_merged_adapter_gives_the_runtime_loras_logits_and_is_made_once(tmp_path, monkeypatch, builtin_model_dir):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from expander.models import ADAPTERS_DIR, merged_model_dir

    monkeypatch.setenv("EXPANDER_CACHE", str(tmp_path))
    shipped = ADAPTERS_DIR / "smollm2-135m-expander"
    merged = merged_model_dir(builtin_model_dir, shipped)
    assert merged.parent == tmp_path / "merged" and (merged / "tokenizer.json").is_file()
    ids = torch.tensor([[1, 504, 2295, 17835, 281, 6217]])
    with torch.no_grad():
        runtime = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(builtin_model_dir), str(shipped))(
            ids
        ).logits
        base = AutoModelForCausalLM.from_pretrained(builtin_model_dir)(ids).logits
        folded = AutoModelForCausalLM.from_pretrained(merged)(ids).logits
    assert torch.allclose(folded, runtime, atol=2e-3) and not torch.allclose(folded, base, atol=1e-2)
    stamp = (merged / "model.safetensors").stat().st_mtime_ns
    assert merged_model_dir(builtin_model_dir, shipped) == merged  # cached: not merged again
    assert (merged / "model.safetensors").stat().st_mtime_ns == stamp
    with pytest.raises(FileNotFoundError, match="not a PEFT adapter directory"):
        merged_model_dir(builtin_model_dir, tmp_path)


def _checkpoint(root, weight_byte: bytes, size: int):
    root.mkdir()
    (root / "config.json").write_text('{"model_type": "llama"}')
    (root / "model.safetensors").write_bytes(weight_byte * size)
    return root


def test_checkpoints_with_the_same_sizes_but_different_weights_get_different_revisions(tmp_path, monkeypatch):
    from expander import models

    monkeypatch.setenv("EXPANDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "DIGEST_CACHE_MIN_BYTES", 1024)  # take the cached path with small files
    a = _checkpoint(tmp_path / "a", b"\x01", 4096)
    b = _checkpoint(tmp_path / "b", b"\x02", 4096)
    assert models.weights_revision(a) != models.weights_revision(b)
    assert models.weights_revision(a) == models.weights_revision(_checkpoint(tmp_path / "a2", b"\x01", 4096))
    assert len(list((tmp_path / "cache" / "digests").iterdir())) == 3  # one entry per large file


def test_the_digest_cache_is_read_by_path_size_and_mtime_and_a_rewrite_misses_it(tmp_path, monkeypatch):
    import os

    from expander import models

    monkeypatch.setenv("EXPANDER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(models, "DIGEST_CACHE_MIN_BYTES", 1024)
    ckpt = _checkpoint(tmp_path / "ckpt", b"\x01", 4096)
    weights = ckpt / "model.safetensors"
    first = models.weights_revision(ckpt)
    (entry,) = (tmp_path / "cache" / "digests").iterdir()
    entry.write_text("f" * 64)  # a planted digest is what a restart reads instead of the file
    assert models.weights_revision(ckpt) != first
    weights.write_bytes(b"\x01" * 4096)  # same content, new mtime: a new key, hashed again
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))
    assert models.weights_revision(ckpt) == first
