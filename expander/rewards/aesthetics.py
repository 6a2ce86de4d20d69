"""Aesthetics: a LAION-format aesthetic head on L2-normalised open_clip image embeddings.

The head file is a state dict in one of LAION's two published layouts:

* improved-aesthetic-predictor (`sac+logos+ava1-l14-linearMSE.pth`): an `nn.Sequential` under `layers`
  whose Linear layers sit at indices 0, 2, 4, 6, 7 (Dropout between them, no activations);
* aesthetic-predictor (`sa_0_4_vit_l_14_linear.pth`): one Linear (`weight`, `bias`).

`.pth`/`.pt`/`.bin` files are read with `torch.load(weights_only=True)`, `.safetensors` with safetensors.
Both layouts expect ViT-L-14 (`openai`) embeddings, 768-d; the head's input width is checked against
the CLIP model's embedding width at load time.

Relative mode (Promptist) subtracts the score of the image rendered from the raw short prompt with
the same seed; that is done by the reward adapter (`suite.py`), the scorer here is pure.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from expander.rewards.clip_model import ClipModel
from expander.rewards.config import AestheticConfig
from expander.rewards.errors import RewardModelError
from expander.rewards.tiny import resolve_ref

__all__ = ["AestheticScorer", "load_aesthetic_head"]

_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(weight|bias)$")


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise RewardModelError(f"aesthetic head {path} is not a state dict of tensors")
    return state


class LaionMlpHead(nn.Module):
    """LAION's improved-aesthetic-predictor MLP: `layers` (Linear/Dropout stack, no activations)."""

    def __init__(self, layers: nn.Sequential):
        super().__init__()
        self.layers = layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def load_aesthetic_head(ref: str | Path) -> nn.Module:
    """Build the head described by a LAION-format state dict file (see the module docstring).

    Returns:
        An `nn.Module` mapping `Tensor[N, D]` embeddings to `Tensor[N, 1]` scores, in eval mode.

    Raises:
        RewardModelError: missing file, or a state dict in neither layout.
    """
    path = Path(resolve_ref(str(ref)))
    if not path.is_file():
        raise RewardModelError(
            f"aesthetic head {ref!r} not found (expected a .pth or .safetensors file in the LAION format, "
            "e.g. sac+logos+ava1-l14-linearMSE.pth, or tiny:aesthetic-head)"
        )
    state = {k.removeprefix("module."): v for k, v in _read_state_dict(path).items()}
    if set(state) == {"weight", "bias"}:
        head = nn.Linear(state["weight"].shape[1], state["weight"].shape[0])
        head.load_state_dict(state)
        return head.eval().requires_grad_(False)
    indices = {}
    for key in state:
        match = _LAYER_KEY.match(key)
        if not match:
            raise RewardModelError(f"aesthetic head {path}: unexpected key {key!r} (not a LAION head layout)")
        indices.setdefault(int(match.group(1)), set()).add(match.group(2))
    if not indices or any(v != {"weight", "bias"} for v in indices.values()):
        raise RewardModelError(f"aesthetic head {path}: every layer needs a weight and a bias")
    # Rebuild the Sequential with Linear layers at the saved indices and Dropout (identity in eval) between.
    modules: list[nn.Module] = []
    for idx in range(max(indices) + 1):
        if idx in indices:
            w = state[f"layers.{idx}.weight"]
            modules.append(nn.Linear(w.shape[1], w.shape[0]))
        else:
            modules.append(nn.Dropout(0.0))
    head = LaionMlpHead(nn.Sequential(*modules))
    head.load_state_dict(state)
    for prev, nxt in zip(sorted(indices), sorted(indices)[1:]):
        if state[f"layers.{prev}.weight"].shape[0] != state[f"layers.{nxt}.weight"].shape[1]:
            raise RewardModelError(f"aesthetic head {path}: layer {prev} output does not match layer {nxt} input")
    return head.eval().requires_grad_(False)


def _head_in_features(head: nn.Module) -> int:
    first = next(m for m in head.modules() if isinstance(m, nn.Linear))
    return first.in_features


class AestheticScorer:
    """Pure core: images (or CLIP embeddings) -> aesthetic scores.

    Args:
        clip: the image tower.
        head: LAION-format head over L2-normalised embeddings.
    """

    def __init__(self, clip: ClipModel, head: nn.Module):
        self.clip = clip
        self.head = head
        with torch.no_grad():
            dim = clip.encode_images(torch.zeros(1, 3, *clip.image_size)).shape[1]
        if _head_in_features(head) != dim:
            raise RewardModelError(
                f"aesthetic head expects {_head_in_features(head)}-d embeddings but CLIP {clip.name} gives {dim}-d"
            )

    @classmethod
    def from_config(
        cls, cfg: AestheticConfig, device: str | None = None, clip: ClipModel | None = None
    ) -> AestheticScorer:
        """Load CLIP (unless a shared one is given) and the head named by `cfg`."""
        return cls(clip or ClipModel.from_config(cfg.clip, device), load_aesthetic_head(cfg.head))

    @torch.inference_mode()
    def score_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, D]` L2-normalised CLIP image embeddings -> `Tensor[N]` scores (LAION's ~1-10 scale
        for the real head)."""
        return self.head(embeddings.float()).reshape(-1)

    def score(self, images: torch.Tensor) -> torch.Tensor:
        """`Tensor[N, 3, H, W]` in [0, 1] -> `Tensor[N]` aesthetic scores."""
        return self.score_embeddings(self.clip.encode_images(images))
