"""What an expansion must NOT add: people, animals and creatures the short prompt neither names nor implies.

Rule 2 of the expansion contract is "add no new main subjects". An expander that turns "a red fox in snow"
into "... a small child runs towards it, and a large bear stands beside it" breaks it, yet keeps every
constraint of the prompt. `added_subjects(prompt, expansion)` finds such additions; the constraint report
lists them (`ConstraintReport.added`), the API returns them, the RL suite can gate or penalise them, the
synthesis filter rejects pairs whose short prompt dropped a subject of the long caption, and eval scores
the share of expansions that add one.

The rules for the hard cases (each one is in tests/constraints/data/added_subjects_labelled.jsonl):

* **Subjects** are people, animals and creatures (robots, dragons, ghosts, ...): what an image model draws
  as a living figure. Scenery and props (trees, clouds, furniture, vehicles, food) are enrichment.
* **Named or implied.** A person is implied by any person word of the prompt (`woman`, `chef`, `someone`),
  a person pronoun (`she`, `me`), a scene made of people (`wedding`, `concert`, `busy market`) or a human
  activity without a named doer (`cooking pasta`, `surfing`). When the prompt has people, only an added
  *child* (`child`, `girl`, `baby`, ...) counts as new: the prompt's adults may be described with other
  words. An animal is implied by the same kind (`puppy` for `dog`, `sparrow` for `bird`), a generic word
  (`animal`, `wildlife`, `pet`, `creature`), a scene made of animals (`farm`, `zoo`, `aquarium`, `safari`),
  or, for the young of a kind (`cubs`, `kittens`), by that kind: "a fox with her cubs" adds no new kind of
  subject (how many foxes is the count check's business when the prompt fixes it). A compound animal word is
  listed under its head's kind (`honeybee` under insect, `sheepdog` under dog): it implies `bee`, `dog`, not
  `sheep` (a general suffix rule would read "landscape" as an ape and "kitchen" as a hen).
* **A lighthouse keeper is not implied by a lighthouse**, nor a farmer by a field, nor a fisherman by a boat:
  places and objects imply no people.
* **Depictions count** when they render as a living figure: a reflection of a man, a poster or painting of a
  woman. **Objects shaped like one do not**: a teddy bear, a toy horse, a lion statue, a cat-shaped lamp.
* **Rays are light**: "its rays", "rays of sun" (a sun, a lamp); the fish is `stingray` or `manta`.
* **Not a subject**: a word in a hyphenated compound (`bird's-eye`, `fish-eye`, `man-made`), a fixed phrase
  (`teddy bear`, `hot dog`, `baby's breath`), an animal as food (`chicken broth`, `grilled salmon`), a word
  with a non-animal sense used as such (`construction crane`, `computer mouse`, `baseball bat`), a negated
  mention (`no people`, `without a soul in sight`), and pronouns (`its`, `her fur`: they point back to
  something already named). `figure` counts as a person unless it is geometric, abstract or a figurine;
  `silhouette` alone does not (the silhouette *of a man* does, through `man`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass

__all__ = ["AddedSubject", "added_subjects", "subject_mentions"]


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


PERSON = _words("""
person people human humans individual man men woman women guy gentleman lady boy girl child children kid
toddler baby infant teenager teen youngster elder grandmother grandfather grandma grandpa mother father mom
dad mum parent son daughter brother sister wife husband bride groom couple family friend crowd audience
figure stranger pedestrian passerby passersby tourist traveler traveller hiker worker visitor onlooker
shopper resident student reader player dancer musician singer guitarist drummer pianist violinist customer
diner guest passenger soldier monk nun priest fisherman farmer vendor merchant shopkeeper sunbather swimmer
surfer skier snowboarder skater skateboarder climber commuter spectator performer athlete rider cyclist
biker runner jogger walker owner patron waiter waitress bartender barista chef cook baker butcher
photographer painter artist sculptor model actor actress doctor nurse scientist teacher police policeman
policewoman officer firefighter sailor pilot astronaut knight king queen prince princess warrior wizard
witch samurai ninja cowboy pirate keeper lighthouse-keeper gardener shepherd hunter beekeeper craftsman
carpenter blacksmith mechanic miner explorer villager peasant fan protester marcher bystander someone
somebody anyone everyone mermaid angel fairy elf vampire zombie clown juggler acrobat dj guard librarian
clerk cashier janitor porter conductor
""")
CHILD = _words("child children kid toddler baby infant boy girl youngster teen teenager son daughter")
# Third-person pronouns that name a person (not "her"/"his"/"they": those often point back to an animal, and
# first/second person ("make me a fox", "can you draw") is the user speaking, not a subject).
PERSON_PRONOUNS = _words("he she him himself herself someone somebody anyone everyone nobody-else")
PERSON_SCENES = _words("""
wedding concert festival parade party protest rally marathon classroom lecture ceremony funeral market
bazaar crowded busy bustling lively packed populated rush-hour commute nightclub dancefloor stadium
tournament fair carnival circus runway catwalk conference meeting picnic barbecue reunion graduation recital
choir orchestra
""")
# Human activities or person-centred genres: they imply a person unless the prompt names an animal doing it
# ("a cat wearing a hat", "portrait of a fox").
HUMAN_ACTIVITIES = _words("""
cooking dancing reading writing singing surfing skiing snowboarding skateboarding hiking jogging cycling
biking knitting sewing praying studying shopping kissing hugging laughing smiling crying posing wearing
gardening riding juggling selfie portrait headshot fashion
""")
CREATURES = _words(
    "robot android droid cyborg dragon monster alien ghost unicorn griffin phoenix demon "
    "troll goblin ogre yeti golem creature"
)

# Animal words -> their kind (a word of a kind implies the others of that kind).
_KINDS = {
    "dog": "dog puppy pup hound sheepdog wolfhound bloodhound retriever labrador poodle terrier corgi beagle husky "
    "spaniel dachshund bulldog pug collie chihuahua dalmatian greyhound mutt pooch shiba akita rottweiler doberman",
    "cat": "cat kitten kitty feline tabby tomcat housecat",
    "horse": "horse pony foal stallion mare colt steed",
    "cow": "cow cattle calf bull ox heifer",
    "bird": "bird songbird fowl sparrow robin crow raven pigeon dove gull seagull finch owl eagle hawk falcon "
    "parrot blackbird bluebird hummingbird heron egret stork magpie wren starling kingfisher "
    "woodpecker flamingo pelican penguin peacock swan goose duck duckling gosling chicken hen "
    "rooster chick turkey ostrich vulture albatross cormorant puffin toucan cockatoo crane",
    "insect": "insect bug beetle bee bumblebee honeybee ant butterfly moth dragonfly ladybug grasshopper cricket "
    "firefly wasp caterpillar fly",
    "fish": "fish goldfish koi carp trout salmon tuna shark stingray manta eel seahorse clownfish catfish swordfish",
    "rabbit": "rabbit bunny hare",
    "sheep": "sheep lamb ram ewe",
    "goat": "goat kid",
    "pig": "pig piglet hog boar swine",
    "bear": "bear cub grizzly",
    "deer": "deer fawn stag doe elk moose reindeer caribou antelope gazelle",
}
_SPECIES = (
    "fox wolf coyote squirrel chipmunk mouse rat hamster lion tiger leopard cheetah jaguar panther "
    "lynx elephant giraffe zebra monkey ape gorilla chimpanzee orangutan panda koala kangaroo sloth "
    "otter beaver raccoon hedgehog badger skunk opossum bat camel llama alpaca donkey mule bison "
    "buffalo hippo hippopotamus rhino rhinoceros dolphin whale orca seal walrus frog toad turtle "
    "tortoise snake lizard gecko iguana crocodile alligator chameleon spider scorpion crab lobster "
    "octopus squid jellyfish starfish snail slug worm meerkat lemur mongoose ferret weasel mink"
)
ANIMAL_KIND: dict[str, str] = {}
for _kind, _members in _KINDS.items():
    for _w in _members.split():
        ANIMAL_KIND.setdefault(_w, _kind)
for _w in _SPECIES.split():
    ANIMAL_KIND.setdefault(_w, _w)
for _w in ("panda", "koala", "grizzly"):
    ANIMAL_KIND[_w] = "bear" if _w == "grizzly" else _w
ANIMAL_GENERIC = _words("animal animals wildlife creature creatures pet pets beast beasts fauna critter")
ANIMAL_SCENES = {  # scene word -> kinds it implies ("*" = any animal)
    "farm": "cow horse sheep goat pig bird dog cat",
    "barn": "cow horse sheep goat pig bird",
    "barnyard": "cow horse sheep goat pig bird",
    "pasture": "cow horse sheep goat",
    "ranch": "cow horse",
    "stable": "horse",
    "zoo": "*",
    "safari": "*",
    "savanna": "*",
    "savannah": "*",
    "jungle": "*",
    "aquarium": "fish",
    "reef": "fish",
    "coral": "fish",
    "pond": "fish bird frog",
    "aviary": "bird",
    "kennel": "dog",
    "vet": "*",
    "wildlife": "*",
    "nest": "bird",
    "hive": "insect",
    "beehive": "insect",
    "rodeo": "horse cow",
    "equestrian": "horse",
    "circus": "*",
}
# Young of a kind: implied by any word of that kind (and by one another).
YOUNG = {
    "cub": "bear fox wolf lion tiger leopard cheetah panda",
    "pup": "dog seal wolf fox otter",
    "kit": "fox rabbit ferret beaver",
    "calf": "cow elephant whale giraffe deer bison buffalo",
    "foal": "horse donkey zebra",
    "fawn": "deer",
    "chick": "bird",
    "duckling": "bird",
    "gosling": "bird",
    "kitten": "cat",
    "puppy": "dog",
    "piglet": "pig",
    "lamb": "sheep",
    "joey": "kangaroo",
    "hatchling": "bird turtle snake lizard crocodile",
}

# Contexts where an animal or person word is not a subject.
_FIXED_PHRASES = re.compile(
    r"\b(?:teddy\s+bears?|hot\s+dogs?|corn\s+dogs?|baby'?s\s+breath|bird'?s\s+nest\s+(?:fern|soup)|"
    r"crow'?s\s+feet|cat'?s\s+eye|lion'?s\s+share|dog\s+days|bull\s+market|bear\s+market|horse\s+chestnuts?|"
    r"butterfly\s+(?:chairs?|knots?|stitch(?:es)?|valves?|effect)|zebra\s+crossings?|monkey\s+bars|"
    r"piggy\s+banks?|rocking\s+horses?|carousel\s+horses?|paper\s+cranes?|origami\s+\w+|"
    r"construction\s+cranes?|tower\s+cranes?|computer\s+mouse|baseball\s+bats?|cricket\s+bats?|"
    r"wax\s+seals?|navy\s+seals?|seal\s+of|spider\s*webs?|cobwebs?|cat\s*walks?|dragon\s*fl(?:y|ies)|"
    r"dragon\s+fruit|elephant\s+ears?|snake\s+plants?|spider\s+plants?|lamb'?s\s+ears?|foxgloves?|"
    r"dog\s*woods?|horse\s*tails?|mouse\s*pads?|rat\s+race|bull'?s[\s-]eye|bird\s+(?:feeders?|baths?|houses?|cages?)|"
    r"dog\s+(?:bowls?|beds?|leash(?:es)?|collars?|houses?)|cat\s+(?:trees?|beds?|toys?)|fish\s*(?:bowls?|tanks?|nets?|ing\s+rods?)|"
    r"king\s+(?:size|sized|bed)|queen\s+(?:size|sized|bed|anne'?s\s+lace)|man\s+cave|snow\s*m[ae]n|scarecrows?|"
    r"mannequins?|stick\s+figures?|action\s+figures?|figure\s+(?:skating|eight|8)|"
    r"(?:geometric|abstract|wire|ceramic|porcelain|clay|wooden|bronze|marble|plastic|toy|tiny)\s+figur(?:e|es|ine|ines)|"
    r"guest\s+(?:rooms?|books?|house)|family\s+(?:rooms?|photos?\s+frames?)|player\s+pianos?|record\s+players?|"
    r"model\s+(?:trains?|cars?|ships?|kits?)|scale\s+models?|fan\s+(?:blades?)|ceiling\s+fans?|"
    r"paper\s+fans?|hand\s+fans?|electric\s+fans?|folding\s+fans?|band\s+saws?|rubber\s+bands?|hair\s+bands?|"
    r"waist\s*bands?|wrist\s*bands?|head\s*bands?|(?:knight|king|queen|pawn|bishop)\s+(?:chess\s+)?pieces?|"
    r"chess\s+(?:knight|king|queen)s?|playing\s+cards?|card\s+players?|"
    r"fairy\s+(?:lights?|houses?|tales?|rings?|dust|doors?|gardens?)|passenger\s+(?:trains?|cars?|jets?|ships?|"
    r"seats?|planes?|side|ferr(?:y|ies))|guest\s+stars?|baby\s+(?:grand|carriage|stroller|blue|pink|shower)|"
    r"child\s*proof|people\s+mover|dog\s*-?\s*eared|cat\s*nap|horse\s*power|kid\s+gloves)\b",
    re.IGNORECASE,
)
_OBJECT_AFTER = _words("""
statue statues sculpture sculptures figurine figurines toy toys plush plushie doll dolls ornament ornaments
print prints pattern patterns motif motifs logo logos emblem icon icons costume costumes mask masks shaped
shape lamp lamps mug mugs pillow pillows cushion cushions sticker stickers tattoo tattoos decal decals
carving carvings topiary balloon balloons kite kites cookie cookies cake cakes candle candles skull skulls
skeleton skeletons bone bones fur-trim leather hide skin feather feathers shell shells fossil fossils
track tracks footprint footprints pawprint pawprints prints trail antler antlers droppings
sweater sweaters jumper jumpers hat hats cap caps boot boots jacket jackets coat coats shirt shirts dress
dresses armor armour helmet helmets ship ships flag flags style market markets knot knots braid braids
""")
_OBJECT_BEFORE = _words(
    "toy stuffed plush ceramic porcelain wooden stone marble bronze brass glass paper "
    "plastic inflatable cardboard carved painted-wood origami mechanical clockwork"
)
_FOOD_ANIMALS = _words(
    "chicken turkey duck fish salmon tuna trout lamb crab lobster octopus squid eel pig goat rabbit cod shrimp prawn"
)
_FOOD_AFTER = _words("""
broth soup stew curry wings wing breast thigh thighs drumstick drumsticks nuggets fillet fillets filet steak
meat sandwich salad skewer skewers stock sauce burger burgers tacos taco roll rolls sashimi nigiri tartare
confit leg legs chop chops rack ribs bacon sausage ham jerky pie pot-pie dumplings fried-rice noodles ramen
pho katsu teriyaki tikka masala parmesan parmigiana roe caviar oil liver pate belly
""")
_FOOD_BEFORE = _words(
    "grilled roasted roast fried smoked baked braised poached seared steamed minced shredded "
    "sliced cooked boiled barbecued bbq glazed cured pulled crispy fried stewed raw sauteed "
    "sautéed marinated"
)
# Words that are animals only as nouns with a determiner before them ("a fly on a grape", not "fly over").
_AMBIGUOUS = _words("fly bat seal crane mouse bear duck swallow ram kid turkey ray bug cricket seal kit pupil")
_NEGATORS = _words("no without nobody devoid free empty absent absence lack lacking none never zero not")
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?(?:-[a-z]+)*")


@dataclass(frozen=True)
class AddedSubject:
    """One subject an expansion adds.

    Attributes:
        word: the word as written in the expansion (`child`, `bear`).
        kind: `person`, `animal` or `creature`.
        group: what it was compared by: `child`/`person`, the animal's kind (`bear`), or the creature.
        start, end: character span of the word in the expansion.
    """

    word: str
    kind: str
    group: str
    start: int
    end: int

    to_dict = asdict  # JSON-serialisable form


@functools.lru_cache(maxsize=65536)
def _singular(word: str) -> str:
    """Singular noun form via the package's lemma tables (plural nouns the tables miss: strip an 's')."""
    if word in PERSON or word in ANIMAL_KIND or word in CREATURES:
        return word
    irregular = {
        "men": "man",
        "women": "woman",
        "children": "child",
        "people": "person",
        "geese": "goose",
        "mice": "mouse",
        "teeth": "tooth",
        "feet": "foot",
        "oxen": "ox",
        "wolves": "wolf",
        "calves": "calf",
        "elves": "elf",
        "fishermen": "fisherman",
        "passersby": "passerby",
        "policemen": "policeman",
        "craftsmen": "craftsman",
        "firemen": "firefighter",
        "ladies": "lady",
        "puppies": "puppy",
        "bunnies": "bunny",
        "butterflies": "butterfly",
        "ponies": "pony",
        "babies": "baby",
        "fairies": "fairy",
        "ies": "y",
    }
    if word in irregular:
        return irregular[word]
    for suffix, repl in (
        ("ies", "y"),
        ("ves", "f"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("xes", "x"),
        ("sses", "ss"),
        ("s", ""),
    ):
        if word.endswith(suffix) and len(word) > len(suffix) + 1:
            base = word[: -len(suffix)] + repl
            if base in PERSON or base in ANIMAL_KIND or base in CREATURES:
                return base
    return word


@dataclass(frozen=True)
class _Mention:
    word: str
    lemma: str
    kind: str  # person | animal | creature
    group: str
    start: int
    end: int


def subject_mentions(text: str) -> list[_Mention]:
    """People, animals and creatures a text depicts (word by word, with the exclusions of the module doc)."""
    lowered = text.lower().replace("’", "'")
    masked = _FIXED_PHRASES.sub(lambda m: " " * len(m.group(0)), lowered)
    tokens = [(m.group(0), m.start(), m.end()) for m in _TOKEN.finditer(masked)]
    out: list[_Mention] = []
    for i, (tok, start, end) in enumerate(tokens):
        if "-" in tok:  # compounds: bird's-eye, man-made, fish-eye, dog-eared
            continue
        if tok.endswith("'s"):
            continue  # a possessive names an owner ("a child's bed"), not a figure in the picture
        word = tok
        lemma = _singular(word)
        if lemma in PERSON:
            kind, group = "person", "child" if lemma in CHILD else "person"
        elif lemma in ANIMAL_KIND:
            kind, group = "animal", ANIMAL_KIND[lemma]
        elif lemma in CREATURES:
            kind, group = "creature", lemma
        else:
            continue
        prev = [t for t, _, _ in tokens[max(0, i - 3) : i]]
        nxt = tokens[i + 1][0] if i + 1 < len(tokens) else ""
        before = prev[-1] if prev else ""
        if any(p in _NEGATORS for p in prev) or (before == "a" and len(prev) >= 2 and prev[-2] in ("not", "nor")):
            continue
        if nxt in _OBJECT_AFTER or before in _OBJECT_BEFORE:
            continue
        if lemma in _AMBIGUOUS and before not in _DETERMINERS:
            continue
        if (
            kind == "animal"
            and lemma in _FOOD_ANIMALS
            and (nxt in _FOOD_AFTER or before in _FOOD_BEFORE or (word == lemma and before not in _DETERMINERS))
        ):
            continue  # "chicken broth", "grilled salmon", "rice with chicken" (a mass noun is food)
        if lemma == "figure" and before in ("a", "the") and nxt == "of":
            continue  # "the figure of a dancer": the dancer is the subject
        out.append(_Mention(tok, lemma, kind, group, start, end))
    return out


_DETERMINERS = _words(
    "a an the one two three four five six seven eight nine ten several some many few "
    "a-few pair couple dozen its his her their our my your this that these those another "
    "every each lone single small large big little tiny giant young old baby wild"
)


def _prompt_context(prompt: str) -> tuple[bool, bool, set[str], bool, set[str]]:
    lowered = prompt.lower().replace("’", "'")
    words = set(re.findall(r"[a-z]+(?:-[a-z]+)*", lowered))
    mentions = subject_mentions(prompt)
    persons = {m.group for m in mentions if m.kind == "person"}
    has_person = (
        bool(persons)
        or bool(words & PERSON_PRONOUNS)
        or bool(words & PERSON_SCENES)
        or bool(words & HUMAN_ACTIVITIES and not any(m.kind == "animal" for m in mentions))
    )
    has_child = "child" in persons
    kinds = {m.group for m in mentions if m.kind in ("animal", "creature")}
    any_animal = bool(words & ANIMAL_GENERIC)
    for word in words:
        implied = ANIMAL_SCENES.get(word)
        if implied == "*":
            any_animal = True
        elif implied:
            kinds.update(implied.split())
    for m in mentions:  # the young of a named kind, and the kinds of named young
        if m.lemma in YOUNG:
            kinds.update(YOUNG[m.lemma].split())
    return has_person, has_child, kinds, any_animal, words


def added_subjects(prompt: str, expansion: str) -> list[AddedSubject]:
    """Subjects (people, animals, creatures) of `expansion` that `prompt` neither names nor implies.

    One entry per distinct group added (the first mention's span). Deterministic, no model.
    """
    has_person, has_child, kinds, any_animal, _ = _prompt_context(prompt)
    found: dict[str, AddedSubject] = {}
    for m in subject_mentions(expansion):
        if m.kind == "person":
            if has_person and (m.group != "child" or has_child):
                continue
        elif m.kind == "animal":
            young_of = YOUNG.get(m.lemma, "").split()
            if any_animal or m.group in kinds or any(k in kinds for k in young_of):
                continue
        elif m.group in kinds:
            continue
        found.setdefault(m.group, AddedSubject(m.word, m.kind, m.group, m.start, m.end))
    return list(found.values())
