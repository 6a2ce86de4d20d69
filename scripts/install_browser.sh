#!/usr/bin/env bash
# Install Debian's headless-capable `chromium` (used by the eval report's browser test). Idempotent:
# does nothing when /usr/bin/chromium already exists. Needs root (or sudo) and apt-get.
# Usage: scripts/install_browser.sh
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
    echo "[browser] $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[browser] apt-get not found: install Chromium by hand (the browser test is skipped without it)" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "[browser] need root or sudo to apt-get install chromium" >&2; exit 1; }
    SUDO=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
echo "[browser] installed: $(/usr/bin/chromium --version)"
