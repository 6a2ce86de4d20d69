"""One open_clip model shared by the CLIP-based rewards (aesthetics, faithfulness, image safety).

Loaded once per (model, pretrained) pair; images go through the model's own preprocessing (resize of the
short side, centre crop, mean/std) done on tensors, so rendered images never round-trip through PIL.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

import torch
import torch.nn.functional as F

from expander.rewards.config import ClipConfig
from expander.rewards.errors import RewardModelError
from expander.rewards.tiny import resolve_ref

logger = logging.getLogger(__name__)

__all__ = ["ClipModel", "default_device"]


def default_device(device: str | None = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def resize_center_crop(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize `Tensor[N, 3, H, W]` so it covers `size` (h, w), then centre-crop to it (bicubic, antialiased)."""
    h, w = images.shape[-2:]
    th, tw = size
    scale = max(th / h, tw / w)
    nh, nw = max(th, round(h * scale)), max(tw, round(w * scale))
    if (nh, nw) != (h, w):
        images = F.interpolate(images, size=(nh, nw), mode="bicubic", align_corners=False, antialias=True)
    top, left = (nh - th) // 2, (nw - tw) // 2
    return images[..., top : top + th, left : left + tw].clamp(0, 1)


class ClipModel:
    """An open_clip model with tensor preprocessing and a text-embedding cache.

    Args:
        model: open_clip model (`CLIP`), already on `device`, in eval mode.
        tokenizer: its tokenizer.
        image_size: (h, w) the image tower expects.
        mean, std: per-channel normalisation.
        name: for logs and feature-cache keys.
    """

    def __init__(
        self, model, tokenizer, image_size: tuple[int, int], mean, std, name: str, max_cached_texts: int = 8192
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.device = next(model.parameters()).device
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.name = name
        self.max_cached_texts = max_cached_texts
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.image_forwards = 0

    @classmethod
    def from_config(cls, cfg: ClipConfig, device: str | None = None) -> ClipModel:
        """Load `cfg.model` (+ `cfg.pretrained`). Raises `RewardModelError` naming the ref when it cannot."""
        import open_clip

        name = resolve_ref(cfg.model)
        pretrained = None if name.startswith(("local-dir:", "hf-hub:")) else cfg.pretrained
        dev = default_device(device)
        try:
            model, _, _ = open_clip.create_model_and_transforms(name, pretrained=pretrained, device=dev)
            tokenizer = open_clip.get_tokenizer(name)
        except Exception as exc:
            raise RewardModelError(
                f"cannot load CLIP model {cfg.model!r} (pretrained={cfg.pretrained!r}): {exc}. Offline, use a local "
                "checkpoint (pretrained: /path/to/weights.bin or model: local-dir:/path) or a tiny ref (tiny:clip)."
            ) from exc
        model.eval().requires_grad_(False)
        pp = getattr(model.visual, "preprocess_cfg", {}) or {}
        size = pp.get("size", model.visual.image_size)
        size = (size, size) if isinstance(size, int) else tuple(size)
        mean = pp.get("mean", open_clip.OPENAI_DATASET_MEAN)
        std = pp.get("std", open_clip.OPENAI_DATASET_STD)
        return cls(model, tokenizer, size, mean, std, name=f"{cfg.model}/{cfg.pretrained}")

    @torch.inference_mode()
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, 3, H, W]` in [0, 1] -> L2-normalised image embeddings `Tensor[N, D]` (float32, CPU)."""
        if images.ndim != 4 or images.shape[1] != 3:  # tensors from the renderer: a caller's bug, kept built-in
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        x = resize_center_crop(images.to(self.device, torch.float32), self.image_size)
        x = (x - self.mean) / self.std
        self.image_forwards += 1
        emb = self.model.encode_image(x).float()
        return F.normalize(emb, dim=-1).cpu()

    @torch.inference_mode()
    def encode_texts(self, texts: list[str]) -> torch.Tensor:
        """Texts -> L2-normalised text embeddings `Tensor[N, D]` (float32, CPU), cached per text."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._text_cache))
        if todo:
            tokens = self.tokenizer(todo).to(self.device)
            emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu()
            for t, e in zip(todo, emb):
                self._text_cache[t] = e
        out = torch.stack([self._text_cache[t] for t in texts]) if texts else torch.zeros(0)
        for t in texts:
            self._text_cache.move_to_end(t)
        while len(self._text_cache) > self.max_cached_texts:
            self._text_cache.popitem(last=False)
        return out
