"""Image grids of a GRPO step: one row per prompt, one column per group member, the expansion under each."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

from expander.files import atomic_write_bytes
from expander.rewards.render_cache import to_pil  # re-exported: the trainer and tests import it from here

__all__ = ["save_image_grid", "to_pil"]


def save_image_grid(
    path: Path,
    shorts: list[str],
    expansions: list[str],
    images: list,
    group_size: int,
    tile: int = 256,
    text_lines: int = 6,
):
    """Write an image grid PNG: one row per prompt (its short prompt above the row), one column per group
    member, the expansion text under each image.

    Args:
        path: output PNG (written atomically).
        shorts: the R short prompts, one per row.
        expansions: R * `group_size` completion texts, row-major.
        images: R * `group_size` images (PIL images, (3, H, W) tensors in [0, 1] or file paths), row-major.
        group_size: columns.
        tile: side of each image cell in pixels (images are resized to it).
        text_lines: lines of expansion text kept under each image.

    Returns:
        The grid as a PIL RGB image.
    """
    from PIL import Image, ImageDraw, ImageFont

    rows = len(shorts)
    if len(images) != rows * group_size or len(expansions) != rows * group_size:
        # The trainer hands over whole groups: a mismatch is a bug in the caller, not something a user did.
        raise ValueError(f"need {rows} x {group_size} images and expansions, got {len(images)} and {len(expansions)}")
    font = ImageFont.load_default(12)
    line_h, pad = 14, 6
    header = line_h + pad
    caption = line_h * text_lines + pad
    chars = max(tile // 7, 10)
    grid = Image.new("RGB", (group_size * (tile + pad) + pad, rows * (header + tile + caption)), "white")
    draw = ImageDraw.Draw(grid)
    for r in range(rows):
        top = r * (header + tile + caption)
        draw.text(
            (pad, top + 3), textwrap.shorten(f"[{r}] {shorts[r]}", width=chars * group_size), fill="black", font=font
        )
        for c in range(group_size):
            k = r * group_size + c
            image = to_pil(images[k])
            if image is None:
                image = Image.open(images[k]) if isinstance(images[k], str) else Image.new("RGB", (tile, tile), "gray")
            x = pad + c * (tile + pad)
            grid.paste(image.convert("RGB").resize((tile, tile), Image.NEAREST), (x, top + header))
            lines = textwrap.wrap(expansions[k], width=chars)[:text_lines]
            for j, line in enumerate(lines):
                draw.text((x, top + header + tile + 2 + j * line_h), line, fill=(40, 40, 40), font=font)
    png = io.BytesIO()
    grid.save(png, format="PNG")
    atomic_write_bytes(Path(path), png.getvalue())
    return grid
