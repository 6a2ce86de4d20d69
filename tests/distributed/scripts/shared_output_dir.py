"""Run with `torchrun --nproc_per_node 2 shared_output_dir.py ROOT MODE [MODE ...]`: for each MODE in turn,
`check_shared_output_dir` on one directory for both processes (`shared`) or one per process (`per-rank`, as with
a disk per node). Writes `ROOT/MODE/verdict<r>.txt`: `ok` or the error message. One launch checks both modes
(a torchrun start costs more than the checks)."""

import sys
from pathlib import Path

from accelerate import PartialState

from expander.train.grpo.config import GRPOSetupError
from expander.train.grpo.run import check_shared_output_dir

state = PartialState(cpu=True)
for mode in sys.argv[2:]:
    root = Path(sys.argv[1]) / mode
    out = root / "run" if mode == "shared" else root / f"node{state.process_index}"
    out.mkdir(parents=True, exist_ok=True)
    try:
        check_shared_output_dir(out, timeout_s=1.0)
        verdict = "ok"
    except GRPOSetupError as exc:
        verdict = str(exc)
    (root / f"verdict{state.process_index}.txt").write_text(verdict)
    state.wait_for_everyone()  # both processes finish one mode before either starts the next
