"""The report: self-contained HTML, opened in real headless Chromium (Debian's `chromium`)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from expander.eval.browser import chromium_path, dump_dom, screenshot


def _expected_grid_images(cfg, df) -> int:
    shown_prompts = list(dict.fromkeys(df["prompt_id"]))[: cfg.report_max_prompts]
    rows = df[df["prompt_id"].isin(shown_prompts)]
    return int((~rows["withheld"] & rows["image_path"].notna()).sum())


def test_report_is_self_contained_and_has_the_sections(tiny_run):
    cfg, result, _ = tiny_run
    html = result.report_path.read_text()
    assert result.summary["git"]["commit"] in html
    assert "smollm2-135m" in html and "tiny:krea2" in html  # model refs and renderer in the header
    for section in (
        "id='win-chart'",
        "id='dist-chart'",
        "id='by-category'",
        "id='by-challenge'",
        "id='grid'",
        "id='means'",
    ):
        assert section in html, section
    sources = re.findall(r"""src=['"]([^'"]+)['"]""", html)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert not re.search(r"""(?:href|src)=['"](?:https?:|//|file:)""", html)
    assert html.count("class='grid-img'") == _expected_grid_images(cfg, result.results)
    # every expansion shown is the text that was rendered
    first_expansion = result.results.loc[result.results["arm"] == "smollm2-low", "expansion"].iloc[0]
    assert first_expansion.replace("'", "&#x27;").replace('"', "&quot;")[:40] in html


@pytest.mark.skipif(chromium_path() is None, reason="Debian chromium is not installed (run scripts/install_browser.sh)")
def test_report_opens_in_headless_chromium(tiny_run, tmp_path):
    cfg, result, _ = tiny_run
    png = screenshot(result.report_path, tmp_path / "report.png", width=1400, height=1800)
    pixels = np.asarray(Image.open(png).convert("L"), dtype=np.float32)
    assert pixels.shape == (1800, 1400)
    assert pixels.std() > 10.0  # a blank (all white or all black) page has ~0 variance
    assert (pixels < 128).mean() > 0.005  # dark text and charts were drawn

    dom = dump_dom(result.report_path)
    images = re.findall(r"<img[^>]*class=\"grid-img\"[^>]*>", dom)
    assert len(images) == _expected_grid_images(cfg, result.results) > 0
    assert len(re.findall(r"<img[^>]*class=\"chart\"", dom)) == 2
    assert result.summary["git"]["commit"] in dom
