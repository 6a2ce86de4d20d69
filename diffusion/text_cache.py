"""An LRU cache of Krea 2 text embeddings, keyed by prompt text and encoder settings.

RL renders each expansion with several seeds and evaluation renders prompt x seed grids, so the text
encoder (Qwen3-VL-4B on the real model) would otherwise run once per image instead of once per prompt.
Entries are compact: only the valid (unpadded) token states, `(tokens, num_text_layers, text_hidden_dim)`,
kept on the CPU. On the real model an entry is ~60 tokens x 12 x 2560 x 2 bytes (bf16), about 4 MB.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import torch

__all__ = ["TextEmbeddingCache"]


class TextEmbeddingCache:
    """Least-recently-used map from `(prompt, settings)` keys to compact embeddings.

    Args:
        max_entries: capacity; `0` disables caching (every lookup misses, nothing is stored).
    """

    def __init__(self, max_entries: int = 1024):
        if max_entries < 0:  # set by code (no config exposes it): a programming error
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def get(self, key: Hashable) -> torch.Tensor | None:
        """The cached embedding (marked most recently used), or `None`; counts a hit or a miss."""
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: Hashable, value: torch.Tensor) -> None:
        """Store `value`, evicting the least recently used entries beyond capacity."""
        if self.max_entries == 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()

    def stats(self) -> dict[str, int]:
        return {
            "entries": len(self._entries),
            "max_entries": self.max_entries,
            "hits": self.hits,
            "misses": self.misses,
        }
