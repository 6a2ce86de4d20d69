"""Tiny random reward models built in code, so the whole reward suite runs offline on a CPU.

A ref `tiny:<name>` is built deterministically (seed 0) at the real architecture with tiny sizes into
`$EXPANDER_CACHE/tiny/<name>` on first use: written to a temporary directory, then renamed into place
under a file lock, so concurrent processes build it once and a kill never leaves a half-built model.

| ref                   | what it builds                                                 | resolves to             |
|-----------------------|----------------------------------------------------------------|-------------------------|
| `tiny:krea2`          | diffusers Krea 2 pipeline (`models.resolve_krea2_model`)       | directory               |
| `tiny:clip`           | open_clip ViT (embed 32, 2 layers) + its BPE tokenizer config  | `local-dir:<directory>` |
| `tiny:dinov3`         | `DINOv3ViTModel` (hidden 32, 2 layers, patch 16, 4 registers)  | directory               |
| `tiny:aesthetic-head` | LAION-format MLP head (`layers.N.*`) on 32-d CLIP embeddings   | `.safetensors` file     |
| `tiny:mask2former`    | `Mask2FormerForUniversalSegmentation` (Swin 16-d, 10 queries,  | directory               |
|                       | COCO's 80 labels as the HF checkpoints name them)              |                         |
| `tiny:vqa`            | `LlavaForConditionalGeneration` (CLIP vision 32-d + Llama 32-d)| directory               |
|                       | with SmolLM2's tokenizer, an `<image>` token, a ChatML template |                         |

Random weights prove plumbing, shapes, determinism and speed, never quality. `tiny:krea2` is the one Krea 2
cache every loader shares (`expander render`, eval, the rewards' renderer): this module only forwards it to
`expander.models.resolve_krea2_model`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from filelock import FileLock

from expander.devices import save_on_any_rank
from expander.errors import ExpanderError
from expander.files import cache_dir
from expander.models import resolve_krea2_model

__all__ = ["TINY_CLIP_CONFIG", "TINY_PREFIX", "TINY_REFS", "UnknownTinyModelError", "is_tiny", "resolve_ref"]

TINY_PREFIX = "tiny:"
TINY_CLIP_EMBED_DIM = 32
TINY_CLIP_CONFIG = {
    "embed_dim": TINY_CLIP_EMBED_DIM,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "patch_size": 16, "head_width": 16},
    # vocab_size must match open_clip's built-in BPE tokenizer (49408) so the tokenizer ships with the package.
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}
# Bump when a builder changes, so stale caches are rebuilt rather than silently reused.
_BUILD_VERSION = "1"
TINY_VQA_TOKENIZER = "smollm2-135m"  # the built-in model whose tokenizer (ChatML tokens) the tiny VLM carries
# ChatML with image parts: what Qwen-VL / SmolVLM processors' templates render, in the fewest lines.
_VQA_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}{% else %}{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class UnknownTinyModelError(ExpanderError, ValueError):
    """A `tiny:<name>` reference whose name is not one of the tiny models built here."""


def _build_clip(path: Path) -> None:
    import open_clip
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.factory.CLIP(**TINY_CLIP_CONFIG)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path / "open_clip_model.safetensors"))
    (path / "open_clip_config.json").write_text(
        json.dumps(
            {
                "model_cfg": TINY_CLIP_CONFIG,
                "preprocess_cfg": {
                    "mean": list(open_clip.OPENAI_DATASET_MEAN),
                    "std": list(open_clip.OPENAI_DATASET_STD),
                },
            },
            indent=2,
        )
    )


def _build_dinov3(path: Path) -> None:
    from transformers import DINOv3ViTConfig, DINOv3ViTImageProcessor, DINOv3ViTModel

    torch.manual_seed(0)
    config = DINOv3ViTConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        patch_size=16,
        num_register_tokens=4,
        image_size=64,
    )
    DINOv3ViTModel(config).eval().save_pretrained(path)
    DINOv3ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(path)


def _build_aesthetic_head(path: Path) -> None:
    from safetensors.torch import save_file

    # Same layout as LAION's improved-aesthetic-predictor MLP (Linear/Dropout stack, indices 0,2,4,6,7),
    # at tiny widths over the tiny CLIP's embedding.
    torch.manual_seed(0)
    dims = [(0, TINY_CLIP_EMBED_DIM, 16), (2, 16, 8), (4, 8, 8), (6, 8, 4), (7, 4, 1)]
    state = {}
    for idx, d_in, d_out in dims:
        layer = torch.nn.Linear(d_in, d_out)
        state[f"layers.{idx}.weight"] = layer.weight.detach().contiguous()
        state[f"layers.{idx}.bias"] = layer.bias.detach().contiguous()
    save_file(state, str(path / "aesthetic_head.safetensors"))


def _build_mask2former(path: Path) -> None:
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessor,
        SwinConfig,
    )

    from expander.rewards.geneval_rules import OBJECT_NAMES

    torch.manual_seed(0)
    backbone = SwinConfig(
        image_size=64,
        patch_size=4,
        embed_dim=16,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        window_size=4,
        out_features=["stage1", "stage2", "stage3", "stage4"],
    )
    # COCO's 80 classes as the HF checkpoints name them (three differ from GenEval's names: the detector maps them).
    checkpoint_names = {"computer mouse": "mouse", "tv remote": "remote", "computer keyboard": "keyboard"}
    labels = {i: checkpoint_names.get(name, name) for i, name in enumerate(OBJECT_NAMES)}
    config = Mask2FormerConfig(
        backbone_config=backbone,
        feature_size=32,
        mask_feature_size=32,
        hidden_dim=32,
        encoder_feedforward_dim=64,
        dim_feedforward=64,
        encoder_layers=1,
        decoder_layers=2,
        num_attention_heads=2,
        num_queries=10,
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
    )
    Mask2FormerForUniversalSegmentation(config).eval().save_pretrained(path)
    Mask2FormerImageProcessor(size={"shortest_edge": 64, "longest_edge": 128}).save_pretrained(path)


def _build_vqa(path: Path) -> None:
    from transformers import (
        AutoTokenizer,
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    from expander.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(TINY_VQA_TOKENIZER))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    torch.manual_seed(0)
    vision = CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
    )
    LlavaForConditionalGeneration(config).eval().save_pretrained(path)
    LlavaProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="full",
        image_token="<image>",
        num_additional_image_tokens=1,  # the CLS token the "full" strategy keeps
        chat_template=_VQA_CHAT_TEMPLATE,
    ).save_pretrained(path)


# name -> (builder writing into an empty directory, function mapping the built directory to the ref)
TINY_REFS: dict[str, tuple[Callable[[Path], None], Callable[[Path], str]]] = {
    "clip": (_build_clip, lambda p: f"local-dir:{p}"),
    "dinov3": (_build_dinov3, lambda p: str(p)),
    "aesthetic-head": (_build_aesthetic_head, lambda p: str(p / "aesthetic_head.safetensors")),
    "mask2former": (_build_mask2former, lambda p: str(p)),
    "vqa": (_build_vqa, lambda p: str(p)),
}


def is_tiny(ref: str | None) -> bool:
    return isinstance(ref, str) and ref.startswith(TINY_PREFIX)


def resolve_ref(ref: str) -> str:
    """Resolve a model ref: `tiny:<name>` is built (once, cached) and mapped to a loadable ref; any other
    ref is returned unchanged.

    Returns:
        For `tiny:clip` an open_clip `local-dir:PATH` name; for `tiny:aesthetic-head` a file path; for the
        others a directory path.

    Raises:
        UnknownTinyModelError: an unknown tiny name.
        MissingExtraError: `tiny:krea2` without the Krea 2 runtime's dependencies.
    """
    if not is_tiny(ref):
        return ref
    name = ref[len(TINY_PREFIX) :]
    if name == "krea2":
        return str(resolve_krea2_model(ref))
    if name not in TINY_REFS:
        known = ", ".join(TINY_PREFIX + n for n in ("krea2", *TINY_REFS))
        raise UnknownTinyModelError(f"unknown tiny model {ref!r}; known: {known}")
    build, to_ref = TINY_REFS[name]
    root = cache_dir() / "tiny"
    final = root / f"{name}-v{_BUILD_VERSION}"
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(root / f".{name}.lock")):
            if not final.is_dir():  # another process may have built it while we waited
                tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
                try:
                    with save_on_any_rank():  # under torchrun the building rank may not be rank 0
                        build(tmp)
                    tmp.rename(final)
                except BaseException:
                    shutil.rmtree(tmp, ignore_errors=True)
                    raise
    return to_ref(final)
