"""On-disk caches of an eval run: expansions (JSON) and renders (PNG), addressed by content keys.

A key (`expander.rewards.render_settings.stable_key`) is a hash of everything that decides the result: for an
expansion the arm's expander settings (model ref, adapter fingerprint, creativity, backend, word budget, the
contract's system prompts), the prompt and the seed; for a render the renderer settings, the rendered text and
the render seed. A re-run or an added arm therefore renders only what is missing, and a changed setting never
reuses stale work.

Every file is written to a temporary name in the same directory and renamed into place, so a killed run
leaves either the complete file or nothing, and a full or read-only cache directory raises
`expander.files.DiskWriteError` naming the file, with no temporary left behind.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from expander.files import atomic_write_bytes, atomic_write_text
from expander.rewards.render_settings import stable_key

__all__ = ["EvalCache", "json_safe"]


def json_safe(obj: Any) -> Any:
    """Plain JSON types: NaN -> None, numpy scalars -> Python, tuples -> lists, paths -> str, else `str(obj)`."""
    import numpy as np

    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return None if np.isnan(value) else value
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


class EvalCache:
    """Expansions under `root/expansions/<key>.json`, renders under `root/renders/<key[:2]>/<key>.png`, and the
    loaded renderer's own settings under `root/renderer_settings/<key of the render settings>.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def expansion_path(self, key: str) -> Path:
        return self.root / "expansions" / f"{key}.json"

    def render_path(self, key: str) -> Path:
        return self.root / "renders" / key[:2] / f"{key}.png"

    def get_expansion(self, key: str) -> dict | None:
        """The cached expansion record, or None when missing or unreadable (then it is recomputed)."""
        path = self.expansion_path(key)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return None
        return record if isinstance(record, dict) and "text" in record else None

    def put_expansion(self, key: str, record: dict) -> None:
        atomic_write_text(self.expansion_path(key), json.dumps(record, ensure_ascii=False, indent=1))

    def has_render(self, key: str) -> bool:
        return self.render_path(key).is_file()

    def get_render(self, key: str):
        """The cached image (PIL, RGB), or None when missing or not a readable PNG."""
        from PIL import Image, UnidentifiedImageError

        path = self.render_path(key)
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except (FileNotFoundError, UnidentifiedImageError, OSError):
            return None

    def put_render(self, key: str, image) -> Path:
        import io

        buf = io.BytesIO()
        image.save(buf, format="PNG")
        path = self.render_path(key)
        atomic_write_bytes(path, buf.getvalue())
        return path

    def put_renderer_settings(self, settings: dict, runtime: dict) -> dict:
        """Remember a loaded renderer's `settings()` for `settings` (runs that load no renderer read it back).
        The file is written only when it changes: a re-run over a complete cache writes nothing there."""
        runtime = json_safe(runtime)
        if self.get_renderer_settings(settings) != runtime:
            atomic_write_text(self._renderer_settings_path(settings), json.dumps(runtime, indent=1))
        return runtime

    def get_renderer_settings(self, settings: dict) -> dict | None:
        """What `put_renderer_settings` stored for `settings`, or None."""
        try:
            return json.loads(self._renderer_settings_path(settings).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def _renderer_settings_path(self, settings: dict) -> Path:
        return self.root / "renderer_settings" / f"{stable_key(settings)}.json"
