"""GenEval on the text side: does an expansion still say what a GenEval metadata record pins down.

A GenEval record (`data/prompts/geneval/evaluation_metadata.jsonl`) lists the objects its prompt asks for, each
`{class, count, color?, position?}` (a COCO class, how many, a colour, a relation to an earlier object), and for
counting prompts an `exclude` clause ("fewer than count + 1"). `check_geneval(record, text)` checks each of them
against a text, one `GenEvalItem` per fact:

* ``object``   -- the class is named: a name of `CLASS_NAMES` (plural, possessive and synonyms: "sofa" for couch,
  "smartphone" for cell phone), matched longest first over every class, so "hot dog" is no dog, "teddy bear"
  no bear and "tv remote" no tv;
* ``count``    -- a mention carries the number (word, digit or "a pair of"); a count of one also holds on a
  singular mention with no larger number bound to the class ("a bench", "one bench"; not "two benches" or a
  bare "benches"; for "skis" and "scissors", any mention with no number above a pair). With an `exclude`
  clause no mention may carry a larger number. This is stricter than GenEval's detector rule for a count of
  one (at least one detection), on purpose: the text should say "a";
* ``color``    -- the colour is bound to the object ("a blue fire hydrant", "the hydrant, painted blue"), not to
  something near it;
* ``position`` -- the relation holds between the two objects, in either reading ("a dog right of a teddy bear"
  or "a teddy bear to the left of the dog"); "above" also holds as "on top of"/"atop", "below" as
  "under"/"beneath"; and no other mention of the pair states the opposite (`check_objects.spatial_clash`:
  "on"/"over" aside).

The word-level rules are the constraint checker's own (`check_objects.check_count`, `check_color`,
`check_spatial`), run on an `ExpansionDoc` whose objects are found through the class names. A record's prompt
passes its own record (the raw arm of `benchmarks/text_faithfulness.py` scores 1.0; a test checks all 553).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from expander.constraints.check_objects import check_color, check_count, check_spatial, counts_near
from expander.constraints.concepts import CONCEPTS
from expander.constraints.expansion import ExpansionDoc
from expander.constraints.tables import BOUNDARY
from expander.constraints.text import CLAUSE_END, noun_forms
from expander.constraints.types import Constraint

__all__ = ["CLASS_NAMES", "ITEM_KINDS", "GenEvalItem", "GenEvalTextReport", "check_geneval", "class_mentions"]

ITEM_KINDS = ("object", "count", "color", "position")

_PEOPLE = " ".join(w for w in CONCEPTS["person"].split() if "'" not in w)

# COCO class -> its names, "|"-separated; each name's last word is its head (the word counts and colours bind to).
CLASS_NAMES: dict[str, str] = {
    "person": "person|" + _PEOPLE.replace(" ", "|"),
    "bicycle": "bicycle|bike|push bike",
    "car": "car|automobile|sedan|coupe|hatchback|convertible|station wagon|sports car|taxi",
    "motorcycle": "motorcycle|motorbike|motor bike|dirt bike",
    "airplane": "airplane|aeroplane|plane|airliner|jetliner|jet|aircraft|biplane",
    "bus": "bus|coach|minibus|double decker|double-decker bus",
    "train": "train|locomotive",
    "truck": "truck|lorry|pickup",
    "boat": "boat|rowboat|dinghy|canoe|kayak|skiff|sailboat|yacht|ship|vessel|ferry",
    "traffic light": "traffic light|traffic signal|stoplight|stop light",
    "fire hydrant": "fire hydrant|hydrant",
    "stop sign": "stop sign",
    "parking meter": "parking meter|meter",
    "bench": "bench|park bench",
    "bird": CONCEPTS["bird"].replace(" ", "|"),
    "cat": CONCEPTS["cat"].replace(" ", "|"),
    "dog": CONCEPTS["dog"].replace(" ", "|"),
    "horse": CONCEPTS["horse"].replace(" ", "|"),
    "sheep": "sheep|lamb|ewe|ram",
    "cow": CONCEPTS["cow"].replace(" ", "|"),
    "elephant": "elephant",
    "bear": "bear|grizzly|bear cub",
    "zebra": "zebra",
    "giraffe": "giraffe",
    "backpack": "backpack|rucksack|knapsack|daypack",
    "umbrella": "umbrella|parasol",
    "handbag": "handbag|purse|clutch|tote|tote bag|shoulder bag",
    "tie": "tie|necktie|bow tie|bowtie",
    "suitcase": "suitcase|luggage|valise|trolley case",
    "frisbee": "frisbee|flying disc",
    "skis": "skis",
    "snowboard": "snowboard",
    "sports ball": "sports ball|ball|football|soccer ball|basketball|volleyball|tennis ball|beach ball|baseball",
    "kite": "kite",
    "baseball bat": "baseball bat|bat",
    "baseball glove": "baseball glove|glove|mitt|baseball mitt",
    "skateboard": "skateboard",
    "surfboard": "surfboard|surf board",
    "tennis racket": "tennis racket|racket|racquet|tennis racquet",
    "bottle": "bottle",
    "wine glass": "wine glass|wineglass|glass of wine|goblet",
    "cup": "cup|mug|teacup|coffee cup",
    "fork": "fork",
    "knife": "knife|knifes",  # GenEval's own spelling: "a photo of four knifes"
    "spoon": "spoon|teaspoon|tablespoon",
    "bowl": "bowl",
    "banana": "banana",
    "apple": "apple",
    "sandwich": "sandwich|panini",
    "orange": "orange|tangerine|mandarin|clementine",
    "broccoli": "broccoli|broccolis|broccoli floret|broccoli head",
    "carrot": "carrot",
    "hot dog": "hot dog|hotdog|frankfurter",
    "pizza": "pizza",
    "donut": "donut|doughnut",
    "cake": "cake|cupcake|cheesecake",
    "chair": "chair|armchair",
    "couch": "couch|sofa|settee|loveseat",
    "potted plant": "potted plant|plant|houseplant|pot plant",
    "bed": "bed",
    "dining table": "dining table|table|dinner table|kitchen table",
    "toilet": "toilet",
    "tv": "tv|tvs|television|tv set|television set",
    "laptop": "laptop|notebook computer",
    "computer mouse": "computer mouse|mouse",
    "tv remote": "tv remote|remote|remote control",
    "computer keyboard": "computer keyboard|keyboard",
    "cell phone": "cell phone|cellphone|phone|smartphone|mobile phone",
    "microwave": "microwave|microwave oven",
    "oven": "oven",
    "toaster": "toaster",
    "sink": "sink|washbasin|basin",
    "refrigerator": "refrigerator|fridge",
    "book": "book|novel|paperback|hardcover",
    "clock": "clock|alarm clock|wall clock",
    "vase": "vase",
    "scissors": "scissors|shears",
    "teddy bear": "teddy bear|teddy|stuffed bear|plush bear|teddy bear's",
    "hair drier": "hair drier|hair dryer|hairdryer|blow dryer|blow-dryer|blowdryer",
    "toothbrush": "toothbrush",
}

# A colour word that also names a class counts as the class only where no noun follows ("an orange, peeled";
# not "an orange cat").
_COLOR_CLASS_WORDS = frozenset({"orange"})

# Classes named in the plural for one object ("a skis" is one pair): a count of one holds on any mention that
# carries no number above a pair.
_PAIRS = frozenset({"skis", "scissors"})

# GenEval relation -> the constraint checker's relations that keep it (either reading: `check_spatial`).
_RELATIONS = {"left of": ("left of",), "right of": ("right of",), "above": ("above", "on top of"), "below": ("under",)}


@dataclass(frozen=True)
class GenEvalItem:
    """One fact of a record checked against a text.

    Attributes:
        kind: one of `ITEM_KINDS`.
        text: the fact in words ("two clock", "blue fire hydrant", "dog right of teddy bear").
        reason: None when the text keeps it, else why not (the constraint checker's wording).
    """

    kind: str
    text: str
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "ok": self.ok, "reason": self.reason}


@dataclass(frozen=True)
class GenEvalTextReport:
    """Every fact of one record: `ok` when the text keeps them all (GenEval's per-prompt verdict, on text)."""

    tag: str
    items: tuple[GenEvalItem, ...]

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    def to_dict(self) -> dict:
        return {"tag": self.tag, "ok": self.ok, "items": [i.to_dict() for i in self.items]}


@lru_cache(maxsize=1)
def _names() -> tuple[tuple[tuple[str, ...], str], ...]:
    """Every (name words, class), longest name first, so the longest match wins at a position."""
    out = []
    for cls, spec in CLASS_NAMES.items():
        for name in spec.split("|"):
            out.append((tuple(name.replace("-", " ").split()), cls))
    return tuple(sorted(out, key=lambda nc: -len(nc[0])))


def _head(name: tuple[str, ...]) -> int:
    """Offset of a name's head word: the last, or the one before "of" ("glass of wine")."""
    return name.index("of") - 1 if "of" in name else len(name) - 1


def class_mentions(doc: ExpansionDoc) -> dict[str, list[int]]:
    """Token positions of every class named in `doc` (the head word of each mention), longest names first.

    Non-head words must match exactly; the head matches as a noun (plural, possessive; "forked" is no fork).
    """
    words, n = doc.words, len(doc.words)
    found: dict[str, list[int]] = {}
    i = 0
    while i < n:
        for name, cls in _names():
            k = len(name)
            if i + k > n:
                continue
            h = _head(name)
            if all(
                _is_noun_form(words[i + j], name[j]) if j == h else words[i + j] == name[j] for j in range(k)
            ) and not _color_use(doc, i + h, name[h]):
                found.setdefault(cls, []).append(i + h)
                i += k
                break
        else:
            i += 1
    return found


def _is_noun_form(word: str, noun: str) -> bool:
    return word == noun or noun in noun_forms(word.removesuffix("'s"))


def _color_use(doc: ExpansionDoc, p: int, word: str) -> bool:
    """Whether a colour word that names a class is used as a colour here (a noun follows it)."""
    if word not in _COLOR_CLASS_WORDS or doc.words[p] != word:
        return False
    nxt = doc.words[p + 1] if p + 1 < len(doc.words) else "."
    return not (nxt in CLAUSE_END or nxt in BOUNDARY or nxt in (",", "fruit", "fruits"))


class _ClassDoc(ExpansionDoc):
    """An `ExpansionDoc` in which `find` of a COCO class returns its mentions (`class_mentions`), so the
    constraint checker's rules bind counts, colours and relations to GenEval's objects."""

    def __init__(self, text: str):
        super().__init__(text)
        self.mentions = class_mentions(self)

    def find(self, word: str, fuzzy: bool = True) -> list[int]:
        if word in CLASS_NAMES:
            return self.mentions.get(word, [])
        return super().find(word, fuzzy)


def check_geneval(record: Mapping, text: str) -> GenEvalTextReport:
    """Check `text` against every fact of a GenEval metadata record (module doc).

    Args:
        record: a GenEval record (`tag`, `include`, optional `exclude`; as read by
            `expander.rewards.geneval_rules.read_geneval_metadata`).
        text: an expansion of the record's prompt (or the prompt itself).

    Returns:
        A `GenEvalTextReport` with, per included object, an ``object`` and a ``count`` item, plus a ``color`` and
        a ``position`` item where the record has them.
    """
    doc = _ClassDoc(text)
    include = record["include"]
    ceiling = {e["class"]: e["count"] for e in record.get("exclude", ())}  # "fewer than" this many
    items = []
    for obj in include:
        cls, count = obj["class"], obj["count"]
        named = bool(doc.find(cls))
        items.append(GenEvalItem("object", cls, None if named else f"no '{cls}' in the text"))
        want = Constraint("count", f"{count} {cls}", binds_to=cls, value=str(count))
        if not named:
            reason = f"no '{cls}' in the text"
        elif cls in _PAIRS and count == 1:
            more = sorted({v for p in doc.find(cls) for v, _ in counts_near(doc, p)[0] if v > 2})
            reason = f"count '{want.text}' became {', '.join(map(str, more))}" if more else None
        else:
            reason = check_count(want, doc)
        if reason is None and cls in ceiling:
            larger = sorted({v for p in doc.find(cls) for v, _ in counts_near(doc, p)[0] if v >= ceiling[cls]})
            if larger:
                reason = f"count '{want.text}' also stated as {', '.join(map(str, larger))}"
        items.append(GenEvalItem("count", want.text, reason))
        if "color" in obj:
            c = Constraint("color", f"{obj['color']} {cls}", binds_to=cls, value=obj["color"])
            items.append(GenEvalItem("color", c.text, check_color(c, doc) if named else f"no '{cls}' in the text"))
        if "position" in obj:
            rel, other = obj["position"][0], include[obj["position"][1]]["class"]
            phrase = f"{cls} {rel} {other}"
            wanted = [Constraint("spatial", phrase, binds_to=cls, value=r, target=other) for r in _RELATIONS[rel]]
            reasons = [check_spatial(c, doc) for c in wanted]
            reason = None if None in reasons else reasons[0]
            items.append(GenEvalItem("position", phrase, reason))
    return GenEvalTextReport(record.get("tag", ""), tuple(items))
