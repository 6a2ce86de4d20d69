"""Fixtures of the disk-fault tests: small disks that fill up or turn read-only (`disks.py`). The tiny LM they merge
and checkpoint is the session's `tiny_chat_lm_dir` (tests/conftest.py)."""

from __future__ import annotations

from tests.faults.disks import lockable_dir, small_disk  # noqa: F401 (fixtures of this folder)
