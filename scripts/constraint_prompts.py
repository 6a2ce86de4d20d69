"""Write configs/grpo/constraint_prompts.txt: GRPO prompts weighted to what the expander still loses (issue #26).

Held out, the shipped adapter drops a style when the prompt is "<style> of <subject>" and is not restated, and
miscounts "<n> <colour> <things>". These prompts are mostly of those shapes (styles the checker knows, in five
phrasings; counts with and without colours), with negation/emptiness prompts and plain ones so that RL on them
does not trade the rest away. Subjects and wordings avoid the held-out sets of benchmarks/data (checked below).
Every style or count prompt is kept only if the checker extracts that constraint from it, so the faithfulness
reward sees it. Seeded: the file is the same on every run.

    python scripts/constraint_prompts.py [--out configs/grpo/constraint_prompts.txt]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from expander.constraints import extract

ROOT = Path(__file__).resolve().parents[1]
STYLES = (
    "watercolor", "watercolor painting", "gouache painting", "charcoal sketch", "pencil drawing", "ink drawing",
    "linocut print", "woodblock print", "ukiyo-e print", "oil painting", "acrylic painting", "pastel drawing",
    "isometric 3D render", "isometric illustration", "low poly render", "pixel art", "vector illustration",
    "flat illustration", "line art", "comic book panel", "claymation still", "stained glass", "mosaic",
    "papercut art", "embroidery", "35mm film photo", "polaroid photo", "cyanotype", "tilt-shift photo",
    "infrared photo", "long exposure photo", "black and white photo", "art deco poster", "vaporwave illustration",
    "3D render", "pencil sketch", "risograph print", "etching",
)  # fmt: skip
SUBJECTS = (
    "a red panda on a branch", "a barn owl in flight", "a koi pond", "a sea turtle swimming", "a hedgehog in leaves",
    "a deer in a meadow", "a horse at a fence", "a parrot on a perch", "a polar bear on ice", "a crab on a rock",
    "an elephant at a watering hole", "a windmill in a field", "a vintage camera", "a harbor town",
    "a mountain village", "a train crossing a bridge", "a hot air balloon", "a cathedral", "a market square",
    "a pine forest", "a sushi platter", "a bonsai tree", "a steam locomotive", "a small robot", "a farmhouse",
    "a city skyline at night", "a wheat field", "a rocket launch", "a jazz club", "a bookshop", "a garden gate",
    "a fishing village", "a pear on a plate", "a mountain lake", "a tram on a hill", "a dragonfly on a reed",
    "a cozy kitchen", "a carousel", "a desert canyon", "a grand piano",
)  # fmt: skip
SHAPES = ("{s} of {x}", "{x}, {s}", "{s} {xb}", "{x} as {a} {s}", "{a} {s} of {x}")
NUMBERS = ("two", "three", "four", "five", "six")
COLOURS = ("red", "blue", "green", "yellow", "white", "black", "orange", "purple")
THINGS = (
    ("cups", "on a table"), ("candles", "on a windowsill"), ("bottles", "on a shelf"), ("balloons", "in the sky"),
    ("books", "on a desk"), ("pears", "in a bowl"), ("boats", "in a harbor"), ("chairs", "in a garden"),
    ("umbrellas", "on a beach"), ("lanterns", "in a tree"), ("vases", "on a mantel"), ("bowls", "on a counter"),
    ("bicycles", "by a wall"), ("kites", "over a field"), ("eggs", "in a basket"), ("doors", "in a row"),
)  # fmt: skip
NEGATIONS = (
    "an empty beach at dawn", "a deserted parking lot at night", "a quiet forest path, no people",
    "a kitchen counter with no dishes", "a city square with no cars", "a bedroom without windows",
    "a field of flowers, no bees", "a living room with no furniture", "an empty classroom",
    "a plain wall, no posters", "a shelf with no books", "a pier with nobody on it", "a desk without a computer",
    "a sky with no birds", "a cafe terrace, no customers", "an empty highway through the desert",
    "a garden without flowers", "a lake with no boats", "a road with no cars, early morning",
    "a table with no plates",
)  # fmt: skip
PLAIN = (
    "a lantern on a wooden dock", "a fox cub by a stream", "a bowl of cherries", "a rainy alley with neon lights",
    "a campfire under the stars", "a girl with a yellow umbrella", "a fisherman mending nets", "an old clock tower",
    "a cup of hot chocolate with marshmallows", "a snowy village street", "a green tractor in a field",
    "a seagull on a post", "a rose garden in bloom", "a castle gate at dusk", "a frog on a lily pad",
    "a mountain hut in the clouds", "a loaf of bread on a cutting board", "a sunflower field at noon",
    "a pianist on a stage", "a quiet library reading room",
)  # fmt: skip
HEADER = """\
# GRPO prompts weighted to styles and counts (issue #26), written by scripts/constraint_prompts.py: one a line.
# Use: expander grpo --config configs/grpo/text_cpu.yaml --prompt_files configs/grpo/constraint_prompts.txt
"""


def build(seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    drafts: list[tuple[str | None, str]] = []
    for _ in range(90):
        s, x, shape = rng.choice(STYLES), rng.choice(SUBJECTS), rng.choice(SHAPES)
        bare = x.split(" ", 1)[1]
        drafts.append(("style", shape.format(s=s, x=x, xb=bare, a="an" if s[0] in "aeiou" else "a")))
    for _ in range(40):
        n, c, (thing, where) = rng.choice(NUMBERS), rng.choice(COLOURS), rng.choice(THINGS)
        phrasing = rng.choice((f"{n} {c} {thing} {where}", f"{n} {thing} {where}", f"{c} {thing} {where}, {n} of them"))
        drafts.append(("count", phrasing))
    drafts += [("negation", p) for p in NEGATIONS] + [(None, p) for p in PLAIN]
    out: list[str] = []
    for kind, prompt in drafts:
        if prompt in out or (kind and kind not in {c.kind for c in extract(prompt)}):
            continue
        out.append(prompt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "configs/grpo/constraint_prompts.txt")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    prompts = build(args.seed)
    held = set()
    for name in ("short_prompts.txt", "paraphrase_triples.txt"):
        for line in (ROOT / "benchmarks/data" / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                held.update(p.strip().lower() for p in line.split("|"))
    leaked = [p for p in prompts if p.lower() in held]
    if leaked:
        raise SystemExit(f"held-out prompts in the training set: {leaked}")
    args.out.write_text(HEADER + "\n".join(prompts) + "\n")
    print(f"{len(prompts)} prompts -> {args.out}")


if __name__ == "__main__":
    main()
