"""Stage 6, report: the run's outputs, and its self-contained HTML report (every image and chart inlined).

    write_outputs(out_dir, results, summary, cfg)   # results.parquet, summary.json, report.html

Sections: header (git commit, arms and their model refs, renderer settings, scorers, counts), mean scores
with CIs, win-rate chart with CIs, score distributions, per-category and per-challenge tables, and the
image grid (rows = prompts, columns = arms, one image per seed with the rendered text under it).
Images flagged by a safety layer are withheld: the grid shows a placeholder and the reason instead.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path

from expander.eval.cache import json_safe
from expander.files import atomic_write_bytes, atomic_write_text

__all__ = ["build_report", "figure_to_data_uri", "image_to_data_uri", "write_outputs"]

GRID_IMAGE_CLASS = "grid-img"
MIN_COLOURED_PROMPTS = 5  # breakdown cells from fewer prompts are shown but not coloured as better/worse
WITHHELD_CLASS = "withheld"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,DejaVu Sans,sans-serif;margin:24px;color:#1d232a;
background:#fafbfc}
h1{margin:0 0 4px}h2{margin-top:32px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a;font-size:13px}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:8px 12px;border-radius:6px;margin:12px 0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.better{background:#dafbe1}.worse{background:#ffebe9}
img.chart{max-width:100%;border:1px solid #d0d7de;background:#fff}
table.grid td{width:auto}.cell{display:flex;gap:8px}
figure{margin:0;width:180px}
figure img{width:176px;height:176px;object-fit:cover;image-rendering:auto;border:1px solid #d0d7de}
figcaption{font-size:11px;line-height:1.3;max-height:120px;overflow:auto;color:#24292f;margin-top:2px}
.scores{font-size:10px;color:#57606a}.withheld{width:176px;height:176px;display:flex;align-items:center;justify-content:center;
background:#eaeef2;color:#57606a;font-size:12px;text-align:center;border:1px dashed #8c959f}
code{font-size:12px}h3{margin:16px 0 4px;font-size:15px}.kv span{white-space:nowrap}
"""

_METRIC_LABELS = {
    "aesthetic": "aesthetic",
    "clip_score": "CLIP sim. to short prompt",
    "constraint_score": "constraint score",
    "constraint_ok": "constraint pass rate",
    "added_subject": "added-subject share (lower is better)",
    "added_negation": "added-negation share (lower is better)",
    "dino_seed_diversity": "DINOv3 seed diversity",
    "dino_dist_to_baseline": "DINOv3 distance to baseline",
    "expansion_words": "expansion words",
    "geneval_correct": "GenEval correct (detector)",
    "vqa_score": "VQA score (question graph)",
}


def image_to_data_uri(image, max_side: int, fmt: str = "JPEG") -> str:
    """A PIL image as a `data:` URI, shrunk so its longest side is at most `max_side` pixels."""
    im = image.convert("RGB")
    scale = max_side / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))))
    buf = io.BytesIO()
    im.save(buf, format=fmt, quality=88) if fmt == "JPEG" else im.save(buf, format=fmt)
    mime = "jpeg" if fmt == "JPEG" else fmt.lower()
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def figure_to_data_uri(fig) -> str:
    """A matplotlib figure as a PNG `data:` URI (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.{digits}f}"


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def win_rate_chart(win_rates: list[dict]) -> str | None:
    """Horizontal bars of win rate (arm over other) per metric with CI whiskers; 0.5 = no difference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [w for w in win_rates if w["win_rate"] is not None and not math.isnan(w["win_rate"])]
    if not rows:
        return None
    labels = [f"{w['arm']} vs {w['other']}\n{_METRIC_LABELS.get(w['metric'], w['metric'])}" for w in rows]
    values = [w["win_rate"] for w in rows]
    lo = [max(0.0, w["win_rate"] - w["ci_low"]) for w in rows]
    hi = [max(0.0, w["ci_high"] - w["win_rate"]) for w in rows]
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.2))
    colors = ["#2da44e" if w["ci_low"] > 0.5 else "#cf222e" if w["ci_high"] < 0.5 else "#8c959f" for w in rows]
    y = list(range(len(rows)))[::-1]
    ax.barh(y, values, xerr=[lo, hi], color=colors, capsize=4, height=0.6)
    ax.axvline(0.5, color="#1d232a", linestyle="--", linewidth=1)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("paired win rate with bootstrap CI (ties count 1/2)")
    ax.set_title("Win rates (green: CI above 0.5, red: below)")
    return figure_to_data_uri(fig)


def distribution_chart(results, arms: list[str], metrics: list[str]) -> str | None:
    """One box plot per metric: the per-image score distribution of each arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in metrics if m in results.columns and results[m].notna().any()]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        data = [results.loc[results["arm"] == a, metric].dropna().to_numpy() for a in arms]
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(arms) + 1), arms, rotation=20, fontsize=8)
        ax.set_title(_METRIC_LABELS.get(metric, metric), fontsize=9)
    fig.tight_layout()
    return figure_to_data_uri(fig)


def _means_table(summary: dict, arms: list[str]) -> str:
    metrics = [m for m in _METRIC_LABELS if any(m in summary["means"].get(a, {}) for a in arms)]
    head = "".join(f"<th>{_e(_METRIC_LABELS[m])}</th>" for m in metrics)
    body = []
    for arm in arms:
        cells = []
        for m in metrics:
            est = summary["means"].get(arm, {}).get(m)
            if est is None:
                cells.append("<td class='num'>–</td>")
            else:
                interval = f"[{_fmt(est['ci_low'])}, {_fmt(est['ci_high'])}]"
                cells.append(f"<td class='num'>{_fmt(est['mean'])} <span class='meta'>{interval}</span></td>")
        body.append(f"<tr><th>{_e(arm)}</th>{''.join(cells)}</tr>")
    return f"<table id='means'><tr><th>arm</th>{head}</tr>{''.join(body)}</table>"


def _benchmark_tables(summary: dict) -> str:
    """Per benchmark: the published numbers, then this run's arms (raw / expanded), on the benchmark's scale."""
    benchmarks = summary.get("benchmarks") or {}
    kinds = {
        a["name"]: ("raw" if a.get("creativity") == "raw" else f"expanded ({a.get('creativity')})")
        for a in summary.get("arms", [])
    }
    parts = []
    titles = {"geneval": "GenEval (overall = mean over tags)", "vqa": "VQA faithfulness"}
    for key in ("geneval", "vqa"):
        bench = benchmarks.get(key)
        if not bench:
            continue
        title = titles[key]
        if key == "vqa" and bench.get("scale") == 100:
            title = "DPG-Bench style: mean over prompts of the VQA score, x 100"
        tags = list(dict.fromkeys(t for arm in bench["arms"].values() for t in arm.get("per_tag", {})))
        digits = 2 if bench.get("scale") == 100 else 3
        head = "".join(f"<th>{_e(t)}</th>" for t in tags)
        rows = []
        for p in bench.get("published", []):
            blanks = "<td class='num'>–</td>" * len(tags)
            rows.append(
                f"<tr class='published'><th>{_e(p['system'])}</th><td>{_e(p['prompts'])}</td>"
                f"<td class='num'>{_fmt(p['score'], 2)}</td>{blanks}<td class='meta'>published: {_e(p['source'])}</td>"
                "</tr>"
            )
        for arm, got in bench["arms"].items():
            per_tag = "".join(f"<td class='num'>{_fmt(got.get('per_tag', {}).get(t))}</td>" for t in tags)
            rows.append(
                f"<tr class='ours'><th>{_e(arm)} (this run)</th><td>{_e(kinds.get(arm, ''))}</td>"
                f"<td class='num'>{_fmt(got['score'], digits)}</td>{per_tag}"
                f"<td class='meta'>{got['prompts']} prompts, {got['images']} images</td></tr>"
            )
        parts.append(
            f"<h3>{_e(title)}</h3><table id='benchmark-{key}'><tr><th>system</th><th>prompts</th><th>score</th>{head}"
            f"<th>source</th></tr>{''.join(rows)}</table>"
        )
    if not parts:
        return ""
    note = (
        "<p class='meta'>Published numbers come from each benchmark's own scorer (GenEval: mmdet's Mask2Former; "
        "DPG-Bench: mPLUG-large); this run's come from the scorers named under Scorers. Compare this run's arms with "
        "each other; for numbers comparable with the published ones, run the official scripts on "
        "<code>official/</code>.</p>"
    )
    return "<h2>Benchmark scores</h2>" + note + "".join(parts)


def _breakdown_table(results, summary: dict, key: str, by: str, table_id: str) -> str:
    """Rows = values of `by`; columns = prompts, then each (arm vs other, metric) win rate with its CI."""
    rates = summary.get(key, [])
    pairs = list(dict.fromkeys((w["arm"], w["other"], w["metric"]) for w in rates))
    head = "".join(
        f"<th>{_e(a)} vs {_e(o)}<br><span class='meta'>{_e(_METRIC_LABELS.get(m, m))}</span></th>" for a, o, m in pairs
    )
    index = {(w["group"], w["arm"], w["other"], w["metric"]): w for w in rates}
    counts = results.groupby(by)["prompt_id"].nunique().to_dict()
    body = []
    for group in sorted(counts):
        cells = []
        for a, o, m in pairs:
            w = index.get((str(group), a, o, m))
            if w is None or w["win_rate"] is None or math.isnan(w["win_rate"]):
                cells.append("<td class='num'>–</td>")
                continue
            # An interval from a handful of prompts is too coarse to call: colour only groups of MIN_COLOURED+.
            css = ""
            if w["n_clusters"] >= MIN_COLOURED_PROMPTS:
                css = "better" if w["ci_low"] > 0.5 else "worse" if w["ci_high"] < 0.5 else ""
            interval = f"[{_fmt(w['ci_low'], 2)}, {_fmt(w['ci_high'], 2)}]"
            cells.append(f"<td class='num {css}'>{_fmt(w['win_rate'], 2)} <span class='meta'>{interval}</span></td>")
        body.append(f"<tr><th>{_e(group)}</th><td class='num'>{counts[group]}</td>{''.join(cells)}</tr>")
    return f"<table id='{table_id}'><tr><th>{_e(by)}</th><th>prompts</th>{head}</tr>{''.join(body)}</table>"


def _grid(results, arms: list[str], max_prompts: int, thumb_px: int) -> tuple[str, int]:
    """The image grid and the number of images it shows (withheld ones are placeholders, not images)."""
    from PIL import Image

    prompt_ids = list(dict.fromkeys(results["prompt_id"]))[:max_prompts]
    head = "".join(f"<th>{_e(a)}</th>" for a in arms)
    rows, shown = [], 0
    for pid in prompt_ids:
        frame = results[results["prompt_id"] == pid]
        first = frame.iloc[0]
        cells = []
        for arm in arms:
            figures = []
            for r in frame[frame["arm"] == arm].sort_values("seed_index").itertuples():
                scores = (
                    f"aesth {_fmt(r.aesthetic, 2)} · clip {_fmt(r.clip_score, 2)} · "
                    f"constr {_fmt(r.constraint_score, 2)} · seed {r.render_seed}"
                )
                if r.withheld:
                    reason = r.text_flags if r.text_blocked else r.image_flags
                    media = f"<div class='{WITHHELD_CLASS}'>withheld by safety<br>({_e(reason or 'flagged')})</div>"
                elif isinstance(r.image_path, str):
                    try:
                        with Image.open(r.image_path) as im:
                            uri = image_to_data_uri(im, thumb_px)
                    except OSError:
                        media = f"<div class='{WITHHELD_CLASS}'>image missing</div>"
                    else:
                        media = f"<img class='{GRID_IMAGE_CLASS}' alt='{_e(arm)} seed {r.seed_index}' src='{uri}'>"
                        shown += 1
                else:
                    media = f"<div class='{WITHHELD_CLASS}'>not rendered</div>"
                caption = f"<div class='scores'>{_e(scores)}</div><figcaption>{_e(r.expansion)}</figcaption>"
                figures.append(f"<figure>{media}{caption}</figure>")
            cells.append(f"<td><div class='cell'>{''.join(figures)}</div></td>")
        label = (
            f"<b>{_e(first['prompt'])}</b><br><span class='meta'>{_e(pid)} · {_e(first['category'])} · "
            f"{_e(first['challenge'])}</span>"
        )
        rows.append(f"<tr><th style='max-width:200px'>{label}</th>{''.join(cells)}</tr>")
    return f"<table class='grid' id='grid'><tr><th>prompt</th>{head}</tr>{''.join(rows)}</table>", shown


def _kv_list(data: dict, list_id: str) -> str:
    """`key=value` pairs as one wrapped line (compact enough for a header)."""
    items = " · ".join(f"<span>{_e(k)}=<code>{_e(v)}</code></span>" for k, v in data.items())
    return f"<p class='meta kv' id='{list_id}'>{items}</p>"


def build_report(results, summary: dict, cfg) -> str:
    """The report as one HTML string (no external resources).

    Args:
        results: the run's DataFrame (one row per prompt x arm x seed, with scores and `image_path`).
        summary: the run's summary dict (as written to `summary.json`).
        cfg: the `EvalConfig` (arms, report size limits).
    """
    arms = [a.name for a in cfg.arms]
    git = summary.get("git", {})
    commit = f"{git.get('commit', 'unknown')}{' (uncommitted changes)' if git.get('dirty') else ''}"
    counts = summary["counts"]
    renderer = summary.get("renderer", {})
    refs = [cfg.renderer, cfg.clip_model, cfg.aesthetic_head, cfg.dino_model]
    refs += [c.model for c in (getattr(cfg, "detector", None), getattr(cfg, "vqa", None)) if c is not None]
    tiny = any(str(v).startswith("tiny:") for v in refs)
    warn = (
        (
            "<div class='warn'><b>Tiny random models.</b> The renderer or a scorer is a tiny random-weight model "
            "(<code>tiny:*</code>): these numbers prove the plumbing, not quality.</div>"
        )
        if tiny
        else ""
    )
    arm_rows = "".join(
        f"<tr><th>{_e(a['name'])}{' (baseline)' if a['name'] == summary['baseline'] else ''}</th>"
        f"<td>{_e(a.get('creativity'))}</td><td><code>{_e(a.get('model') or '–')}</code></td>"
        f"<td><code>{_e(a.get('adapter') or '–')}</code></td><td>{_e(a.get('backend') or '–')}</td></tr>"
        for a in summary["arms"]
    )
    win_uri = win_rate_chart(summary["win_rates"])
    dist_uri = distribution_chart(results, arms, list(cfg.win_metrics) + ["dino_dist_to_baseline", "expansion_words"])
    grid_html, shown = _grid(results, arms, cfg.report_max_prompts, cfg.report_thumb_px)
    n_grid = min(cfg.report_max_prompts, counts["prompts"])
    # The renderer's own settings() report its preset's steps/guidance; the config's overrides win where set.
    renderer_view = dict(renderer.get("runtime") or {})
    renderer_view.update({k: v for k, v in renderer.items() if k != "runtime" and v is not None})
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>expander eval: {_e(', '.join(arms))}</title><style>{_CSS}</style></head><body>",
        "<h1>Prompt expansion eval</h1>",
        f"<div class='meta' id='header'>git commit <code id='commit'>{_e(commit)}</code> · generated "
        f"{_e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} · {counts['prompts']} prompts × "
        f"{counts['arms']} arms × {counts['seeds_per_prompt']} seeds = {counts['rows']} images · "
        f"{counts['withheld']} withheld by safety · "
        + (f"{counts['unscored']} not scored (NaN) · " if counts.get("unscored") else "")
        + f"this run expanded {counts['expanded_this_run']} and rendered "
        f"{counts['rendered_this_run']} (the rest came from the cache)</div>",
        warn,
        "<h2>Arms</h2>",
        "<table id='arms'><tr><th>arm</th><th>creativity</th><th>model</th><th>adapter</th><th>backend</th></tr>"
        f"{arm_rows}</table>",
        "<h3>Renderer</h3>",
        _kv_list(renderer_view, "renderer-settings"),
        "<h3>Scorers</h3>",
        _kv_list(summary.get("scorers", {}), "scorer-settings"),
        f"<h2>Mean scores ({cfg.ci_level:.0%} bootstrap CI over prompts)</h2>",
        _means_table(summary, arms),
        _benchmark_tables(summary),
        "<h2>Win rates</h2>",
        "<p class='meta'>For each (prompt, seed) the later arm's image is compared with the earlier arm's image "
        "rendered from the same seed; the interval resamples prompts.</p>",
        f"<img class='chart' id='win-chart' alt='win rates' src='{win_uri}'>"
        if win_uri
        else "<p>No comparable pairs.</p>",
        "<h2>Score distributions</h2>",
        f"<img class='chart' id='dist-chart' alt='score distributions' src='{dist_uri}'>"
        if dist_uri
        else "<p>No scores.</p>",
        "<h2>By category</h2>",
        f"<p class='meta'>Win rate of each arm over the other per group, [{cfg.ci_level:.0%} CI]; green/red: the "
        f"interval excludes 0.5 (only for groups of {MIN_COLOURED_PROMPTS}+ prompts).</p>",
        _breakdown_table(results, summary, "win_rates_by_category", "category", "by-category"),
        "<h2>By challenge</h2>",
        _breakdown_table(results, summary, "win_rates_by_challenge", "challenge", "by-challenge"),
        f"<h2>Images ({n_grid} of {counts['prompts']} prompts)</h2>",
        f"<p class='meta' id='grid-count' data-images='{shown}'>{shown} images shown; the text under each image is "
        "what was rendered (the raw arm renders the short prompt).</p>",
        grid_html,
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def write_outputs(out_dir: Path, results, summary: dict, cfg, *, report: bool = True) -> None:
    """Write `results.parquet` (the rows), `summary.json` and, with `report`, `report.html` into `out_dir`; each
    file appears whole or not at all."""
    buf = io.BytesIO()
    results.to_parquet(buf, index=False)
    atomic_write_bytes(out_dir / "results.parquet", buf.getvalue())
    atomic_write_text(out_dir / "summary.json", json.dumps(json_safe(summary), indent=2, ensure_ascii=False))
    if report:
        atomic_write_text(out_dir / "report.html", build_report(results, summary, cfg))
