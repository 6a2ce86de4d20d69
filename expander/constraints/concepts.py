"""Concepts: a word satisfies any other word of its concept ("puppy" keeps "dog"); words of two different
concepts never do ("dog" and "cat"), even when embeddings find them similar.

Used where a subject or a negated thing is looked for in an expansion (`expansion.py`: `ExpansionDoc.find`,
`negation_targets`); `tables.py` turns it into the word -> concepts lookup. Entries are written in the
checker's normal form, as in `lexicon.py`: one space-separated string of words per concept.
"""

from __future__ import annotations

CONCEPTS = {
    "dog": "dog dogs puppy puppies pup pups doggy canine hound retriever labrador lab poodle terrier "
    "corgi beagle husky spaniel dachshund shepherd bulldog pug collie chihuahua dalmatian greyhound "
    "mutt pooch shiba akita rottweiler doberman whippet schnauzer",
    "cat": "cat cats kitten kittens kitty feline tabby moggy tomcat siamese persian calico",
    "horse": "horse horses pony foal stallion mare colt steed equine",
    "chicken": "chicken chickens hen hens rooster roosters chick chicks cockerel poultry",
    "cow": "cow cows cattle calf bull ox heifer",
    "bird": "bird birds avian songbird fowl sparrow robin crow pigeon dove gull seagull finch owl eagle "
    "hawk parrot swallow blackbird bluebird hummingbird heron magpie wren starling kingfisher "
    "songbirds sparrows pigeons doves gulls seagulls finches owls eagles hawks parrots swallows",
    "insect": "insect insects bug bugs beetle beetles bee bees ant ants butterfly butterflies moth moths "
    "dragonfly dragonflies ladybug ladybugs grasshopper",
    "wire": "wire wires cable cables line lines",
    "building": "building buildings skyscraper skyscrapers tower towers house houses tenement "
    "apartment block warehouse office",
    "fruit": "fruit fruits apple apples pear pears orange oranges banana bananas grape grapes berry "
    "berries cherry cherries lemon lemons peach peaches plum plums",
    "shoe": "shoe shoes sneaker sneakers boot boots sandal sandals loafer loafers heels trainers",
    "instrument": "instrument instruments guitar guitars violin violins piano pianos drum drums "
    "trumpet trumpets saxophone cello flute",
    "person": "person people human humans figure figures individual man men woman women child children "
    "kid kids boy boys girl girls pedestrian pedestrians passerby passersby tourist tourists "
    "crowd crowds someone somebody worker workers visitor visitors stranger strangers onlooker "
    "onlookers shopper shoppers traveler travelers hiker hikers silhouette silhouettes "
    "family lady ladies gentleman gentlemen guy guys toddler baby teenager elder "
    "soul souls human figure resident residents inhabitant student students reader readers "
    "player players dancer dancers musician musicians customer customers diner diners guest "
    "guests passenger passengers soldier soldiers monk monks fisherman fishermen farmer farmers "
    "vendor vendors sunbather sunbathers swimmer swimmers surfer surfers commuter commuters "
    "spectator spectators audience performer performers athlete athletes rider riders "
    "cyclist cyclists runner runners walker walkers owner owners patron patrons staff "
    "waiter waiters waitress bride groom people's person's man's woman's mother father",
    "man": "man men gentleman gentlemen guy guys male fellow",
    "woman": "woman women lady ladies female",
    "child": "child children kid kids boy boys girl girls toddler youngster",
    "car": "car cars automobile automobiles sedan coupe vehicle vehicles hatchback auto convertible taxi taxis "
    "cab cabs suv jeep limousine minivan",
    "vehicle": "vehicle vehicles car cars truck trucks bus buses van vans taxi taxis traffic motorcycle automobile suv",
    "bicycle": "bicycle bicycles bike bikes cycle",
    "boat": "boat boats rowboat dinghy canoe skiff vessel sailboat",
    "ship": "ship ships vessel liner freighter galleon",
    "sofa": "sofa couch settee loveseat",
    "cup": "cup mug teacup",
    "mug": "mug cup",
    "fridge": "fridge refrigerator",
    "tv": "tv television",
    "forest": "forest woods woodland",
    "ocean": "ocean sea",
    "text": "text texts word words lettering letter letters writing caption captions typography font "
    "inscription signage label labels slogan",
    "logo": "logo logos branding brand brands trademark emblem",
    "tree": "tree trees pine pines oak oaks birch maple willow palm palms cypress cedar spruce fir elm "
    "sequoia redwood baobab",
    "cloud": "cloud clouds cloudy overcast",
    "window": "window windows windowpane",
    "book": "book books novel novels paperback hardcover tome",
    "house": "house houses home cottage cabin",
    "hat": "hat hats cap beanie fedora",
    "animal": "animal animals creature creatures wildlife dog cat bird horse cow",
    "robot": "robot robots android droid automaton",
    "mountain": "mountain mountains peak peaks summit",
    "road": "road roads street streets highway",
    "rabbit": "rabbit rabbits bunny bunnies hare",
    "photo": "photo photograph",
    "kid": "kid kids child children",
    "flower": "flower flowers wildflower wildflowers blossom blossoms bloom blooms daisy daisies poppy "
    "poppies rose roses tulip tulips lily lilies sunflower sunflowers orchid orchids peony "
    "peonies dahlia dahlias marigold marigolds",
    "fish": "fish goldfish koi carp trout salmon",
    "city": "city cities metropolis cityscape megacity downtown skyline",
    "market": "market markets marketplace bazaar souk bazar",
    "bridge": "bridge bridges viaduct viaducts footbridge overpass aqueduct",
}
