"""Disk faults for real: a cache or output directory that fills up (a small tmpfs) or turns read-only, during a
merged-weights conversion and a checkpoint (tests/eval/test_run_disk_faults.py: an eval run's render cache and
outputs).

Each must stop with one `DiskWriteError` line naming the path, leave what was written before intact and no
half-written item behind, and the next run with room must work and re-create (not reuse) the partial item.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from expander.files import DiskWriteError, append_jsonl, atomic_write_text, read_jsonl, require_writable_dir
from tests.faults.disks import fill, leftovers, resize

REPO = Path(__file__).resolve().parents[2]


def test_a_full_disk_keeps_the_old_file_and_whole_log_lines(small_disk):
    disk = small_disk("64k")
    atomic_write_text(disk / "summary.json", '{"old": true}\n')
    append_jsonl(disk / "metrics.jsonl", [{"step": 1}])
    with pytest.raises(DiskWriteError) as info:
        atomic_write_text(disk / "summary.json", "x" * 200_000)
    assert str(info.value) == f"cannot write {disk / 'summary.json'}: no space left on device"
    assert isinstance(info.value, OSError) and info.value.errno == 28  # `except OSError` callers still match
    with pytest.raises(DiskWriteError, match="metrics.jsonl: no space left on device"):
        append_jsonl(disk / "metrics.jsonl", [{"step": 2, "blob": "y" * 200_000}])
    # The old file whole, no temporary left, and the log cut back to its last whole line: the next append
    # (with room again) starts a line of its own.
    assert (disk / "summary.json").read_text() == '{"old": true}\n' and leftovers(disk) == []
    assert (disk / "metrics.jsonl").read_text() == '{"step": 1}\n'
    append_jsonl(disk / "metrics.jsonl", [{"step": 2}])
    assert read_jsonl(disk / "metrics.jsonl") == [{"step": 1}, {"step": 2}]


def test_an_unwritable_output_dir_is_named_before_any_work(tmp_path, lockable_dir):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(DiskWriteError, match=f"cannot write output_dir {blocker / 'run'}: "):
        require_writable_dir(blocker / "run", "output_dir")  # a path under a file: fails for root too
    folder, lock = lockable_dir
    lock()
    with pytest.raises(DiskWriteError, match=rf"cannot write output_dir {folder}: (read-only|permission)"):
        require_writable_dir(folder, "output_dir")


# ------------------------------------------------------------------------------------------ merged weights


def test_merged_weights_on_a_full_cache_fail_cleanly_and_the_next_run_recreates_them(
    tiny_chat_lm_dir, small_disk, tmp_path, monkeypatch
):
    from peft import LoraConfig, PeftModel, get_peft_model
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from expander.models import merged_model_dir

    torch.manual_seed(1)
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(tiny_chat_lm_dir), LoraConfig(r=4, init_lora_weights=False)
    )
    lora.save_pretrained(tmp_path / "adapter")
    cache = small_disk("1m")  # the tiny model's weights alone are 6 MB
    monkeypatch.setenv("EXPANDER_CACHE", str(cache))

    with pytest.raises(DiskWriteError) as info:
        merged_model_dir(tiny_chat_lm_dir, tmp_path / "adapter")
    target = info.value.path
    assert target.parent == cache / "merged"
    assert str(info.value) == f"cannot write the model cache entry {target}: no space left on device"
    assert not target.exists() and leftovers(cache) == []  # the half-written temporary directory is gone

    # What a kill mid-conversion would leave: a directory without its marker (truncated weights) and another
    # process's temporary. Neither may pass for the merged model.
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"\0" * 100)
    (target.parent / f"{target.name}.tmp-999999").mkdir()
    resize(cache, "64m")
    assert merged_model_dir(tiny_chat_lm_dir, tmp_path / "adapter") == target
    assert leftovers(cache) == [] and (target / ".expander-merged").is_file()
    want = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_chat_lm_dir), tmp_path / "adapter")
    want = want.merge_and_unload().state_dict()
    got = load_file(target / "model.safetensors")
    assert set(got) <= set(want) and all(torch.equal(got[k], want[k]) for k in got)


# ------------------------------------------------------------------------------------------ checkpoints


class _Regression(torch.nn.Module):
    """A model the HF `Trainer` trains and checkpoints (weights, optimizer, scheduler, RNG, trainer state) in
    milliseconds; SFT and GRPO put the same `CompleteCheckpoints` mixin before TRL's trainers."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x, labels):
        return {"loss": ((self.linear(x).squeeze(-1) - labels) ** 2).mean()}


def _train(out: Path, callbacks=(), resume: bool = False):
    """Three steps, a checkpoint after each, resuming (as SFT and GRPO do) from the last complete checkpoint."""
    from transformers import Trainer, TrainingArguments

    from expander.train.checkpoints import CompleteCheckpoints, last_complete_checkpoint

    class CheckpointedTrainer(CompleteCheckpoints, Trainer):
        pass

    torch.manual_seed(0)
    data = [{"x": torch.randn(4), "labels": torch.randn(())} for _ in range(12)]
    args = TrainingArguments(
        output_dir=str(out),
        max_steps=3,
        per_device_train_batch_size=4,
        save_steps=1,
        learning_rate=0.1,
        report_to="none",
        use_cpu=True,
        logging_steps=1,
        seed=0,
    )
    trainer = CheckpointedTrainer(model=_Regression(), args=args, train_dataset=data, callbacks=list(callbacks))
    trainer.checkpoint_extras["extra_state.json"] = lambda: {"step": trainer.state.global_step}
    trainer.train(resume_from_checkpoint=last_complete_checkpoint(out) if resume else None)
    return trainer


def test_a_checkpoint_on_a_full_disk_keeps_the_last_one_and_the_rerun_resumes_from_it(small_disk, tmp_path):
    from transformers import TrainerCallback

    class FillAfterSave(TrainerCallback):
        ballast: Path | None = None

        def on_save(self, args, state, control, **kwargs):
            if state.global_step == 1:
                self.ballast = fill(out)

    class Steps(TrainerCallback):
        def __init__(self):
            self.steps = []

        def on_step_end(self, args, state, control, **kwargs):
            self.steps.append(state.global_step)

    out = small_disk("8m")
    filler = FillAfterSave()
    with pytest.raises(DiskWriteError) as info:
        _train(out, [filler])
    assert str(info.value) == (
        f"cannot write checkpoint {out / 'checkpoint-2'}: no space left on device; the partial checkpoint was "
        "removed, a re-run resumes from checkpoint-1"
    )
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-1"] and leftovers(out) == []
    first = {p.name: p.read_bytes() for p in (out / "checkpoint-1").iterdir()}
    assert json.loads(first["trainer_state.json"])["global_step"] == 1 and "extra_state.json" in first

    # Room again. A kill during a save of step 2 would have left this: the folder still holding its marker.
    filler.ballast.unlink()
    (out / "checkpoint-2").mkdir()
    (out / "checkpoint-2" / ".expander-saving").write_text("")
    (out / "checkpoint-2" / "optimizer.pt").write_bytes(b"\0" * 10)
    steps = Steps()
    resumed = _train(out, [steps], resume=True)
    assert steps.steps == [2, 3]  # after checkpoint-1: step 2 neither lost nor taken from the partial folder
    assert {p.name: p.read_bytes() for p in (out / "checkpoint-1").iterdir()} == first
    assert json.loads((out / "checkpoint-3" / "extra_state.json").read_text()) == {"step": 3}
    assert (out / "checkpoint-2" / "optimizer.pt").stat().st_size > 10 and leftovers(out) == []  # re-created
    # The same weights as a run that never met a full disk: nothing was lost or repeated.
    undisturbed = _train(tmp_path / "undisturbed")
    for got, want in zip(resumed.model.parameters(), undisturbed.model.parameters()):
        assert torch.equal(got, want)
