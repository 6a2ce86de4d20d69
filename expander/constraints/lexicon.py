"""Hand-written word lists of the constraint checker: what no library knows about image prompts.

Every entry is written in the checker's normal form: lower case, hyphens and slashes as spaces, British
spellings folded by `SPELLING` (colour -> color). Multi-word entries are phrases matched token by token.

Groups are *families*: any member satisfies a constraint on any other member ("overhead shot" and
"top-down view" are the same viewpoint). `*_OPPOSITES` name what counts as a change rather than a drop,
so a report can say "viewpoint 'close-up' became 'wide shot'".
"""

from __future__ import annotations

SPELLING = {
    "colour": "color",
    "colours": "colors",
    "coloured": "colored",
    "watercolour": "watercolor",
    "watercolours": "watercolors",
    "grey": "gray",
    "greys": "grays",
    "greyish": "grayish",
    "centre": "center",
    "theatre": "theater",
    "analogue": "analog",
    "closeup": "close up",
    "topdown": "top down",
    "greyscale": "grayscale",
    "aeroplane": "airplane",
    "jewellery": "jewelry",
    "moustache": "mustache",
    "neighbourhood": "neighborhood",
    "harbour": "harbor",
}

# --- closed-class words: they end noun phrases and are never subjects ------------------------------
DETERMINERS = frozenset(
    "a an the this that these those his her its their my our your some every each another any no".split()
)
PREPOSITIONS = frozenset(
    "in on at of with by from to under over above below behind beside besides near inside into onto "
    "through across along around between among amongst against beneath underneath next top front left "
    "right atop within without toward towards past during for like as upon via amid amidst beyond "
    "outside throughout after before off up down out about while".split()
)
CONJUNCTIONS = frozenset("and or but nor that which who whose where when whom so yet".split())
AUXILIARIES = frozenset(
    "is are was were be being been has have had do does did can could will would should may might must "
    "it they he she we i you them him us there here then than very too also just only all both".split()
)
# Words that describe the picture rather than its content: never a subject.
META_NOUNS = frozenset(
    "image picture photo photograph photography shot view scene style render rendering illustration "
    "painting drawing sketch art artwork design composition frame background foreground detail details "
    "quality resolution lighting light angle perspective version depiction portrait close up closeup "
    "look mood vibe aesthetic atmosphere feel tone color colors side middle center corner bottom top "
    "kind sort type lot bit piece pair couple dozen trio group number day days time moment".split()
)
# Opinion words: dropping them is a loss of flavour, not of content (soft attributes).
SUBJECTIVE_ADJECTIVES = frozenset(
    "beautiful cute lovely pretty stunning gorgeous amazing majestic epic cozy cosy dramatic serene "
    "peaceful elegant magical whimsical detailed realistic highly ultra hyper cinematic moody vibrant "
    "colorful nice cool awesome perfect charming adorable breathtaking striking fantastic wonderful "
    "dreamy surreal mysterious atmospheric intricate simple minimalist sharp high hd best good great "
    "professional artistic aesthetic iconic stylish fancy gentle calm quiet warm cold soft".split()
)
ING_NOUNS = frozenset(
    "building ceiling painting clothing wedding morning evening bedding railing awning carving drawing "
    "frosting icing lightning pudding dumpling earring stocking sibling seedling duckling gosling "
    "sapling ring king wing string swing spring thing sling offering crossing landing ceiling housing "
    "clearing opening dwelling stuffing topping filling sculpting bunting herring whiting lettering".split()
)
# "-less" words that negate a concrete thing ("a windowless room" has no windows). An explicit list: most
# "-less" words are not negations of their stem ("stainless", "seamless", "endless", "spotless").
NEGATING_LESS = frozenset(
    "windowless cloudless treeless leafless faceless headless sleeveless strapless backless shoeless "
    "shirtless hairless roofless doorless wingless peopleless signless handless legless armless eyeless "
    "toothless beardless moonless starless sunless snowless grassless branchless petalless tailless "
    "mouthless earless noseless furless featherless shadowless labelless logoless textless wordless "
    "furnitureless carless boatless birdless flowerless plantless brimless collarless buttonless "
    "frameless handleless lidless keyless wheelless".split()
)

# --- numbers -------------------------------------------------------------------------------------
COUNT_PHRASES = {
    "a single": 1,
    "single": 1,
    "a lone": 1,
    "lone": 1,
    "a solitary": 1,
    "solitary": 1,
    "only one": 1,
    "just one": 1,
    "one single": 1,
    "a pair of": 2,
    "pair of": 2,
    "a couple of": 2,
    "twin": 2,
    "twins": 2,
    "both": 2,
    "a trio of": 3,
    "trio of": 3,
    "a quartet of": 4,
    "a dozen": 12,
    "dozen": 12,
    "half a dozen": 6,
    "a half dozen": 6,
}
VAGUE_QUANTITIES = frozenset(
    "several many few some numerous multiple various countless dozens hundreds thousands handful "
    "group crowd bunch pile cluster flock herd pack swarm".split()
)

# --- colors: family -> members. Unambiguous names may bind in a prompt; all members count in an expansion.
COLOR_FAMILIES = {
    "red": "red ginger auburn crimson scarlet ruby vermilion vermillion cherry burgundy maroon wine cardinal blood "
    "carmine reddish oxblood cerise",
    "blue": "blue navy cobalt azure sapphire cerulean indigo ultramarine sky teal turquoise cyan aqua "
    "bluish cornflower denim periwinkle royal",
    "green": "green emerald jade olive lime sage mint chartreuse teal turquoise greenish viridian moss forest bottle",
    "yellow": "yellow blond blonde golden gold lemon mustard canary amber saffron honey butter yellowish ochre "
    "sunflower",
    "orange": "orange ginger tangerine amber rust copper apricot peach coral burnt orangey pumpkin terracotta",
    "purple": "purple violet lavender lilac plum mauve magenta amethyst indigo purplish aubergine eggplant orchid",
    "pink": "pink rose blush salmon fuchsia magenta coral rosy pinkish bubblegum cerise",
    "brown": "brown brunette chocolate tan chestnut bronze beige caramel coffee mahogany sepia walnut umber "
    "khaki taupe brownish cinnamon russet sienna copper tawny",
    "black": "black jet ebony onyx inky pitch raven coal charcoal sable blackened",
    "white": "white ivory cream pearl snowy alabaster milky eggshell bone whitish snow pearly",
    "gray": "gray silver slate ash charcoal gunmetal pewter silvery grayish steel graphite smoky",
}
# Names that are also common nouns ("a bowl of oranges", "a rose") only bind before another noun.
AMBIGUOUS_COLOR_WORDS = frozenset(
    "orange rose cherry wine lemon honey chocolate coffee coal bone ash olive lime mint sage peach "
    "coral salmon plum sky forest steel copper bronze rust amber cream pearl snow snowy ivory tan jet "
    "raven pitch burnt royal butter blood brick moss bottle denim pumpkin sunflower orchid eggplant "
    "aubergine cardinal smoky graphite sable cinnamon walnut gold silver fuchsia lavender violet lilac "
    "magenta indigo".split()
)
COLOR_QUALIFIERS = frozenset(
    "light dark pale deep bright pastel vivid dusty muted rich soft neon hot baby powder electric".split()
)

# --- styles: family -> (phrases that name it in a prompt, extra evidence accepted in an expansion) ---
STYLE_FAMILIES = {
    "watercolor": ("watercolor|watercolors|watercolor painting|aquarelle", "wash|washes"),
    "oil painting": ("oil painting|oil on canvas|oils|impasto|oil paint", "brushstrokes|canvas"),
    "acrylic": ("acrylic|acrylic painting|acrylics", ""),
    "gouache": ("gouache", ""),
    "pastel drawing": ("pastel drawing|soft pastel|chalk pastel|oil pastel|pastels", "pastel"),
    "pixel art": ("pixel art|pixelated|8 bit|16 bit|pixel|sprite", "pixels"),
    "charcoal": ("charcoal drawing|charcoal sketch|charcoal", ""),
    "pencil": ("pencil sketch|pencil drawing|graphite|pencil", "graphite"),
    "ink": ("ink drawing|pen and ink|ink wash|ink illustration|sumi e|ink", ""),
    "black and white photo": (
        "black and white photo|black and white photograph|black and white photography|"
        "black and white film|black and white|monochrome|monochrome photo|b w|"
        "grayscale|monochromatic",
        "black and white|monochrome|monochromatic|grayscale|silver gelatin|noir",
    ),
    "photo": (
        "photo|photograph|photography|photographic|photorealistic|photoreal|dslr|snapshot|"
        "documentary photo|street photography|portrait photo|35mm photo",
        "camera|lens|shot on|aperture|f 1|f 2|f 4|mm|exposure|bokeh|depth of field",
    ),
    "film photo": (
        "film photo|analog photo|film photograph|on film|analog|35mm film|kodachrome|polaroid|film still|film",
        "film grain|grain|kodak|portra|ektachrome|analog|35mm",
    ),
    "anime": ("anime|manga|anime style|cel shaded|studio ghibli|ghibli", "cel shading|cel shaded"),
    "isometric": ("isometric", ""),
    "3d render": (
        "3d render|3d|cgi|render|rendered|octane render|blender|unreal engine|3d model|3d rendering|ray traced",
        "rendering|raytraced|ray tracing|subsurface",
    ),
    "cartoon": ("cartoon|cartoonish|cartoon style", "animated"),
    "comic": ("comic book|comic|graphic novel|comic style", "halftone|panel|inked"),
    "vector": ("vector|vector art|flat illustration|flat design|vector illustration", "flat"),
    "low poly": ("low poly|lowpoly|polygonal", "polygons|faceted"),
    "claymation": ("claymation|clay|plasticine|stop motion", "sculpted"),
    "stained glass": ("stained glass", "leaded"),
    "woodblock": ("ukiyo e|woodblock|woodblock print|woodcut", "woodblock|woodcut"),
    "linocut": ("linocut|lino print|linoleum", "block print"),
    "art deco": ("art deco", "deco"),
    "art nouveau": ("art nouveau", "nouveau"),
    "impressionist": ("impressionist|impressionism|impressionistic", "monet"),
    "cubist": ("cubist|cubism", "picasso"),
    "pop art": ("pop art", "warhol|lichtenstein|ben day"),
    "vaporwave": ("vaporwave|synthwave|retrowave", "vaporwave|synthwave|retrowave"),
    "cyberpunk": ("cyberpunk", ""),
    "steampunk": ("steampunk", ""),
    "origami": ("origami|papercraft|paper craft|paper cut|papercut", "folded paper|paper"),
    "embroidery": ("embroidery|embroidered|cross stitch", "stitch|stitches|thread"),
    "mosaic": ("mosaic", "tesserae|tiles"),
    "graffiti": ("graffiti|street art", "spray paint|mural"),
    "chalk": ("chalk drawing|chalk art|chalkboard|chalk", ""),
    "crayon": ("crayon|crayons|crayon drawing", "waxy"),
    "line art": ("line art|line drawing", "linework|outlines"),
    "sketch": ("sketch|sketched", "pencil|charcoal|drawing|drawn|graphite"),
    "painting": (
        "painting|painted",
        "paint|brushstrokes|brushwork|canvas|oil|oils|watercolor|acrylic|gouache|tempera|fresco",
    ),
    "drawing": (
        "drawing|drawn",
        "sketch|sketched|pencil|ink|charcoal|graphite|line art|illustration|illustrated|anime|manga|cartoon|comic",
    ),
    "illustration": (
        "illustration|illustrated|storybook illustration|children's book illustration",
        "drawing|drawn|painting|painted|vector|cartoon|storybook|picture book",
    ),
    "sculpture": ("sculpture|statue|sculpted", "carved|marble|bronze"),
}
# Mediums that exclude each other: finding one of these where another was asked is a replacement.
MEDIUM_GROUPS = {
    "photo": "photo|film photo|black and white photo",
    "painting": "watercolor|oil painting|acrylic|gouache|painting|impressionist|cubist",
    "drawing": "charcoal|pencil|ink|pastel drawing|sketch|drawing|line art|chalk|crayon",
    "render": "3d render|low poly|isometric",
    "pixel": "pixel art",
    "animation": "anime|cartoon|comic|claymation",
}

# --- viewpoints: family -> phrases (an expansion may use any phrase of the family) ------------------
VIEWPOINT_FAMILIES = {
    "close-up": "close up|extreme close up|macro|macro shot|tight shot|tight crop|detail shot|up close|"
    "close shot|closely cropped|close range",
    "top-down": "top down|overhead|overhead shot|overhead view|from above|directly above|flat lay|"
    "birds eye|bird's eye|bird's eye view|straight down|looking down|top view|plan view",
    "bird's-eye": "bird's eye|birds eye|aerial|aerial view|aerial shot|from above|overhead|top down|"
    "drone|drone shot|high above|from high above|looking down",
    "low-angle": "low angle|worm's eye|worms eye|from below|looking up|ground level|from the ground",
    "high-angle": "high angle|from above|looking down|elevated|overhead",
    "wide shot": "wide shot|wide angle|establishing shot|panoramic|panorama|long shot|wide view|"
    "ultra wide|wide lens|sweeping view|wide frame|full view|wide",
    "eye-level": "eye level|straight on|head on",
    "side view": "side view|in profile|from the side|profile view|profile|side on|side profile",
    "front view": "front view|from the front|head on|facing the camera|frontal|straight on",
    "rear view": "rear view|from behind|back view|seen from behind|from the back",
    "first-person": "first person|pov|point of view",
    "dutch angle": "dutch angle|tilted angle|canted",
    "medium shot": "medium shot|mid shot|waist up|half body|medium close up|medium",
    "full-body": "full body|full length|head to toe|full figure",
    "portrait": "portrait|headshot|head and shoulders",
}
VIEWPOINT_OPPOSITES = {
    "close-up": "wide shot|bird's-eye|full-body",
    "wide shot": "close-up",
    "top-down": "low-angle|eye-level",
    "bird's-eye": "low-angle|eye-level",
    "low-angle": "top-down|bird's-eye|high-angle",
    "high-angle": "low-angle",
    "eye-level": "top-down|low-angle|bird's-eye",
    "side view": "front view|rear view",
    "front view": "rear view|side view",
    "rear view": "front view",
    "full-body": "close-up",
    "medium shot": "",
    "first-person": "",
    "dutch angle": "",
    "portrait": "",
}
# Phrases that name a viewpoint in a prompt (a subset: a bare "wide" or "medium" is not a viewpoint there).
VIEWPOINT_PROMPT_EXCLUDE = frozenset(
    {
        "wide",
        "medium",
        "profile",
        "portrait",
        "elevated",
        "looking up",
        "looking down",
        "overhead",
        "from above",
        "from below",
    }
)

# --- spatial relations: family -> phrases; inverse: A r B == B inverse(r) A -------------------------
SPATIAL_FAMILIES = {
    "on": "on|upon|atop|on top of|onto|across|over|draped over|perched on|resting on|sitting on|lying on",
    "on top of": "on top of|atop|on|upon|perched on|resting on|sitting on|standing on|balanced on|on the top of",
    "under": "under|beneath|underneath|below",
    "above": "above|over|hovering over|hanging over|high above|overhead",
    "behind": "behind|in back of|at the back of|in the background behind",
    "in front of": "in front of|before|ahead of|in the foreground of",
    "inside": "inside|inside of|in|within|enclosed in|trapped in|filled with|inside the",
    "outside": "outside|outside of|out of",
    "next to": "next to|beside|alongside|by|near|adjacent to|side by side with|close to|flanked by|nearby",
    "left of": "left of|to the left of|on the left of|on the left|at the left|left side|left hand side|left",
    "right of": "right of|to the right of|on the right of|on the right|at the right|right side|right hand side|right",
    "between": "between|in between|flanked by",
}
SPATIAL_PROMPT_PHRASES = {
    "on": "on|sitting on|standing on|lying on|resting on|placed on",
    "on top of": "on top of|atop|perched on top of|on the top of",
    "under": "under|beneath|underneath|below",
    "above": "above|hovering above|hovering over|floating above",
    "behind": "behind|in back of",
    "in front of": "in front of",
    "inside": "inside|inside of|within",
    "outside": "outside|outside of",
    "next to": "next to|beside|alongside",
    "left of": "left of|to the left of|on the left of|on the left|on the left side of|left side of",
    "right of": "right of|to the right of|on the right of|on the right|on the right side of|right side of",
    "between": "between",
}
SPATIAL_INVERSE = {
    "on": "under",
    "on top of": "under",
    "under": "on|on top of|above",
    "above": "under",
    "behind": "in front of",
    "in front of": "behind",
    "left of": "right of",
    "right of": "left of",
    "next to": "next to",
    "inside": "",
    "outside": "",
    "between": "",
}
SPATIAL_OPPOSITES = {
    "on": "under|next to",
    "on top of": "under",
    "under": "on top of|above",
    "above": "under",
    "behind": "in front of",
    "in front of": "behind",
    "inside": "outside",
    "outside": "inside",
    "left of": "right of",
    "right of": "left of",
    "next to": "",
    "between": "",
}

# --- attributes: group -> (members, opposites). Members paraphrase each other. ---------------------
ATTRIBUTE_GROUPS = {
    "night": (
        "at night|night|nighttime|night time|midnight|after dark|nocturnal|moonlit|moonlight|"
        "by night|night sky|starlit|late night",
        "daytime|midday|noon|daylight|broad daylight|afternoon|morning sun|bright sun|sunny|blue sky|clear blue sky",
    ),
    "daytime": (
        "daytime|during the day|midday|noon|daylight|broad daylight|sunny day|afternoon|by day",
        "night|nighttime|midnight|moonlit|after dark",
    ),
    "sunset": (
        "sunset|sundown|setting sun|dusk|golden hour|evening glow|twilight",
        "sunrise|midday|noon|night|midnight",
    ),
    "sunrise": (
        "sunrise|dawn|daybreak|first light|early morning|sunup|rising sun",
        "sunset|dusk|midday|night|midnight",
    ),
    "dusk": ("dusk|twilight|nightfall|gloaming|sunset|blue hour", "dawn|midday|noon"),
    "dawn": ("dawn|daybreak|sunrise|first light|early morning", "dusk|sunset|midday|noon|midnight"),
    "golden hour": (
        "golden hour|late afternoon sun|low sun|warm evening light|sunset|magic hour",
        "midday|noon|night|overcast",
    ),
    "morning": ("morning|dawn|sunrise|early light|breakfast time", "evening|night|dusk|sunset"),
    "evening": ("evening|dusk|sunset|twilight|nightfall", "morning|dawn|sunrise|noon"),
    "snowy": (
        "snowy|snow|snowfall|snowing|snow covered|snowflakes|blizzard|snowbound|snowdrifts",
        "sunny|summer|scorching|tropical",
    ),
    "rainy": (
        "rainy|rain|raining|rainfall|drizzle|downpour|raindrops|rain soaked|showers|wet",
        "dry|sunny|clear sky|cloudless",
    ),
    "foggy": ("foggy|fog|mist|misty|haze|hazy|fogbound|mists", "clear|crisp clear"),
    "stormy": ("stormy|storm|thunderstorm|lightning|thunder|tempest|gale", "calm|clear sky|sunny"),
    "sunny": ("sunny|sunshine|sunlit|bright sun|sun drenched|sunlight|sun", "overcast|rainy|cloudy|night"),
    "cloudy": ("cloudy|overcast|clouds|gray sky|clouded", "cloudless|clear blue sky|sunny"),
    "windy": ("windy|wind|gust|gusts|breeze|windswept|blowing", "still|windless"),
    "winter": ("winter|wintry|wintertime|snowy|snow", "summer"),
    "summer": ("summer|summertime|midsummer", "winter"),
    "autumn": ("autumn|fall|autumnal|fallen leaves", "spring|winter|summer"),
    "spring": ("spring|springtime|blossom|blossoms", "autumn|winter"),
    "full moon": ("full moon", "crescent|new moon|half moon"),
    "crescent moon": ("crescent moon|crescent", "full moon"),
    "starry": ("starry|stars|starlit|star filled|starry sky", ""),
    "underwater": ("underwater|under water|submerged|beneath the surface|undersea", ""),
    "wooden": (
        "wooden|wood|timber|oak|pine|walnut|teak|mahogany|birch|cedar|maple|plank|planks",
        "metal|metallic|steel|plastic|glass|stone",
    ),
    "metal": ("metal|metallic|steel|iron|chrome|aluminum|tin|brass|copper", "wooden|wood|plastic"),
    "glass": ("glass|glassy|crystal", ""),
    "stone": ("stone|stones|rock|granite|cobblestone|masonry|marble|slate", "wooden|wood"),
    "brick": ("brick|bricks|brickwork", ""),
    "ceramic": ("ceramic|porcelain|earthenware|stoneware|terracotta|glazed|clay", "plastic|metal"),
    "leather": ("leather", ""),
    "knitted": ("knitted|knit|wool|woolen|woollen|crocheted", ""),
    "old": (
        "old|aged|ancient|antique|vintage|classic|retro|bygone|historic|weathered|worn|elderly|timeworn|"
        "decrepit|old fashioned|"
        "age|centuries old|decades old|rustic|crumbling",
        "new|brand new|modern|pristine|young",
    ),
    "vintage": (
        "vintage|retro|classic|antique|old|old fashioned|bygone|period|1950s|1960s|1970s|1940s|1930s|1920s|1980s",
        "modern|brand new|futuristic|contemporary",
    ),
    "new": ("new|brand new|pristine|shiny new|fresh|mint", "old|worn|ancient|weathered|rusty"),
    "ancient": ("ancient|old|centuries old|ancestral|antique|timeworn|prehistoric", "modern|new|futuristic"),
    "modern": ("modern|contemporary|sleek|minimalist|new", "ancient|old|medieval|victorian|antique"),
    "futuristic": ("futuristic|sci fi|science fiction|high tech|cyberpunk|space age", "medieval|ancient|victorian"),
    "medieval": ("medieval|middle ages|gothic", "modern|futuristic"),
    "victorian": ("victorian|19th century", "modern|futuristic"),
    "abandoned": (
        "abandoned|derelict|dilapidated|deserted|disused|forsaken|neglected|ruined|empty",
        "busy|bustling|crowded",
    ),
    "empty": (
        "empty|deserted|vacant|bare|desolate|abandoned|unoccupied|void|nobody|no one|lonely",
        "crowded|busy|packed|bustling|full",
    ),
    "deserted": (
        "deserted|empty|abandoned|desolate|no people|nobody|no one|vacant|unpopulated",
        "crowded|busy|packed|bustling|throng|crowd|crowds",
    ),
    "crowded": ("crowded|busy|bustling|packed|crowd|crowds|throng|teeming|thronged", "empty|deserted|vacant|desolate"),
    "broken": ("broken|shattered|cracked|smashed|damaged|fractured", "intact|pristine"),
    "rusty": ("rusty|rusted|rust|corroded|oxidized", "pristine|shiny new"),
    "frozen": ("frozen|icy|ice|frost|frosted|frosty|iced", "melting|thawed"),
    "burning": ("burning|on fire|ablaze|flames|fire|blazing|aflame", "extinguished"),
    "glowing": ("glowing|glow|luminous|lit|illuminated|radiant|shining|light", "unlit|dark"),
    "overgrown": ("overgrown|covered in vines|ivy|vines|moss covered|wild", "manicured|tidy"),
    "tiny": ("tiny|small|little|miniature|minuscule|mini|petite", "huge|giant|enormous|massive|gigantic"),
    "small": ("small|little|tiny|miniature|compact|petite", "huge|giant|enormous|massive"),
    "huge": (
        "huge|giant|enormous|massive|gigantic|colossal|towering|immense|vast|large|big",
        "tiny|small|miniature|little",
    ),
    "giant": ("giant|huge|enormous|massive|gigantic|colossal|towering|immense|oversized", "tiny|small|miniature"),
    "tall": ("tall|towering|high|lofty", "short|squat"),
    "fluffy": ("fluffy|fluff|fuzzy|furry|downy|soft fur|plush|thick fur", "hairless|bald|sleek"),
    "striped": ("striped|stripes|stripe|pinstriped", "polka dot|spotted|plain"),
    "spotted": ("spotted|spots|dotted|polka dot|speckled|dappled", "striped|plain"),
    "sleeping": ("sleeping|asleep|dozing|napping|slumbering|curled up|resting|snoozing", "awake|alert|running"),
    "smiling": ("smiling|smile|grinning|grin|beaming|laughing", "frowning|crying|scowling|sad"),
    "crying": ("crying|tears|weeping|sobbing|tearful", "smiling|laughing|grinning"),
    "running": ("running|sprinting|racing|dashing|galloping|mid stride|bounding", "sitting|sleeping|standing still"),
    "flying": ("flying|in flight|soaring|airborne|mid flight|hovering|gliding|wings spread", "perched|sitting|landed"),
    "steaming": ("steaming|steam|steamy|wisps of steam|hot", "iced|cold"),
    "lit": ("lit|burning|flickering|glowing|flame|flames", "unlit|extinguished"),
    "open": ("open|opened|ajar|wide open", "closed|shut"),
    "closed": ("closed|shut|sealed", "open|ajar"),
    "neon": ("neon|neon lit|neon lights|fluorescent", ""),
    "messy": ("messy|cluttered|untidy|disheveled|chaotic|strewn", "tidy|neat|spotless"),
    "tidy": ("tidy|neat|orderly|spotless|clean|organized", "messy|cluttered"),
    "young": ("young|youthful|teenage|little|small", "old|elderly|aged"),
    "elderly": ("elderly|old|aged|senior|wrinkled|gray haired|white haired", "young|youthful|teenage"),
    "wet": ("wet|damp|soaked|drenched|dripping|rain slicked|glistening", "dry"),
    "dry": ("dry|arid|parched|dusty|cracked", "wet|lush|damp"),
    "lush": ("lush|verdant|green|overgrown|dense", "barren|arid|dry"),
    "barren": ("barren|bare|arid|desolate|lifeless", "lush|verdant"),
}
