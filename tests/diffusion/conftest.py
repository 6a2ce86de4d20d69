"""Fixtures for the Krea 2 runtime tests: one tiny random Krea 2, built once per cache dir and reused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_krea2_dir() -> Path:
    """The tiny random Krea 2 that `tiny:krea2` names (seed 0, `$EXPANDER_CACHE/tiny/krea2-seed0`), built
    atomically once, through the same resolver as every loader."""
    from expander.models import resolve_krea2_model

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return resolve_krea2_model("tiny:krea2")
