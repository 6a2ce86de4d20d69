"""Open a report in real headless Chromium (Debian's `chromium`): take a screenshot, dump the rendered DOM.

Used by the report's browser test and to make the README screenshot (`docs/eval_report.png`).
Install the browser with `scripts/install_browser.sh`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from expander.errors import ExpanderError

__all__ = ["BrowserError", "chromium_path", "dump_dom", "screenshot"]

CHROMIUM = "/usr/bin/chromium"
# No network, no background services, no GPU: the report is self-contained, and CI boxes have no display.
_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--mute-audio",
]


class BrowserError(ExpanderError, RuntimeError):
    """Chromium is missing, failed, or produced no output; the message holds its stderr tail."""


def chromium_path() -> Path | None:
    """`/usr/bin/chromium` (or `$CHROMIUM`) when it exists, else None."""
    path = Path(os.environ.get("CHROMIUM", CHROMIUM))
    if path.is_file() and os.access(path, os.X_OK):
        return path
    found = shutil.which("chromium")
    return Path(found) if found else None


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess:
    exe = chromium_path()
    if exe is None:
        raise BrowserError("chromium not found at /usr/bin/chromium; run scripts/install_browser.sh")
    with tempfile.TemporaryDirectory(prefix="eval-chromium-") as profile:
        cmd = [str(exe), *_FLAGS, f"--user-data-dir={profile}", *args]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(f"chromium did not finish within {timeout_s} s: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited with {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return proc


def screenshot(html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 1800,
               timeout_s: float = 120) -> Path:
    """Render `html_path` at `width` x `height` CSS pixels and save a PNG to `png_path`.

    Raises:
        BrowserError: chromium missing or failing, or no PNG written.
    """
    png = Path(png_path).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    png.unlink(missing_ok=True)
    url = Path(html_path).resolve().as_uri()
    proc = _run([f"--screenshot={png}", f"--window-size={width},{height}", url], timeout_s)
    if not png.is_file() or png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot to {png}: {proc.stderr.strip()[-2000:]}")
    return png


def dump_dom(html_path: str | Path, timeout_s: float = 120) -> str:
    """The DOM of `html_path` after Chromium parsed and laid it out, serialised as HTML."""
    url = Path(html_path).resolve().as_uri()
    proc = _run(["--dump-dom", url], timeout_s)
    if not proc.stdout.strip():
        raise BrowserError(f"chromium dumped an empty DOM for {url}: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def main(argv: list[str] | None = None) -> int:
    """`python -m expander.eval.browser REPORT.html OUT.png [--width W] [--height H]`: screenshot a report."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m expander.eval.browser", description=main.__doc__)
    parser.add_argument("html")
    parser.add_argument("png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1800)
    args = parser.parse_args(argv)
    print(screenshot(args.html, args.png, args.width, args.height))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
