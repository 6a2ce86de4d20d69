"""Checkpoints that are whole or absent, for SFT and GRPO: a failed or killed save is never resumed from.

transformers writes `checkpoint-N/` file by file in place. A full disk (or a kill) in the middle leaves a
directory that `get_last_checkpoint` would pick next time: a resume from half a checkpoint. Here:

* `CompleteCheckpoints` (a mixin before the TRL trainer class) puts a `.expander-saving` marker in the folder
  before the trainer writes it and removes it after the last file (the run's own `checkpoint_extras` included).
  A save that fails removes the folder and raises `DiskWriteError` naming it; the previous checkpoint stays.
* `last_complete_checkpoint(output_dir)` is the newest checkpoint without the marker and with a readable
  `trainer_state.json` (transformers writes it last); an incomplete one is removed, with a warning, so the
  resumed run writes that step again from scratch.

In a multi-process run the main process (`args.should_save`) owns the marker; the other processes' RNG files
are written beside it.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from expander.files import DiskWriteError, atomic_write_json, writing

__all__ = ["SAVING_MARKER", "CompleteCheckpoints", "last_complete_checkpoint"]

logger = logging.getLogger(__name__)

SAVING_MARKER = ".expander-saving"
_CHECKPOINT = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")


class CompleteCheckpoints:
    """Trainer mixin (`class T(CompleteCheckpoints, SFTTrainer)`): each `checkpoint-N/` is complete or absent.

    Attributes:
        checkpoint_extras: `{file name: () -> JSON object}` written into every checkpoint before it is marked
            complete (GRPO: the zero-variance tracker), so a resume reads state of the same step.
    """

    def __init__(self, *args, **kwargs):
        self.checkpoint_extras: dict[str, Callable[[], Any]] = {}
        super().__init__(*args, **kwargs)

    def _save_checkpoint(self, model, trial) -> None:
        folder = Path(self._get_output_dir(trial=trial)) / f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        main = self.args.should_save
        try:
            with writing(folder, "checkpoint", partial=folder if main else None):
                if main:
                    if folder.exists():  # this step's folder from a save that did not finish: start it afresh
                        shutil.rmtree(folder)
                    folder.mkdir(parents=True)
                    (folder / SAVING_MARKER).write_text("incomplete until this file is gone\n")
                super()._save_checkpoint(model, trial)
                if main:
                    for name, state in self.checkpoint_extras.items():
                        atomic_write_json(folder / name, state())
                    (folder / SAVING_MARKER).unlink()
        except DiskWriteError as exc:
            previous = last_complete_checkpoint(folder.parent, clean=False)
            raise DiskWriteError(
                folder,
                f"{exc.reason}; the partial checkpoint was removed, a re-run resumes from "
                f"{Path(previous).name if previous else 'the start'}",
                "checkpoint",
                exc.errno,
            ) from exc


def last_complete_checkpoint(output_dir: str | Path, *, clean: bool = True) -> str | None:
    """The newest complete `checkpoint-N` directory of `output_dir` (None: there is none).

    Args:
        clean: remove the incomplete checkpoints met on the way (a save that failed or was killed), so the
            resumed run writes those steps again instead of mixing with their leftovers.
    """
    out = Path(output_dir)
    if not out.is_dir():
        return None
    found = sorted(
        ((int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))),
        reverse=True,
    )
    for _, path in found:
        if (path / SAVING_MARKER).exists():
            if clean:
                logger.warning("removing %s: its save did not finish (a full disk or a kill)", path)
                shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            json.loads((path / "trainer_state.json").read_text())
        except (OSError, ValueError):
            logger.warning("skipping %s: no readable trainer_state.json (an incomplete checkpoint)", path)
            continue
        return str(path)
    return None
