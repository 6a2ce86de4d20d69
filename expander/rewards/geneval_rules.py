"""GenEval's decision rules on given detections, exactly as upstream `evaluation/evaluate_images.py` applies them.

Upstream: djghosh13/geneval @ af4902f24d3ca90ebbb446dd9891a59e0f82725f (MIT); "L<n>" below cites a line of
`evaluation/evaluate_images.py` at that commit, "S<n>" a line of `evaluation/summary_scores.py`. The detector
and the CLIP model are not here: this module takes what they produced and decides.

    kept = select_detections(raw, record["tag"])      # L230-244: threshold, sort, cap, optional NMS
    verdict = evaluate_detections(kept, record)        # L160-220: include, colour, position, exclude
    verdict.correct, verdict.reason, verdict.clauses   # reason: upstream's text, byte for byte
    summarize(rows).overall                            # S36-45: mean over tags of per-tag accuracy

Colour: upstream classifies the crops of the top-`count` detections of a clause that names a colour (L181-183)
by CLIP zero-shot over `COLORS` with three templates (L109-127). Here a `Detection` carries its colour already
(`Detection.color`); `colors_needed` says which detections upstream classifies, `masked_crop` builds the crop
it shows CLIP, and `color_classifier` / `classify_colors` / `pick_color` are the arithmetic of clip_benchmark
1.4.0's `zero_shot_classifier` / `run_classification` (which upstream runs under fp16 autocast; we do fp32).

Where this differs from upstream (only where upstream is ill-defined):
* a position reason naming two relations lists them in `POSITIONS` order; upstream joins a Python `set`,
  whose order changes with `PYTHONHASHSEED` (L205);
* a record that upstream would crash on, or never match (a position target that is not an earlier clause,
  L194; a class outside `OBJECT_NAMES`), raises `BenchmarkDataError` naming the clause.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from expander.files import iter_jsonl, resolve_data_path
from expander.rewards.benchmark_data import GENEVAL_METADATA_FILE, BenchmarkDataError

__all__ = [
    "COLORS",
    "COLOR_TEMPLATES",
    "COUNTING_THRESHOLD",
    "CROP_BACKGROUND",
    "MAX_OBJECTS",
    "NMS_THRESHOLD",
    "OBJECT_NAMES",
    "POSITIONS",
    "POSITION_THRESHOLD",
    "TAGS",
    "THRESHOLD",
    "ClauseResult",
    "Detection",
    "GenEvalSummary",
    "GenEvalVerdict",
    "classify_colors",
    "color_classifier",
    "color_prompts",
    "colors_needed",
    "compute_iou",
    "evaluate_detections",
    "masked_crop",
    "pick_color",
    "read_geneval_metadata",
    "relative_position",
    "select_detections",
    "summarize",
    "validate_record",
]

# L286-290: the defaults of upstream's `--options` (threshold, counting_threshold, max_objects, max_overlap,
# position_threshold); the published GenEval numbers use them.
THRESHOLD = 0.3
COUNTING_THRESHOLD = 0.9
MAX_OBJECTS = 16
NMS_THRESHOLD = 1.0  # `max_overlap`; 1.0 turns suppression off (L241)
POSITION_THRESHOLD = 0.1

COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white")  # L76
# L114-116: upstream fills `classname` with an f-string, then clip_benchmark fills `c` with each colour.
COLOR_TEMPLATES = ("a photo of a {c} {classname}", "a photo of a {c}-colored {classname}", "a photo of a {c} object")
CROP_BACKGROUND = (153, 153, 153)  # L84: `bgcolor` "#999" where the mask is off
POSITIONS = ("left of", "right of", "above", "below")  # L153-156, in the order they are tested
TAGS = ("single_object", "two_object", "counting", "colors", "position", "color_attr")  # prompts/create_prompts.py
# evaluation/object_names.txt: the detector's 80 COCO classes, in its output order (L70-71).
_OBJECT_NAMES_CSV = (
    "person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,fire hydrant,stop sign,parking meter,"
    "bench,bird,cat,dog,horse,sheep,cow,elephant,bear,zebra,giraffe,backpack,umbrella,handbag,tie,suitcase,frisbee,"
    "skis,snowboard,sports ball,kite,baseball bat,baseball glove,skateboard,surfboard,tennis racket,bottle,"
    "wine glass,cup,fork,knife,spoon,bowl,banana,apple,sandwich,orange,broccoli,carrot,hot dog,pizza,donut,cake,"
    "chair,couch,potted plant,bed,dining table,toilet,tv,laptop,computer mouse,tv remote,computer keyboard,"
    "cell phone,microwave,oven,toaster,sink,refrigerator,book,clock,vase,scissors,teddy bear,hair drier,toothbrush"
)
OBJECT_NAMES = tuple(_OBJECT_NAMES_CSV.split(","))


@dataclass(frozen=True, eq=False)
class Detection:
    """One detected object: `box` `(x1, y1, x2, y2)` in pixels, `score` the detector's confidence, `mask` an
    optional boolean `H x W` array over the whole image, `color` one of `COLORS` once classified."""

    box: tuple[float, float, float, float]
    score: float
    mask: np.ndarray | None = None
    color: str | None = None

    def with_color(self, color: str) -> Detection:
        return replace(self, color=color)


@dataclass(frozen=True)
class ClauseResult:
    """The verdict on one `include` or `exclude` clause.

    `found`: for `include`, how many of the top-`count` detections exist (at most `count`); for `exclude`, all
    kept detections of the class. `count_ok` / `color_ok` / `position_ok` are `None` where upstream does not
    reach that check (no colour asked, or an earlier check of the clause failed). `colors`: the colours of the
    top-`count` detections when checked; `relations`: the relations found for the first pair that failed.
    """

    kind: Literal["include", "exclude"]
    index: int
    class_name: str
    count: int
    found: int
    passed: bool
    reason: str = ""
    count_ok: bool | None = None
    color: str | None = None
    color_ok: bool | None = None
    colors: tuple[str, ...] = ()
    position: tuple[str, int] | None = None
    position_ok: bool | None = None
    relations: tuple[str, ...] | None = None


@dataclass(frozen=True)
class GenEvalVerdict:
    """`correct` and `reason` as upstream writes them to `results.jsonl` (L246-252), plus a per-clause breakdown."""

    correct: bool
    reason: str
    clauses: tuple[ClauseResult, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenEvalSummary:
    """What `summary_scores.py` prints: fractions in [0, 1]; `per_tag` in order of first appearance (S40)."""

    images: int
    prompts: int
    correct_images: float
    correct_prompts: float
    per_tag: dict[str, float]
    per_tag_counts: dict[str, tuple[int, int]]
    overall: float


def compute_iou(box_a: Sequence[float], box_b: Sequence[float]) -> float:
    """IoU with upstream's inclusive-pixel convention (`x2 - x1 + 1`), L130-137."""
    a, b = np.asarray(box_a, dtype=np.float32)[:4], np.asarray(box_b, dtype=np.float32)[:4]
    area = lambda box: max(box[2] - box[0] + 1, 0) * max(box[3] - box[1] + 1, 0)
    inter = area([max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])])
    union = area(a) + area(b) - inter
    return float(inter / union) if union else 0.0


def select_detections(
    raw: Mapping[str, Sequence[Detection]],
    tag: str,
    *,
    threshold: float = THRESHOLD,
    counting_threshold: float = COUNTING_THRESHOLD,
    max_objects: int = MAX_OBJECTS,
    max_overlap: float = NMS_THRESHOLD,
) -> dict[str, list[Detection]]:
    """The detections upstream keeps per class, most confident first (L230-244).

    The threshold is `counting_threshold` for every class of a `counting` record, `threshold` otherwise (L230),
    and a score must be strictly above it, compared in float32 as mmdet's scores are (L233). Then the first
    `max_objects` by score (L234; the same `np.argsort(...)[::-1]` order, ties included) and, only when
    `max_overlap < 1`, greedy suppression of boxes whose IoU with a kept one is `>= max_overlap` (L236-242).
    Classes left empty are dropped (L243-244).
    """
    cutoff = np.float32(threshold if tag != "counting" else counting_threshold)
    kept: dict[str, list[Detection]] = {}
    for classname, detections in raw.items():
        if not detections:
            continue
        scores = np.array([d.score for d in detections], dtype=np.float32)
        ordering = np.argsort(scores)[::-1]
        ordering = ordering[scores[ordering] > cutoff][:max_objects].tolist()
        chosen: list[Detection] = []
        while ordering:
            best = detections[ordering.pop(0)]
            chosen.append(best)
            ordering = [
                i for i in ordering if max_overlap == 1 or compute_iou(best.box, detections[i].box) < max_overlap
            ]
        if chosen:
            kept[classname] = chosen
    return kept


def relative_position(
    box_a: Sequence[float], box_b: Sequence[float], position_threshold: float = POSITION_THRESHOLD
) -> set[str]:
    """Where box A lies relative to box B, as a subset of `POSITIONS` (L140-157, the same numpy steps).

    The centre offset `A - B` is shrunk towards 0 on each axis by `position_threshold` times the SUM of the two
    boxes' sizes on that axis (widths for x, heights for y); if nothing is left (< 1e-3 on both axes) there is
    no relation. Otherwise each shrunk component is divided by the length of the UNSHRUNK offset, and a
    relation holds where that exceeds 0.5 in magnitude: so two 100-px-wide boxes side by side need a centre
    distance above 40 px for "left of"/"right of" (`(d - 20) / d > 0.5`). Image y grows downwards: "above"
    means A's centre is higher. Boxes are float32, as mmdet gives them.
    """
    boxes = np.array([np.asarray(box_a, dtype=np.float32)[:4], np.asarray(box_b, dtype=np.float32)[:4]])
    boxes = boxes.reshape(2, 2, 2)
    center_a, center_b = boxes.mean(axis=-2)
    dim_a, dim_b = np.abs(np.diff(boxes, axis=-2))[..., 0, :]
    offset = center_a - center_b
    revised_offset = np.maximum(np.abs(offset) - position_threshold * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised_offset) < 1e-3):
        return set()
    dx, dy = revised_offset / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def colors_needed(detected: Mapping[str, Sequence[Detection]], record: Mapping[str, Any]) -> dict[str, int]:
    """Per class, how many of its top detections upstream colour-classifies: those of each `include` clause that
    names a colour and has its `count` (L176-183). Classify `detected[c][:n]` and set `Detection.color`."""
    needed: dict[str, int] = {}
    for req in record.get("include", []):
        classname, count = req["class"], req["count"]
        if "color" in req and len(detected.get(classname, [])) >= count:
            needed[classname] = max(needed.get(classname, 0), count)
    return needed


def evaluate_detections(
    detected: Mapping[str, Sequence[Detection]],
    record: Mapping[str, Any],
    *,
    position_threshold: float = POSITION_THRESHOLD,
) -> GenEvalVerdict:
    """Upstream's `evaluate` (L160-220) on detections already kept by `select_detections`.

    Include clauses AND together, in order; for each one:
    * count (L176-179): the top-`count` detections of the class; fewer than `count` fails;
    * colour (L181-190): at least `count` of those top-`count` detections must have the asked colour;
    * position (L191-209), only if the colour check passed: `position = [relation, target]`, `target` the index
      of an earlier include clause; that clause must have passed (else "no target", L194-196), and every
      (detection, target detection) pair must have `relation` in `relative_position(detection, target)`, the
      first failing pair ending the check;
    and exclude clauses (L215-219): `count` means "fewer than", counted over ALL kept detections of the class.

    Raises:
        BenchmarkDataError: a malformed record (see `validate_record`).
        ValueError: a detection whose colour is asked for has none (classify `colors_needed` first).
    """
    validate_record(record, "GenEval record")
    correct = True
    reasons: list[str] = []
    clauses: list[ClauseResult] = []
    matched_groups: list[Sequence[Detection] | None] = []
    for index, req in enumerate(record.get("include", [])):
        classname, count = req["class"], req["count"]
        found = list(detected.get(classname, []))[:count]
        result: dict[str, Any] = {"count_ok": len(found) >= count, "color": req.get("color")}
        result["position"] = tuple(req["position"]) if "position" in req else None
        clause_reasons: list[str] = []
        if len(found) < count:
            clause_reasons.append(f"expected {classname}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = [_color_of(d, classname) for d in found]
                result["colors"] = tuple(colors)
                result["color_ok"] = colors.count(req["color"]) >= count
                if not result["color_ok"]:
                    clause_reasons.append(
                        f"expected {req['color']} {classname}>={count}, found "
                        + f"{colors.count(req['color'])} {req['color']}; and "
                        + ", ".join(f"{colors.count(c)} {c}" for c in COLORS if c in colors)
                    )
            if "position" in req and not clause_reasons:
                expected_rel, target_group = req["position"]
                targets = matched_groups[target_group]
                if targets is None:
                    clause_reasons.append(f"no target for {classname} to be {expected_rel}")
                    result["position_ok"] = False
                else:
                    result["position_ok"] = True
                    for obj in found:
                        for target in targets:
                            true_rels = relative_position(obj.box, target.box, position_threshold)
                            if expected_rel not in true_rels:
                                rels = tuple(r for r in POSITIONS if r in true_rels)
                                clause_reasons.append(
                                    f"expected {classname} {expected_rel} target, found {' and '.join(rels)} target"
                                )
                                result.update(position_ok=False, relations=rels)
                                break
                        if not result["position_ok"]:
                            break
        passed = not clause_reasons
        correct = correct and passed
        reasons += clause_reasons
        matched_groups.append(found if passed else None)
        clauses.append(
            ClauseResult("include", index, classname, count, len(found), passed, "\n".join(clause_reasons), **result)
        )
    for index, req in enumerate(record.get("exclude", [])):
        classname, count = req["class"], req["count"]
        n_found = len(detected.get(classname, []))
        reason = f"expected {classname}<{count}, found {n_found}" if n_found >= count else ""
        if reason:
            correct = False
            reasons.append(reason)
        clauses.append(ClauseResult("exclude", index, classname, count, n_found, not reason, reason))
    return GenEvalVerdict(correct=correct, reason="\n".join(reasons), clauses=tuple(clauses))


def _color_of(detection: Detection, classname: str) -> str:
    if detection.color is None:  # a caller's bug, not a data error: colours come from `colors_needed`
        raise ValueError(f"a {classname!r} detection needs its colour classified (see colors_needed)")
    return detection.color


def summarize(rows: Iterable[Mapping[str, Any]]) -> GenEvalSummary:
    """`summary_scores.py` on result rows (`tag`, `correct`, `metadata`; upstream's `results.jsonl` lines work).

    Per tag: the share of correct images (S40-42); overall: the unweighted mean of the per-tag shares (S45), so
    each of the six tasks weighs the same whatever its prompt count. A prompt is the set of images with the same
    `metadata` (a mapping is keyed by `json.dumps`, as upstream writes it, L253); it is correct if any image is
    (S31).
    """
    per_tag: dict[str, list[int]] = {}
    per_prompt: dict[str, bool] = {}
    images = correct_images = 0
    for row in rows:
        ok = bool(row["correct"])
        metadata = row["metadata"] if isinstance(row["metadata"], str) else json.dumps(row["metadata"])
        per_prompt[metadata] = per_prompt.get(metadata, False) or ok
        tally = per_tag.setdefault(row["tag"], [0, 0])
        tally[0] += ok
        tally[1] += 1
        images += 1
        correct_images += ok
    if not images:
        raise ValueError("no GenEval results to summarize")
    tag_scores = {tag: right / total for tag, (right, total) in per_tag.items()}
    return GenEvalSummary(
        images=images,
        prompts=len(per_prompt),
        correct_images=correct_images / images,
        correct_prompts=sum(per_prompt.values()) / len(per_prompt),
        per_tag=tag_scores,
        per_tag_counts={tag: (right, total) for tag, (right, total) in per_tag.items()},
        overall=float(np.mean(list(tag_scores.values()))),
    )


def color_prompts(classname: str) -> list[list[str]]:
    """The texts upstream's colour classifier embeds for `classname`: `[colour][template]`, `COLORS` x 3."""
    return [[t.format(c=color, classname=classname) for t in COLOR_TEMPLATES] for color in COLORS]


def color_classifier(text_embeddings: torch.Tensor) -> torch.Tensor:
    """`Tensor[10, T, D]` text embeddings of `color_prompts` -> `Tensor[D, 10]` zero-shot weights.

    clip_benchmark's `zero_shot_classifier`: each text embedding L2-normalised, averaged over templates, the
    mean normalised again; one column per colour."""
    weights = F.normalize(text_embeddings.float(), dim=-1).mean(dim=1)
    return (weights / weights.norm(dim=-1, keepdim=True)).T


def pick_color(scores: Sequence[float] | torch.Tensor) -> str:
    """The colour upstream picks from per-colour scores in `COLORS` order: the arg-max, the first on a tie (L127)."""
    scores = torch.as_tensor(scores)
    if scores.shape != (len(COLORS),):
        raise ValueError(
            f"expected {len(COLORS)} scores, one per colour in COLORS order, got shape {tuple(scores.shape)}"
        )
    return COLORS[int(scores.argmax())]


def classify_colors(image_embeddings: torch.Tensor, classifier: torch.Tensor) -> list[str]:
    """`Tensor[N, D]` CLIP image embeddings of the crops -> N colours (clip_benchmark's `run_classification`:
    logits `100 * normalize(image) @ classifier`, then upstream's arg-max, L126-127)."""
    logits = 100.0 * F.normalize(image_embeddings.float(), dim=-1) @ classifier.float()
    return [pick_color(row) for row in logits]


def masked_crop(
    image: np.ndarray, box: Sequence[float], mask: np.ndarray | None = None, background=CROP_BACKGROUND
) -> np.ndarray:
    """The crop upstream shows CLIP (L94-106), on an `H x W x 3` uint8 array instead of a PIL image.

    Pixels outside `mask` become `background` (PIL `Image.composite`), then the image is cropped to `box`,
    each coordinate rounded like PIL's `Image.crop` (Python `round`, half to even), with zeros where the box
    leaves the image, as PIL pads.
    """
    image = np.asarray(image)
    if mask is not None:
        if mask.shape != image.shape[:2]:  # upstream asserts the same (L97)
            raise ValueError(f"mask shape {mask.shape} does not match the image's {image.shape[:2]}")
        image = np.where(mask.astype(bool)[..., None], image, np.asarray(background, dtype=image.dtype))
    x0, y0, x1, y1 = (int(round(float(v))) for v in box[:4])
    out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0), image.shape[2]), dtype=image.dtype)
    h, w = image.shape[:2]
    sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    return out


def validate_record(record: Mapping[str, Any], where: str) -> None:
    """Check one GenEval metadata record; `where` (e.g. `path:line`) starts every error message.

    Raises:
        BenchmarkDataError: naming `where` and the key: `tag`/`prompt` not strings; `include` not a non-empty
            list; a clause without a known `class` (`OBJECT_NAMES`) or a positive int `count`; a `color` outside
            `COLORS`; a `position` that is not `[relation in POSITIONS, index of an earlier clause]`.
    """

    def fail(message: str) -> None:
        raise BenchmarkDataError(f"{where}: {message}")

    if not isinstance(record, Mapping):
        fail(f"expected a JSON object, got {type(record).__name__}")
    for key in ("tag", "prompt"):
        if not isinstance(record.get(key), str):
            fail(f"key {key!r} must be a string, got {record.get(key)!r}")
    if not isinstance(record.get("include"), list) or not record["include"]:
        fail(f"key 'include' must be a non-empty list, got {record.get('include')!r}")
    if not isinstance(record.get("exclude", []), list):
        fail(f"key 'exclude' must be a list, got {record['exclude']!r}")
    for kind in ("include", "exclude"):
        for i, req in enumerate(record.get(kind, [])):
            at = f"{kind}[{i}]"
            if not isinstance(req, Mapping):
                fail(f"{at} must be an object, got {req!r}")
            if req.get("class") not in OBJECT_NAMES:
                fail(f"{at}.class {req.get('class')!r} is not one of the detector's 80 classes (OBJECT_NAMES)")
            count = req.get("count")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                fail(f"{at}.count must be a positive integer, got {count!r}")
            if kind == "exclude" and set(req) - {"class", "count"}:
                fail(f"{at} may only have 'class' and 'count', got {sorted(req)}")
            if "color" in req and req["color"] not in COLORS:
                fail(f"{at}.color {req['color']!r} is not one of {', '.join(COLORS)}")
            if "position" in req:
                pos = req["position"]
                ok = isinstance(pos, (list, tuple)) and len(pos) == 2 and pos[0] in POSITIONS
                if not ok or isinstance(pos[1], bool) or not isinstance(pos[1], int) or not 0 <= pos[1] < i:
                    fail(
                        f"{at}.position must be [one of {', '.join(POSITIONS)}, an earlier clause's index], got {pos!r}"
                    )


def read_geneval_metadata(path: str | Path = GENEVAL_METADATA_FILE) -> list[dict[str, Any]]:
    """The records of a GenEval `evaluation_metadata.jsonl`, in file order (line N-1 is prompt folder `N-1`).

    Records are returned as parsed, so the official layout can write each one back as its folder's
    `metadata.jsonl`.

    Raises:
        BenchmarkDataError: the file is missing, or a line is not valid JSON or not a valid record (`path:line`).
    """
    path = resolve_data_path(path)
    if not path.is_file():
        raise BenchmarkDataError(f"{path}: GenEval metadata file not found")
    records = []
    for lineno, record in iter_jsonl(path, error=BenchmarkDataError):
        validate_record(record, f"{path}:{lineno}")
        records.append(record)
    return records
