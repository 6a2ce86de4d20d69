"""Group diversity from DINOv3 image embeddings (Krea saw outputs collapse to one house style without it).

Per completion: its mean cosine distance (1 - cos) to the other images of its group, a group being the
completions of the same short prompt. A group of one gives `None` (nothing to compare with); identical
images give 0; a completion whose embedding is missing gives `None` and is left out of the others' means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence

import torch
import torch.nn.functional as F

from expander.devices import rank_device, standalone_loading
from expander.rewards.clip_model import resize_center_crop
from expander.rewards.config import DiversityConfig
from expander.rewards.errors import RewardModelError
from expander.rewards.tiny import resolve_ref

__all__ = ["Dinov3Embedder", "gathered_group_diversity", "group_diversity"]


def group_diversity(
    embeddings: Sequence[torch.Tensor | None] | torch.Tensor, group_ids: Sequence[Hashable]
) -> list[float | None]:
    """Mean cosine distance of each item to the other items of its group.

    Args:
        embeddings: `Tensor[N, D]`, or N vectors of shape (D,) with `None` for a missing one.
        group_ids: N group labels (e.g. the short prompt).

    Returns:
        N floats in [0, 2], or `None` for an item that is missing or has no other valid member in its group.
    """
    if len(embeddings) != len(group_ids):  # lists built by code: a caller's bug, kept built-in
        raise ValueError(f"{len(embeddings)} embeddings but {len(group_ids)} group ids")
    groups: dict[Hashable, list[int]] = defaultdict(list)
    for i, (g, e) in enumerate(zip(group_ids, embeddings)):
        if e is not None:
            groups[g].append(i)
    out: list[float | None] = [None] * len(group_ids)
    for members in groups.values():
        if len(members) < 2:
            continue
        x = F.normalize(torch.stack([embeddings[i].float().reshape(-1) for i in members]), dim=-1)
        dist = (1.0 - x @ x.T).clamp(min=0.0)
        dist.fill_diagonal_(0.0)  # float error puts ~1e-7 on the diagonal; an item is never compared with itself
        means = dist.sum(1) / (len(members) - 1)
        for i, m in zip(members, means.tolist()):
            out[i] = m
    return out


def gathered_group_diversity(
    embeddings: Sequence[torch.Tensor | None], group_ids: Sequence[Hashable], gather: Callable[[list], list]
) -> list[float | None]:
    """`group_diversity` of this process's items against their whole groups, whichever process drew the members.

    GRPO on several processes may split a group across ranks (TRL cuts the global generation batch into
    consecutive per-rank chunks and gathers only the reward matrix). Every rank gathers all (group, embedding)
    pairs in rank order, computes the diversity of the whole batch and keeps its own slice: the values equal a
    single-process run's on the same images.

    Args:
        embeddings, group_ids: this process's items, as in `group_diversity`.
        gather: `accelerate.utils.gather_object` (all ranks' lists concatenated in rank order). It is a
            collective: every rank must call this function, the same number of times, in the same order.
    """
    mine = [(g, None if e is None else e.float().reshape(-1).cpu()) for g, e in zip(group_ids, embeddings)]
    sizes = gather([len(mine)])
    everyone = gather(mine)
    rank = _process_index()
    offset = sum(sizes[:rank])
    values = group_diversity([e for _, e in everyone], [g for g, _ in everyone])
    return values[offset : offset + len(mine)]


def _process_index() -> int:
    from accelerate.state import PartialState

    return PartialState().process_index


class Dinov3Embedder:
    """Pure core: images -> DINOv3 pooled embeddings.

    Args:
        model: a transformers `DINOv3ViTModel` (eval mode, on its device).
        size: (h, w) input size; mean, std: normalisation (from the checkpoint's image processor).
    """

    def __init__(self, model, size: tuple[int, int], mean, std):
        self.model = model
        self.size = size
        self.device = next(model.parameters()).device
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.forwards = 0

    @classmethod
    def from_config(cls, cfg: DiversityConfig, device: str | None = None) -> Dinov3Embedder:
        """Load `cfg.model`; see `from_pretrained`."""
        return cls.from_pretrained(cfg.model, device=device)

    @classmethod
    def from_pretrained(cls, model_ref: str, device: str | None = None) -> Dinov3Embedder:
        """Load a DINOv3 model (dir, hub id, or `tiny:dinov3`). Raises `RewardModelError` when it cannot."""
        from transformers import DINOv3ViTImageProcessor, DINOv3ViTModel

        ref = resolve_ref(model_ref)
        try:
            with standalone_loading():  # whole on every rank, also when built outside `RewardSuite`
                model = DINOv3ViTModel.from_pretrained(ref)
        except Exception as exc:
            raise RewardModelError(f"cannot load DINOv3 model {model_ref!r}: {exc}") from exc
        try:
            proc = DINOv3ViTImageProcessor.from_pretrained(ref)
            size = (int(proc.size["height"]), int(proc.size["width"]))
            mean, std = list(proc.image_mean), list(proc.image_std)
        except Exception:  # a bare model dir: DINOv3's published preprocessing
            size, mean, std = (224, 224), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
        model = model.to(rank_device(device)).eval().requires_grad_(False)
        return cls(model, size, mean, std)

    @torch.inference_mode()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, 3, H, W]` in [0, 1] -> pooled embeddings `Tensor[N, D]` (float32, CPU)."""
        if images.ndim != 4 or images.shape[1] != 3:  # tensors from the renderer: a caller's bug, kept built-in
            raise ValueError(f"images must be (N, 3, H, W), got {tuple(images.shape)}")
        x = resize_center_crop(images.to(self.device, torch.float32), self.size)
        x = (x - self.mean) / self.std
        self.forwards += 1
        return self.model(pixel_values=x).pooler_output.float().cpu()
