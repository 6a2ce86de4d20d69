"""Run with `torchrun --nproc_per_node 2 shared_output_dir.py ROOT MODE`: `check_shared_output_dir` on one
directory for both processes (MODE `shared`) or one per process (MODE `per-rank`, as with a disk per node).
Writes `ROOT/verdict<r>.txt`: `ok` or the error message."""

import sys
from pathlib import Path

from accelerate import PartialState

from expander.train.grpo.config import GRPOSetupError
from expander.train.grpo.run import check_shared_output_dir

state = PartialState(cpu=True)
root, mode = Path(sys.argv[1]), sys.argv[2]
out = root / "run" if mode == "shared" else root / f"node{state.process_index}"
out.mkdir(parents=True, exist_ok=True)
try:
    check_shared_output_dir(out, timeout_s=1.0)
    verdict = "ok"
except GRPOSetupError as exc:
    verdict = str(exc)
(root / f"verdict{state.process_index}.txt").write_text(verdict)
