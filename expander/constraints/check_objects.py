"""Checking the kinds bound to objects: colour, count, subject, attribute and spatial, one checker per kind.

Each checker takes a `Constraint` and the `ExpansionDoc` of the expansion and returns None when the
constraint holds, else a short reason naming the change ("color 'a blue vase' became 'red vase'"). They look
for the object first (`ExpansionDoc.find`: its forms, its concept, a MiniLM synonym) and then at the words
around each mention.
"""

from __future__ import annotations

from expander.constraints import lexicon as lx
from expander.constraints.expansion import ExpansionDoc, span_words, window_back
from expander.constraints.tables import BOUNDARY, COUNT_THROUGH, tables
from expander.constraints.text import CLAUSE_END, is_plural, noun_forms, similarities, split_phrases
from expander.constraints.types import Constraint

__all__ = [
    "SOFT_SIMILARITY",
    "check_article_count",
    "check_attribute",
    "check_color",
    "check_count",
    "check_spatial",
    "check_subject",
    "counts_near",
    "is_article_count",
    "spatial_clash",
    "spatial_verdicts",
]

SOFT_SIMILARITY = 0.6
"""MiniLM cosine above which a word paraphrases a soft attribute."""

# --- color ----------------------------------------------------------------------------------------

_FORWARD_COLOR_LINK = frozenset(
    "painted glazed colored dyed tinted in of is are was were that which with "
    "rendered finished lacquered stained washed shaded hued toned".split()
)


def _joined(doc: ExpansionDoc, k: int) -> bool:
    """Token k is fused with the next into one colour ("blue-grey", "reddish orange")."""
    return k + 1 < len(doc.tokens) and (
        doc.words[k].endswith("ish") or doc.text[doc.tokens[k].end : doc.tokens[k + 1].start] == "-"
    )


def _list_goes_on(doc: ExpansionDoc, k: int) -> bool:
    """A colour list continues over the comma or conjunction at k: a colour follows, and after a bare
    comma that colour is itself followed by more of the list ("cream, charcoal, and mustard"; not
    "purple, mint leaves")."""
    color_of = tables().color_of
    words = doc.words
    j = k
    conj = False
    while j < len(words) and words[j] in (",", "and", "or"):
        conj |= words[j] != ","
        j += 1
    while j < len(words) and words[j] in lx.COLOR_QUALIFIERS:
        j += 1
    if (
        j + 1 < len(words)
        and words[j] not in color_of
        and words[j].isalpha()
        and words[j] not in BOUNDARY
        and words[j + 1] in color_of
    ):
        j += 1  # a compound with a modifier no list knows: "sea green", "brick red"
    if j >= len(words) or words[j] not in color_of:
        return False
    if conj:
        return True
    after = words[j + 1] if j + 1 < len(words) else "."
    return after in (",", "and", "or") or after in color_of or after in CLAUSE_END


def _colors_near(doc: ExpansionDoc, p: int) -> set[str]:
    color_of = tables().color_of
    fams: set[str] = set()
    back = window_back(doc, p, 5)
    colored = [k for k in back if doc.words[k] in color_of]
    if (
        len(colored) > 1
        and colored[0] == p - 1
        and doc.words[p - 1] in lx.AMBIGUOUS_COLOR_WORDS
        and not any(_joined(doc, k) for k in colored[1:])
    ):
        colored = colored[1:]  # "a white fuchsia blossom": fuchsia names the plant, white its colour
    for k in colored:
        fams |= color_of[doc.words[k]]
    in_list = False
    for k in range(p + 1, min(len(doc.words), p + 16)):
        w = doc.words[k]
        if w in color_of:
            fams |= color_of[w]
            # A compound ("mint green") or a list ("in cream, charcoal, and mustard") goes on.
            nxt = doc.words[k + 1 : k + 4]
            if nxt and (nxt[0] in color_of or nxt[0] in lx.COLOR_QUALIFIERS):
                continue
            if nxt and nxt[0] in (",", "and", "or") and _list_goes_on(doc, k + 1):
                in_list = True
                continue
            break
        if in_list:  # separators, qualifiers and compound modifiers inside a list ("and sea green")
            if (
                w in (",", "and", "or")
                or w in lx.COLOR_QUALIFIERS
                or (k + 1 < len(doc.words) and doc.words[k + 1] in color_of)
            ):
                continue
            break
        if w == "," or w in _FORWARD_COLOR_LINK or w in lx.COLOR_QUALIFIERS or w.endswith("ly") or w == "and":
            if w == "and" and not (k > p + 1 and doc.words[k - 1] in color_of):
                break
            continue
        break
    return fams


def check_color(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``color``: holds when a mention of the bound noun carries the colour family (before it, in a
    colour list after it, or, without any colour near the noun, anywhere in its sentence: "its glossy
    blue glaze"). Fails when the noun is gone, carries only other colours ("became 'red vase'"), or
    nothing around it has the colour."""
    positions = doc.find(c.binds_to)
    if not positions:
        return f"color '{c.text}': no '{c.binds_to}' in the expansion"
    others: set[str] = set()
    for p in positions:
        fams = _colors_near(doc, p)
        if c.value in fams:
            return None
        others |= fams
    if others:
        return f"color '{c.text}' became '{' / '.join(sorted(others))} {c.binds_to}'"
    # The colour may sit on a part of the object ("its glossy blue glaze"): accept it in the same sentence.
    color_of = tables().color_of
    clauses = {doc.clause[p] for p in positions}
    for k, w in enumerate(doc.words):
        if doc.clause[k] in clauses and c.value in color_of.get(w, ()):
            return None
    return f"color '{c.text}': '{c.binds_to}' is not {c.value}"


# --- count ----------------------------------------------------------------------------------------


def counts_near(doc: ExpansionDoc, p: int) -> tuple[list[tuple[int, str]], bool]:
    """(explicit counts as (value, words), vague quantity) in the noun phrase before position p.

    A number followed by an article or a plural noun before p counts that other thing, not the noun at p:
    "both holding a microwave", "two people carrying backpacks". A number hyphen-joined to the next word is part
    of a compound modifier and counts nothing: "a three-masted ship", "a two-lane highway", "a six-sided
    snowflake", "a five-piece band" are one ship, one highway, one snowflake, one band."""
    window = sorted(window_back(doc, p, 6, through=COUNT_THROUGH))
    words = [doc.words[k] for k in window]
    spans = [(i, j, int(v)) for i, j, v in tables().count_index.find(words)]
    spans += [(i, i + 1, int(w)) for i, w in enumerate(words) if w.isdigit() and 0 < int(w) <= 1000]  # not years

    def compound(j: int) -> bool:  # the span's last word joined by a hyphen to the word after it
        k = window[j - 1]
        return k + 1 < len(doc.tokens) and doc.text[doc.tokens[k].end : doc.tokens[k + 1].start] == "-"

    found = [
        (v, " ".join(words[i:j]))
        for i, j, v in sorted(spans)
        if not any(w in ("a", "an") or is_plural(w) for w in words[j:]) and not compound(j)
    ]
    vague = any(w in lx.VAGUE_QUANTITIES for w in words)
    return found, vague


def is_article_count(c: Constraint) -> bool:
    """A count of one the prompt states with "a"/"an" only (`extract_objects.article_counts`)."""
    if c.kind != "count" or c.value != "1":
        return False
    words = span_words(c.text)
    return len(words) > 1 and words[0] in ("a", "an") and not tables().count_index.find(words)


def check_article_count(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``count`` of "a"/"an" ("a bear"): fails when the noun is gone (`ExpansionDoc.find`), or when a mention of
    the same noun as a head (its own forms, not its concept: "a cat with two kittens" keeps one cat; not a
    modifier: "two barn owls", "a three-room house") carries an explicit number above one ("two bears")."""
    if not doc.find(c.binds_to):
        return f"count '{c.text}': no '{c.binds_to}' in the expansion"
    noun, words = noun_forms(c.binds_to), doc.words
    larger = [
        text
        for p, w in enumerate(words)
        if noun & _singulars(w) and not _modifies_next(doc, p)
        for value, text in counts_near(doc, p)[0]
        if value > 1
    ]
    return f"count '{c.text}' became '{larger[0]}'" if larger else None


def _singulars(word: str) -> frozenset[str]:
    """The singular noun forms of a word, possessive dropped; "people" is the plural of "person"."""
    word = word.removesuffix("'s")
    return noun_forms(word) | {"person"} if word == "people" else noun_forms(word)


def _modifies_next(doc: ExpansionDoc, p: int) -> bool:
    """The noun at p is part of a modifier: hyphen-joined to a word ("three-room cutaway house", "room-sized")
    or before a plural noun ("barn owls")."""

    def joined(k: int) -> bool:
        return 0 <= k and k + 1 < len(doc.words) and doc.text[doc.tokens[k].end : doc.tokens[k + 1].start] == "-"

    return joined(p - 1) or joined(p) or (p + 1 < len(doc.words) and is_plural(doc.words[p + 1]))


def check_count(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``count``: holds when a mention of the bound noun has the number in its noun phrase (a word, a
    digit or a phrase like "a pair of"); a count of one also holds on a singular mention with no larger
    number. Fails when the noun is gone, or its mentions carry another number, a vague quantity
    ("several"), the plural alone (for one), or no number. A count stated with "a"/"an" only is lenient
    (`check_article_count`)."""
    if is_article_count(c):
        return check_article_count(c, doc)
    want = int(c.value)
    positions = doc.find(c.binds_to)
    if not positions:
        return f"count '{c.text}': no '{c.binds_to}' in the expansion"
    seen: list[tuple[int, str]] = []
    vague = plural_bare = singular = False
    for p in positions:
        found, v = counts_near(doc, p)
        if any(value == want for value, _ in found):
            return None
        seen += found
        vague |= v
        if is_plural(doc.words[p]):
            plural_bare |= not found
        else:
            singular = True
    if want == 1 and singular and not any(value > 1 for value, _ in seen):
        return None
    if seen:
        got = list(dict.fromkeys(text for _, text in seen))
        return f"count '{c.text}' became '{', '.join(got)}'"
    if vague:
        return f"count '{c.text}' became a vague quantity"
    if want == 1 and plural_bare:
        return f"count '{c.text}' became plural"
    return f"count '{c.text}' not stated"


# --- subject --------------------------------------------------------------------------------------


def check_subject(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``subject``: holds when the noun is mentioned (`ExpansionDoc.find`: its forms, its concept,
    a word built on it, a MiniLM synonym) and, for a compound, the first noun too. Fails naming the
    closest word when MiniLM found one."""
    if doc.find(c.value):
        if c.target and not doc.find(c.target):
            return f"subject '{c.text}' lost '{c.target}'"
        return None
    near = doc.nearest(c.value)
    return f"subject '{c.text}' missing" + (f" (closest: '{near}')" if near else "")


# --- attribute ------------------------------------------------------------------------------------


def check_attribute(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``attribute``: a group attribute holds when a phrase of the group (or the prompt's own words) is
    there, unless the bound noun carries an opposite one ("wooden" -> "a glass cabin"); it fails naming
    the opposite, else as missing. A soft attribute (its own word as value) holds on the word itself or
    a MiniLM paraphrase above `SOFT_SIMILARITY`."""
    t = tables()
    if c.value in t.attr:
        members, opposites = t.attr[c.value]
        if c.binds_to:
            # Around the object first: "a glass and steel cabin in a pine forest" is not wooden.
            near = set()
            for p in doc.find(c.binds_to):
                ks = window_back(doc, p, 5)
                for k in range(p + 1, min(len(doc.words), p + 7)):
                    if doc.words[k] in lx.DETERMINERS or doc.words[k] in CLAUSE_END:
                        break
                    ks.append(k)
                near |= {doc.words[k] for k in ks}
            near_grams = {(w,) for w in near}
            if not (near_grams & members):
                hit = near_grams & opposites
                if hit:
                    return f"attribute '{c.text}' of '{c.binds_to}' became '{sorted(hit)[0][0]}'"
        if doc.has_any(members) or doc.find(c.text.lower(), fuzzy=False):
            return None
        hit = doc.has_any(opposites)
        if hit:
            return f"attribute '{c.text}' became '{' '.join(hit)}'"
        return f"attribute '{c.text}' missing"
    if doc.find(c.value, fuzzy=False):
        return None
    cands = [w for w in dict.fromkeys(doc.words) if w.isalpha() and w not in BOUNDARY]
    sims = similarities(c.value, cands)
    if sims is not None and len(cands) and float(sims.max()) >= SOFT_SIMILARITY:
        return None
    return f"attribute '{c.text}' missing"


# --- spatial --------------------------------------------------------------------------------------


def _relation_labels(want: str) -> tuple[set[str], set[str], set[str]]:
    """(inverse, opposite, opposite's inverse) relation labels of `want` (`lexicon.SPATIAL_INVERSE`, `_OPPOSITES`)."""
    inverse = set(split_phrases(lx.SPATIAL_INVERSE.get(want, "")))
    opposite = set(split_phrases(lx.SPATIAL_OPPOSITES.get(want, "")))
    opposite_inverse = set()
    for o in opposite:
        opposite_inverse |= set(split_phrases(lx.SPATIAL_INVERSE.get(o, "")))
    return inverse, opposite, opposite_inverse


def spatial_verdicts(c: Constraint, doc: ExpansionDoc, distinct: bool = False):
    """For each pair of neighbouring mentions of the two objects (no other mention of either between them) in one
    clause, at most 16 tokens apart, with a relation of the family between them, `(holds, phrase, mixed)`: the
    relation nearest the second mention governs; it holds when it is the wanted one (or its inverse, read the
    other way), not when it is the opposite; `mixed` when the wanted one is between them too ("above and
    below"). In text order, first object first. With `distinct`, a word that mentions both objects (the two
    peppers of "a green pepper left of a red pepper"; "tower" for "buildings") pairs with neither."""
    a_pos, b_pos = doc.find(c.binds_to), doc.find(c.target)
    if distinct:
        both = set(a_pos) & set(b_pos)
        a_pos, b_pos = [p for p in a_pos if p not in both], [p for p in b_pos if p not in both]
    rels = tables().spatial_index.find(doc.words, overlapping=True)
    inverse, opposite, opposite_inverse = _relation_labels(c.value)
    for first, second, ok_labels, bad_labels in (
        (a_pos, b_pos, {c.value}, opposite),
        (b_pos, a_pos, inverse, opposite_inverse),
    ):
        for a in first:
            for b in second:
                if not (a < b and b - a <= 16 and doc.clause[a] == doc.clause[b]):
                    continue
                if any(a < m < b for m in (*a_pos, *b_pos)):
                    continue  # another mention in between pairs up with one of them instead
                inside = [
                    (s, e, label)
                    for s, e, label in rels
                    if a < s and e <= b and (label in ok_labels or label in bad_labels)
                ]
                if not inside:
                    continue
                last = max(s for s, _, _ in inside)
                labels = {label for s, _, label in inside if s == last}
                holds = bool(labels & ok_labels)
                phrase = next(
                    " ".join(doc.words[s:e]) for s, e, label in inside if s == last and (label in ok_labels) == holds
                )
                yield holds, phrase, any(label in ok_labels for _, _, label in inside)


# Directions whose opposite excludes them (a dog cannot be both left and right of a bear); a clash anywhere fails
# them. Not "on" or "next to": "a cat on a sofa ... the cat by the sofa's arm" is one scene.
_DIRECTIONAL = frozenset({"left of", "right of", "above", "on top of", "under", "behind", "in front of"})
# Relation words too common to read as a clash: "a reflector on its frame", "light over the scene".
_WEAK_CLASH = frozenset({"on", "upon", "onto", "over", "across", "before", "left", "right"})


def spatial_clash(c: Constraint, doc: ExpansionDoc) -> str | None:
    """The first relation phrase that contradicts a two-object directional ``spatial`` constraint ("left of",
    "above", ...) anywhere in the text ("a dog right of a bear ... the dog, left of the bear": 'left of'), bare
    prepositions aside ("on", "over"), and so are pairs that also state it ("above and below"), and words that
    mention both objects; else None."""
    if c.kind != "spatial" or not c.target or c.value not in _DIRECTIONAL:
        return None
    verdicts = spatial_verdicts(c, doc, distinct=True)
    return next((p for holds, p, mixed in verdicts if not (holds or mixed) and p not in _WEAK_CLASH), None)


def check_spatial(c: Constraint, doc: ExpansionDoc) -> str | None:
    """``spatial``: between a mention of each object in one clause, the relation phrase nearest the
    second one governs: the relation (or its inverse, read the other way) holds, its opposite fails it
    ("became 'next to'"); a direction ("left of", "above") also fails when another pair states its opposite
    (`spatial_clash`). A side of the frame holds when the mention nearest a side phrase is on the
    wanted side. Plain "on" fails only on a clash; when the second object is paraphrased away, the
    relation right after the first one will do. Otherwise fails as "not stated"."""
    t = tables()
    a_pos = doc.find(c.binds_to)
    if not a_pos:
        return f"spatial '{c.text}': no '{c.binds_to}' in the expansion"
    rels = t.spatial_index.find(doc.words, overlapping=True)
    want = c.value
    _, opposite, _ = _relation_labels(want)

    if c.target is None:  # a side of the frame: the side word near the object
        # Any mention of the object on the wanted side keeps it ("a bowl on the left, the scoop on the
        # right"); the other side only counts when no mention is on the wanted one.
        # Each mention takes the side phrase nearest to it.
        sides = [
            (s, e, label)
            for s, e, label in rels
            if label in (want, *opposite) and doc.words[s:e][-1] in ("left", "right")
        ]
        clash_side = None
        for a in a_pos:
            near = [
                (abs(s - a) - (0.5 if s > a else 0), s, e, label)
                for s, e, label in sides
                if abs(s - a) <= 10 and doc.clause[s] == doc.clause[a]
            ]
            if not near:
                continue
            _, s, e, label = min(near)
            if label == want:
                return None
            clash_side = clash_side or " ".join(doc.words[s:e])
        if clash_side:
            return f"spatial '{c.text}' became '{clash_side}'"
        return f"spatial '{c.text}' not stated"
    # Between two mentions, the relation nearest the second one governs it: in "a bowl on the floor
    # below a windowsill" the bowl is below the windowsill, not on it.
    clash = None
    for holds, phrase, _ in spatial_verdicts(c, doc):
        if holds:
            strong = spatial_clash(c, doc)  # "a dog left of a bear ... the dog, right of the bear"
            return f"spatial '{c.text}' also stated as '{strong}'" if strong else None
        clash = clash or phrase
    if clash:
        return f"spatial '{c.text}' became '{clash}'"
    if c.value == "on":  # plain "on" is everywhere and often paraphrased away: only a clash fails it
        return None
    if not doc.find(c.target):  # the second object is paraphrased beyond our lists: the relation after the first
        for s, _, label in rels:
            if label == want and any(0 < s - a <= 6 and doc.clause[s] == doc.clause[a] for a in a_pos):
                return None
    return f"spatial '{c.text}' not stated"
