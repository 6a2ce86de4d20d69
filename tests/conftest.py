"""Shared fixtures. Everything runs offline on a CPU: the built-in SmolLM2 and tiny random models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Offline and cached: the built-in model conversion happens once per cache dir (CI: once per clone).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("EXPANDER_CACHE", str(REPO / ".cache" / "expander"))


@pytest.fixture(scope="session")
def builtin_model_dir() -> Path:
    """The converted HF directory of the built-in SmolLM2-135M-Instruct (converted once, then cached)."""
    from expander.models import resolve_model

    return resolve_model("smollm2-135m")
