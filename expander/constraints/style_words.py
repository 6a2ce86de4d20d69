"""Hand-written word lists for styles and media beyond `lexicon.STYLE_FAMILIES`: more curated families, and the
words the "X painting / X illustration / X photo / in the style of X" patterns read (`style_terms.py`).

Written in the checker's normal form, as in `lexicon.py` (lower case, hyphens as spaces).
"""

from __future__ import annotations

# family -> (phrases that name it in a prompt, extra evidence accepted in an expansion); merged into the style
# families by `tables.tables()`, so they behave exactly like `lexicon.STYLE_FAMILIES`.
MORE_STYLE_FAMILIES = {
    "noir": ("noir|film noir|neo noir", ""),
    "baroque": ("baroque", ""),
    "renaissance": ("renaissance", ""),
    "rococo": ("rococo", ""),
    "surrealist": ("surrealist|surrealism|surrealistic", "surreal|dali|magritte"),
    "expressionist": ("expressionist|expressionism|expressionistic", ""),
    "pointillist": ("pointillist|pointillism", "dots"),
    "fauvist": ("fauvist|fauvism|fauve", ""),
    "abstract": ("abstract|abstraction|abstract art", ""),
    "fresco": ("fresco|frescoes|frescos", ""),
    "tempera": ("tempera|egg tempera", ""),
    "encaustic": ("encaustic", "wax"),
    "sepia": ("sepia|sepia toned", ""),
    "tilt shift": ("tilt shift", "miniature"),
    "long exposure": ("long exposure", "light trails|motion blur|streaks|trails"),
    "double exposure": ("double exposure", "superimposed|overlaid"),
    "infrared": ("infrared", ""),
    "cyanotype": ("cyanotype", ""),
    "daguerreotype": ("daguerreotype|tintype|ambrotype|wet plate|collodion", "daguerreotype|tintype|wet plate"),
    "risograph": ("risograph|riso print", "riso"),
    "screen print": ("screen print|screenprint|silkscreen|serigraph", "screen printed|halftone"),
    "lithograph": ("lithograph|lithography", ""),
    "etching": ("etching|engraving|intaglio|drypoint", "etched|engraved|crosshatching|cross hatching"),
    "collage": ("collage|photomontage", "cutouts|cut out"),
    "batik": ("batik", ""),
    "voxel": ("voxel|voxel art|voxels", ""),
    "chibi": ("chibi", ""),
    "kawaii": ("kawaii", ""),
    "blueprint": ("blueprint|schematic", "blueprint|schematic"),
    "tarot": ("tarot card|tarot", ""),
    "bauhaus": ("bauhaus", ""),
    "memphis": ("memphis design|memphis style", "memphis"),
    "y2k": ("y2k", ""),
    "solarpunk": ("solarpunk", ""),
    "dieselpunk": ("dieselpunk", ""),
    "cottagecore": ("cottagecore", ""),
    "grunge": ("grunge", ""),
    "hdr": ("hdr|high dynamic range", ""),
    "lomography": ("lomography|lomo|holga|toy camera", "lomo"),
    "needle felted": ("needle felted|needle felt|felted", "felt|wool"),
    "still life": ("still life", ""),
}

PATTERN_NOUNS = frozenset(
    """
    painting paintings illustration illustrations photo photos photograph photographs photography drawing
    drawings sketch sketches render renders rendering print prints art artwork poster posters portrait shot
    style aesthetic inspired
    """.split()
)
"""The medium nouns of "X painting", "X photo", ..., "X style": the words before them name the style."""

LOOSE_PATTERN_NOUNS = frozenset("style aesthetic inspired".split())
"""Before these any free noun names the style ("storybook style", "Lego aesthetic", "Bauhaus-inspired")."""

GENRES = frozenset(
    """
    landscape seascape cityscape wildlife food product fashion editorial architectural documentary sports studio
    travel nature concept fantasy folk botanical scientific technical medical astro astrophotography
    """.split()
)
"""Nouns that name a genre before a medium noun ("a product photo", "concept art", "a fashion illustration")."""

NOT_STYLE = frozenset(
    """
    famous original recent new latest quick small big large tiny huge single great good nice real actual full
    whole final finished unfinished same other different similar typical favorite own main first last next own
    entire old young beautiful free random certain special standard usual regular simple complex rough neat
    proper official personal private public local popular expensive cheap rare common huge giant little
    """.split()
)
"""Adjectives that say nothing about a style ("a famous painting", "a recent photo")."""
