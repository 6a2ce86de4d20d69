"""Open a report in real headless Chromium (Debian's `chromium`): take a screenshot, dump the rendered DOM, or
drive a live page (`BrowserPage`: evaluate JS, press keys, wait for the DOM, screenshot).

Used by the report's browser test and to make the README screenshot (`docs/eval_report.png`), and by the
serving playground's test (`docs/playground.png`). Install the browser with `scripts/install_browser.sh`.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from expander.errors import ExpanderError

__all__ = ["BrowserError", "BrowserPage", "chromium_path", "dump_dom", "screenshot"]

CHROMIUM = "/usr/bin/chromium"
# No network, no background services, no GPU: the report is self-contained, and CI boxes have no display.
_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
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


def screenshot(
    html_path: str | Path, png_path: str | Path, width: int = 1400, height: int = 1800, timeout_s: float = 120
) -> Path:
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


class BrowserPage:
    """One page of headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`:
    JSON messages ending in NUL, commands on the browser's fd 3, replies and events on its fd 4), so no
    websocket client or debugging port is needed. A context manager; the browser is killed on exit.

    Args:
        url: the page to open.
        width, height: viewport in CSS pixels.
        timeout_s: limit on each protocol command, and on the page's load.
    """

    def __init__(self, url: str, width: int = 1280, height: int = 900, timeout_s: float = 60):
        exe = chromium_path()
        if exe is None:
            raise BrowserError("chromium not found at /usr/bin/chromium; run scripts/install_browser.sh")
        self.timeout_s = timeout_s
        # Chromium's helper processes can still write to the profile for a moment after the browser is killed:
        # cleanup must not fail a finished page (a leftover file is removed with the rest, or left in /tmp).
        self._profile = tempfile.TemporaryDirectory(prefix="expander-chromium-", ignore_cleanup_errors=True)
        cmd_r, self._cmd_w = os.pipe()
        self._res_r, res_w = os.pipe()

        def wire_pipes():  # in the child, before exec: fds 3 and 4 are the protocol's
            res = os.dup(res_w) if res_w == 3 else res_w
            os.dup2(cmd_r, 3)
            os.dup2(res, 4)

        self._stderr = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                [str(exe), *_FLAGS, "--remote-debugging-pipe", f"--user-data-dir={self._profile.name}", "about:blank"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                preexec_fn=wire_pipes,
                pass_fds=(3, 4),
            )
        except BaseException:  # nothing started: hand back the pipes, the log file and the profile
            for fd in (cmd_r, self._cmd_w, self._res_r, res_w):
                os.close(fd)
            self._stderr.close()
            self._profile.cleanup()
            raise
        os.close(cmd_r)
        os.close(res_w)
        self._buffer = b""
        self._next_id = 0
        self._session = None
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            self.send(
                "Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False
            )
            self.send("Page.navigate", url=url)
            self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'", timeout_s)
        except BaseException:
            self.close()
            raise

    def send(self, method: str, **params) -> dict:
        """Send one protocol command (to the page once attached) and return its `result`.

        Raises:
            BrowserError: the command failed, the browser exited, or no reply came within `timeout_s`.
        """
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if self._session is not None:
            message["sessionId"] = self._session
        try:
            os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            raise BrowserError(f"chromium exited before {method}: {self._stderr_tail()}") from None
        deadline = time.monotonic() + self.timeout_s
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:  # everything else is an event, which nothing here needs
                    if "error" in reply:
                        raise BrowserError(f"{method} failed: {reply['error'].get('message')}")
                    return reply.get("result", {})
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._res_r], [], [], remaining)[0]:
                raise BrowserError(f"no reply to {method} within {self.timeout_s} s: {self._stderr_tail()}")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited during {method}: {self._stderr_tail()}")
            self._buffer += chunk

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JS expression in the page (promises are awaited).

        Raises:
            BrowserError: the expression threw; the message holds the JS exception.
        """
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(
                f"JS error in {expression!r}: {details.get('exception', {}).get('description') or details.get('text')}"
            )
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout_s: float, poll_s: float = 0.2) -> Any:
        """Evaluate `expression` until it is truthy and return that value.

        Raises:
            BrowserError: still falsy after `timeout_s`.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"{expression!r} still false after {timeout_s} s")
            time.sleep(poll_s)

    def press(
        self, key: str, code: str | None = None, key_code: int = 0, text: str | None = None, modifiers: int = 0
    ) -> None:
        """A real (trusted) key press on the focused element, e.g. `press("Enter", key_code=13, text="\\r")`."""
        common = {"key": key, "code": code or key, "windowsVirtualKeyCode": key_code, "modifiers": modifiers}
        self.send(
            "Input.dispatchKeyEvent",
            type="keyDown" if text else "rawKeyDown",
            **common,
            **({"text": text} if text else {}),
        )
        self.send("Input.dispatchKeyEvent", type="keyUp", **common)

    def screenshot(self, png_path: str | Path, full_page: bool = True) -> Path:
        """Save the viewport (or, with `full_page`, the whole document) as a PNG."""
        png = Path(png_path)
        png.parent.mkdir(parents=True, exist_ok=True)
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            width, height = self.evaluate(
                "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
            )
            params.update(
                captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
            )
        png.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", **params)["data"]))
        return png

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()[-2000:]

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(10)
        for fd in (self._cmd_w, self._res_r):
            try:
                os.close(fd)
            except OSError:
                pass
        self._stderr.close()
        self._profile.cleanup()

    def __enter__(self) -> BrowserPage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
