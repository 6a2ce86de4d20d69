"""Write a Hugging Face Llama-architecture model directory as a GGUF file (f32, f16 or q8_0).

What llama.cpp's `convert_hf_to_gguf.py` does for `LlamaForCausalLM` (MIT licence, ggml-org/llama.cpp), in our
words and for the one architecture our expanders use (SmolLM2 is a Llama):

* tensor names through gguf-py's `TensorNameMap` (`model.layers.0.self_attn.q_proj.weight` ->
  `blk.0.attn_q.weight`); a tied `lm_head` is not written (`output.weight` absent means tied);
* the q and k projections permuted per head from the rotate-half rope layout of transformers to the
  interleaved one of llama.cpp (`permute_for_rope`; transformers undoes it when it loads a GGUF);
* 1-D tensors (norms) stay f32; 2-D weights become f16, or q8_0 where a row is a whole number of 32-value
  blocks (else f16), as llama.cpp's quantiser does;
* hyper-parameters under `llama.*` keys, the tokenizer under `tokenizer.ggml.*` (`gguf_vocab`), and the default
  sampling under `general.sampling.*` (llama.cpp uses it unless the caller sets its own).

Only `rope_type: default` is written: other rope scalings (llama3, yarn, linear) need extra tensors or keys
this writer does not produce, and a file that silently drops them generates garbage past the short context.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import gguf
import numpy as np

from expander.export.errors import ExportError
from expander.export.gguf_vocab import gguf_vocab

__all__ = ["GGUF_TYPES", "GGUFSampling", "permute_for_rope", "write_gguf"]

logger = logging.getLogger(__name__)

GGUF_TYPES: dict[str, tuple[gguf.GGMLQuantizationType, gguf.LlamaFileType]] = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "q8_0": (gguf.GGMLQuantizationType.Q8_0, gguf.LlamaFileType.MOSTLY_Q8_0),
}
"""GGUF weight types the writer produces: name -> (type of 2-D weights, file type recorded in the header)."""


@dataclass(frozen=True)
class GGUFSampling:
    """Default sampling recorded in the file (`general.sampling.*`)."""

    temperature: float
    top_p: float
    repeat_penalty: float


def permute_for_rope(weights: np.ndarray, n_head: int) -> np.ndarray:
    """Reorder the rows of a q or k projection (`[n_head * head_dim, hidden]`) from transformers' rope layout
    (each head's first half rotates with its second half) to llama.cpp's (adjacent pairs rotate together).

    `n_head` is the number of heads the rows belong to: attention heads for q, key-value heads for k.
    """
    rows = weights.shape[0]
    return weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def write_gguf(
    model_dir: str | Path,
    path: str | Path,
    gguf_type: str = "f16",
    *,
    name: str = "expander",
    sampling: GGUFSampling | None = None,
    pre_tokenizer: str | None = None,
) -> Path:
    """Convert the HF model in `model_dir` (safetensors, config.json, tokenizer) into the GGUF file `path`.

    The converted tensors are held in memory until the file is written (the GGUF header lists every tensor
    before the data): about the size of the output file, fine for the small models an expander is.

    Args:
        gguf_type: a key of `GGUF_TYPES`.
        name: `general.name` of the file.
        sampling: default sampling to record, or None for none.
        pre_tokenizer: llama.cpp's pre-tokenizer name (None: recognised, `gguf_vocab.pre_tokenizer_name`).

    Returns:
        `path`.

    Raises:
        ExportError: an unknown type, an architecture other than Llama, a rope scaling other than `default`,
            missing weights, a tokenizer the writer cannot describe (`gguf_vocab`).
    """
    if gguf_type not in GGUF_TYPES:
        raise ExportError(f"unknown GGUF type {gguf_type!r}; choose one of {', '.join(GGUF_TYPES)}")
    model_dir, path = Path(model_dir), Path(path)
    config = json.loads((model_dir / "config.json").read_text())
    if config.get("model_type") != "llama":
        raise ExportError(
            f"the GGUF writer handles Llama-architecture models (model_type llama, e.g. SmolLM2); {model_dir} is "
            f"{config.get('model_type')!r}: export --format hf and convert it with llama.cpp's convert_hf_to_gguf.py"
        )
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type != "default":
        raise ExportError(f"rope_type {rope_type!r} in {model_dir}/config.json is not supported; only 'default' is")
    rope_theta = rope.get("rope_theta", config.get("rope_theta", 10000.0))
    n_head, n_layer, hidden = config["num_attention_heads"], config["num_hidden_layers"], config["hidden_size"]
    n_kv = config.get("num_key_value_heads") or n_head
    head_dim = config.get("head_dim") or hidden // n_head
    tied = bool(config.get("tie_word_embeddings", False))
    weight_type, file_type = GGUF_TYPES[gguf_type]

    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_file_type(file_type)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_vocab_size(config["vocab_size"])
    writer.add_context_length(config.get("max_position_embeddings", 2048))
    writer.add_embedding_length(hidden)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-6))
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_rope_dimension_count(head_dim)
    if head_dim != hidden // n_head:
        writer.add_key_length(head_dim)
        writer.add_value_length(head_dim)
    if sampling is not None:
        writer.add_sampling_temp(sampling.temperature)
        writer.add_sampling_top_p(sampling.top_p)
        writer.add_sampling_penalty_repeat(sampling.repeat_penalty)
    gguf_vocab(model_dir, config["vocab_size"], pre_tokenizer).add_to(writer)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, n_layer)
    written = 0
    for hf_name, tensor in _read_tensors(model_dir):
        if hf_name.endswith(".rotary_emb.inv_freq") or (tied and hf_name == "lm_head.weight"):
            continue
        gguf_name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ExportError(f"tensor {hf_name!r} of {model_dir} has no GGUF name (not a plain Llama model?)")
        if gguf_name.endswith("attn_q.weight"):
            tensor = permute_for_rope(tensor, n_head)
        elif gguf_name.endswith("attn_k.weight"):
            tensor = permute_for_rope(tensor, n_kv)
        data, qtype = _encode(tensor, weight_type)
        writer.add_tensor(gguf_name, data, raw_dtype=qtype)
        written += 1
    if not written:
        raise ExportError(f"{model_dir} holds no safetensors weights")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    logger.info("wrote %s (%s, %d tensors)", path, gguf_type, written)
    return path


def _encode(tensor: np.ndarray, weight_type: gguf.GGMLQuantizationType) -> tuple[np.ndarray, gguf.GGMLQuantizationType]:
    """A tensor in the type llama.cpp expects: 1-D in f32, 2-D in `weight_type` (f16 when q8_0 blocks don't fit)."""
    tensor = tensor.astype(np.float32, copy=False)
    if tensor.ndim < 2 or weight_type == gguf.GGMLQuantizationType.F32:
        return tensor, gguf.GGMLQuantizationType.F32
    if weight_type == gguf.GGMLQuantizationType.Q8_0 and not gguf.quants.Q8_0.can_quantize(tensor):
        weight_type = gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(tensor, weight_type), weight_type


def _read_tensors(model_dir: Path):
    """(name, float32 numpy array) for every tensor of every safetensors file in `model_dir`, in name order."""
    import torch
    from safetensors import safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    for file in files:
        with safe_open(file, framework="pt") as f:
            for key in sorted(f.keys()):
                yield key, f.get_tensor(key).to(torch.float32).numpy()
