"""On-disk caches of an eval run: expansions (JSON) and renders (PNG), addressed by content keys.

A key is a hash of everything that decides the result: for an expansion the arm's expander settings
(model ref, adapter fingerprint, creativity, backend, word budget, the contract's system prompts), the
prompt and the seed; for a render the renderer settings, the rendered text and the render seed. A re-run
or an added arm therefore renders only what is missing, and a changed setting never reuses stale work.

Every file is written to a temporary name in the same directory and renamed into place, so a killed run
leaves either the complete file or nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from expander.files import atomic_write_bytes, atomic_write_text

__all__ = ["EvalCache", "directory_fingerprint", "stable_key"]


def stable_key(obj: Any) -> str:
    """A 32-hex-digit key of a JSON-serialisable object (dict order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def directory_fingerprint(path: str | Path | None) -> str | None:
    """Names, sizes and mtimes of the files in a model/adapter directory: changes when it is retrained."""
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


class EvalCache:
    """Expansions under `root/expansions/<key>.json`, renders under `root/renders/<key[:2]>/<key>.png`."""

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
