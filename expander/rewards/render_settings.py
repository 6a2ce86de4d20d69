"""What decides a render's pixels besides its text and seed, as one dict: eval's render cache key settings.

    settings = render_cache_settings("tiny:krea2", "turbo", 64, 64, None, None, "float32")

Eval keys its on-disk renders by these settings (`expander.eval.rendering`), and the reward service reports
them for the renders it makes for eval (`server.eval_settings`, `/v1/info`), so both sides key a render alike
and eval can check a service against its config. The renderer's weights enter as a fingerprint of their
directory, so a re-downloaded or rebuilt model misses the cache. `stable_key` is the content key of such
settings (and of everything else eval caches).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

__all__ = ["directory_fingerprint", "render_cache_settings", "stable_key"]


def stable_key(obj: Any) -> str:
    """A 32-hex-digit key of a JSON-serialisable object (dict order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def directory_fingerprint(path: str | Path | None) -> str | None:
    """Names, sizes and mtimes of the files in a model or adapter directory (or of one file), as a 32-hex key.

    Changes when the model is retrained, rebuilt or re-downloaded; `missing:PATH` for a path that does not
    exist; None for None.
    """
    if path is None:
        return None
    p = Path(path)
    if not p.exists():
        return f"missing:{p}"
    if p.is_file():
        st = p.stat()
        return stable_key([p.name, st.st_size, st.st_mtime_ns])
    entries = []
    for f in sorted(p.rglob("*")):
        if f.is_file():
            st = f.stat()
            entries.append([str(f.relative_to(p)), st.st_size, st.st_mtime_ns])
    return stable_key(entries)


def render_cache_settings(
    renderer: str,
    preset: str,
    height: int,
    width: int,
    num_inference_steps: int | None,
    guidance_scale: float | None,
    dtype: str,
    *,
    fingerprint: bool = True,
) -> dict[str, Any]:
    """The render settings under eval's key names (`EvalConfig`'s).

    Args:
        renderer: the Krea 2 ref (diffusers directory, hub id or `tiny:krea2`); resolved now, so a missing or
            incomplete model is a named error before any work starts (`tiny:krea2` is built once).
        preset, height, width, num_inference_steps, guidance_scale: as the renderer takes them.
        dtype: the dtype the renderer computes in (resolved: never None, so CPU and GPU renders differ).
        fingerprint: False for a service without a renderer: the `fingerprint` is None then.

    Raises:
        MissingExtraError: the Krea 2 runtime's dependencies are not installed.
        Krea2ModelError: the renderer ref does not resolve to a complete Krea 2 model.
    """
    local = None
    if fingerprint:
        from expander.models import resolve_krea2_model  # MissingExtraError without the Krea 2 runtime

        local = resolve_krea2_model(renderer)
    return {
        "renderer": renderer,
        "fingerprint": directory_fingerprint(local) if fingerprint else None,
        "preset": preset,
        "height": height,
        "width": width,
        "num_inference_steps": num_inference_steps,
        "guidance_scale": guidance_scale,
        "dtype": dtype,
    }
