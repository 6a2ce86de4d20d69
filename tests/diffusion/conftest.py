"""Fixtures for the Krea 2 runtime tests: one tiny random Krea 2, built once per cache dir and reused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_krea2_dir() -> Path:
    """A tiny random Krea 2 (seed 0) under `$EXPANDER_CACHE/tiny/krea2-seed0`, built atomically once."""
    from diffusion.tiny import cached_tiny_krea2

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return cached_tiny_krea2(seed=0)
