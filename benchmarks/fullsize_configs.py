"""The full-size architectures of the real recipes, as config dicts written here (no hub), and their builders.

Used by `benchmarks/fullsize_dryrun.py`. Every model is the real class at its published size with random weights:

| component | class | size from |
|---|---|---|
| policy / served expander | `Qwen3ForCausalLM` | `QWEN3_1P7B`, `QWEN3_4B`: `config.json` of Qwen/Qwen3-1.7B, -4B |
| Krea 2 (DiT, Qwen3-VL-4B-sized text encoder, Qwen-Image VAE) | diffusers `Krea2Pipeline` | (1) |
| CLIP for aesthetic / faithfulness / safety | open_clip `ViT-L-14`, `pretrained=None` | open_clip's own model config |
| aesthetic head | LAION improved-aesthetic-predictor MLP | `LAION_HEAD_DIMS` (768-1024-128-64-16-1) |
| diversity | transformers `DINOv3ViTModel` | `DINOV3_VITB16`: facebook/dinov3-vitb16-pretrain-lvd1689m's config |

(1) `benchmarks/gpu_krea2_latency.build_pipeline`: diffusers' defaults, which are the published Krea 2's sizes.

`device="meta"` builds any of them without allocating (`meta_plan()`: parameter counts and bf16 bytes).
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Qwen/Qwen3-1.7B config.json (architecture keys): 28 layers, width 2048, GQA 16/8 heads of 128, tied embeddings.
QWEN3_1P7B = dict(
    vocab_size=151936,
    hidden_size=2048,
    intermediate_size=6144,
    num_hidden_layers=28,
    num_attention_heads=16,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
    rope_theta=1_000_000.0,
    tie_word_embeddings=True,
    hidden_act="silu",
    attention_bias=False,
)
# Qwen/Qwen3-4B config.json: 36 layers, width 2560, GQA 32/8 heads of 128, tied embeddings.
QWEN3_4B = dict(
    vocab_size=151936,
    hidden_size=2560,
    intermediate_size=9728,
    num_hidden_layers=36,
    num_attention_heads=32,
    num_key_value_heads=8,
    head_dim=128,
    max_position_embeddings=40960,
    rms_norm_eps=1e-6,
    rope_theta=1_000_000.0,
    tie_word_embeddings=True,
    hidden_act="silu",
    attention_bias=False,
)
QWEN3 = {"qwen3-1.7b": QWEN3_1P7B, "qwen3-4b": QWEN3_4B}

# facebook/dinov3-vitb16-pretrain-lvd1689m config.json: ViT-B/16 with 4 register tokens.
DINOV3_VITB16 = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    patch_size=16,
    num_register_tokens=4,
    image_size=224,
    layerscale_value=1.0,
    rope_theta=100.0,
    query_bias=True,
    key_bias=False,
    value_bias=True,
    proj_bias=True,
    mlp_bias=True,
    use_gated_mlp=False,
    layer_norm_eps=1e-5,
)

CLIP_MODEL = "ViT-L-14"
# LAION's sac+logos+ava1-l14-linearMSE.pth: Linear layers at these Sequential indices (Dropout between).
LAION_HEAD_DIMS = ((0, 768, 1024), (2, 1024, 128), (4, 128, 64), (6, 64, 16), (7, 16, 1))

_FORMAT = "1"  # bumped when a saved layout changes, so stale random directories are rebuilt


@contextlib.contextmanager
def _init_on(device, dtype):
    """Create modules straight on `device` in `dtype` (no fp32 copy first; nothing allocated on meta)."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            yield
    finally:
        torch.set_default_dtype(previous)


def build_qwen3(name: str, device="meta", dtype=None):
    """`Qwen3ForCausalLM` of `QWEN3[name]` with random weights on `device` (bf16 unless `dtype`)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen3Config

    dtype = dtype or torch.bfloat16
    with _init_on(device, dtype):
        return AutoModelForCausalLM.from_config(Qwen3Config(**QWEN3[name]), dtype=dtype).eval()


def build_krea2(device="meta", dtype=None):
    """The full-size random `Krea2Pipeline` of `benchmarks/gpu_krea2_latency.py` (one builder for both scripts)."""
    import torch

    from benchmarks.gpu_krea2_latency import build_pipeline

    return build_pipeline(torch.device(device), dtype or torch.bfloat16, smoke=False)


def build_clip(device="meta"):
    """open_clip ViT-L-14 with no pretrained tag (random weights, fp32 as the reward suite loads it)."""
    import open_clip
    import torch

    with torch.device(device):
        return open_clip.create_model(CLIP_MODEL, pretrained=None, device=device)


def build_laion_head(device="meta"):
    import torch

    with torch.device(device):
        return torch.nn.ModuleList([torch.nn.Linear(d_in, d_out) for _, d_in, d_out in LAION_HEAD_DIMS])


def build_dinov3(device="meta", dtype=None):
    import torch
    from transformers import DINOv3ViTConfig, DINOv3ViTModel

    with _init_on(device, dtype or torch.float32):
        return DINOv3ViTModel(DINOv3ViTConfig(**DINOV3_VITB16)).eval()


def param_count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def meta_plan(policy: str = "qwen3-1.7b", served: str = "qwen3-1.7b") -> dict[str, dict]:
    """Build every full-size component on the meta device: `{component: {"params", "bf16_gib"}}`.

    Runs the real constructors up to the first real allocation (none: meta tensors have shapes only).
    """
    pipe = build_krea2("meta")
    plan = {
        "krea2_transformer": param_count(pipe.transformer),
        "krea2_text_encoder": param_count(pipe.text_encoder),
        "krea2_vae": param_count(pipe.vae),
        f"policy_{policy}": param_count(build_qwen3(policy, "meta")),
        "clip_vit_l14": param_count(build_clip("meta")),
        "aesthetic_head": param_count(build_laion_head("meta")),
        "dinov3_vitb16": param_count(build_dinov3("meta")),
    }
    if served != policy:
        plan[f"served_{served}"] = param_count(build_qwen3(served, "meta"))
    return {name: {"params": n, "bf16_gib": round(2 * n / 2**30, 3)} for name, n in plan.items()}


# ---------------------------------------------------------------------------------------------- random directories


def _current(path: Path) -> bool:
    marker = path / "RANDOM_WEIGHTS.txt"
    return marker.is_file() and marker.read_text().startswith(f"format {_FORMAT}\n")


def _mark(path: Path, what: str) -> None:
    (path / "RANDOM_WEIGHTS.txt").write_text(
        f"format {_FORMAT}\n{what}: random weights at full size, built by "
        "benchmarks/fullsize_configs.py. Not a real model.\n"
    )


def stand_in_tokenizer():
    """The built-in SmolLM2 tokenizer: no Qwen tokenizer offline. The models keep Qwen3's 151,936-row embedding
    (so logits and KV memory are real); sampled ids past its 49,152 tokens decode to nothing."""
    from transformers import AutoTokenizer

    from expander.models import TINY_KREA2_TOKENIZER, resolve_model

    return AutoTokenizer.from_pretrained(resolve_model(TINY_KREA2_TOKENIZER))


def save_random_qwen3(name: str, root: Path, device="cuda") -> Path:
    """A loadable HF directory (bf16 safetensors + stand-in tokenizer) of `QWEN3[name]` with random weights."""
    import torch

    path = Path(root) / f"{name}-random"
    if not _current(path):
        model = build_qwen3(name, device)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0.0, 0.02)  # from_config on a device leaves some weights uninitialised
        model.save_pretrained(path, safe_serialization=True)
        stand_in_tokenizer().save_pretrained(path)
        del model
        _mark(path, name)
    return path


def save_random_krea2(root: Path, device="cuda") -> Path:
    """A diffusers-format Krea 2 directory at full size, random bf16 weights (about 34 GB on disk)."""
    path = Path(root) / "krea2-random"
    if not _current(path):
        pipe = build_krea2(device)
        pipe.save_pretrained(path, safe_serialization=True)
        del pipe
        _mark(path, "krea2")
    return path


def save_random_dinov3(root: Path) -> Path:
    from transformers import DINOv3ViTImageProcessor

    path = Path(root) / "dinov3-vitb16-random"
    if not _current(path):
        build_dinov3("cpu").save_pretrained(path)
        DINOv3ViTImageProcessor(size={"height": 224, "width": 224}).save_pretrained(path)
        _mark(path, "dinov3-vitb16")
    return path


def save_random_laion_head(root: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    path = Path(root) / "laion-head-random"
    if not _current(path):
        path.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        state = {}
        for (idx, _, _), layer in zip(LAION_HEAD_DIMS, build_laion_head("cpu")):
            state[f"layers.{idx}.weight"] = layer.weight.detach().contiguous()
            state[f"layers.{idx}.bias"] = layer.bias.detach().contiguous()
        save_file(state, str(path / "aesthetic_head.safetensors"))
        _mark(path, "laion-head")
    return path / "aesthetic_head.safetensors"


def full_refs(root: Path, device="cuda", served: str = "qwen3-1.7b") -> dict[str, str]:
    """Every full-size random model saved under `root` (reused while current): refs for the recipes' keys."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    refs = {
        "policy": str(save_random_qwen3("qwen3-1.7b", root, device)),
        "krea2": str(save_random_krea2(root, device)),
        "dinov3": str(save_random_dinov3(root)),
        "aesthetic_head": str(save_random_laion_head(root)),
        "clip": CLIP_MODEL,  # pretrained: null -> random weights, nothing to save
    }
    refs["served"] = refs["policy"] if served == "qwen3-1.7b" else str(save_random_qwen3(served, root, device))
    (root / "refs.json").write_text(json.dumps(refs, indent=2))
    return refs
