"""The caption model: keywords from the description, style templates filled
with them, topic hashtags from a small lexicon. Pure Python, no dependencies."""

import re

STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have
having he her here hers herself him himself his how i if in into is it its itself just me more most
my myself no nor not now of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through to
too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves photo picture image pic shot post today really got get getting lot lots
""".split())

# Words of the description that point at a topic, and that topic's tags.
TOPICS = {
    "travel": (("beach", "sea", "ocean", "island", "trip", "travel", "journey", "city", "mountain",
                "mountains", "hike", "hiking", "sunset", "sunrise", "road", "flight", "vacation", "holiday"),
               ("travel", "wanderlust", "travelgram", "explore", "adventure")),
    "food": (("coffee", "breakfast", "lunch", "dinner", "pizza", "cake", "bread", "cooking", "recipe",
              "food", "brunch", "tea", "chocolate", "pasta", "restaurant", "baking", "dessert"),
             ("foodie", "foodporn", "yummy", "instafood", "homemade")),
    "fitness": (("run", "running", "gym", "workout", "yoga", "bike", "cycling", "marathon", "training",
                 "swim", "fitness", "race"),
                ("fitness", "workout", "fitfam", "training", "healthylifestyle")),
    "nature": (("forest", "tree", "trees", "flower", "flowers", "garden", "lake", "river", "rain", "snow",
                "autumn", "spring", "summer", "winter", "sky", "clouds", "nature", "park"),
               ("nature", "naturelovers", "outdoors", "landscape", "earthpix")),
    "dogs": (("dog", "dogs", "puppy", "puppies"), ("dogsofinstagram", "doglife", "puppylove", "petsofinstagram")),
    "cats": (("cat", "cats", "kitten", "kittens"), ("catsofinstagram", "catlife", "meow", "petsofinstagram")),
    "work": (("office", "team", "meeting", "launch", "product", "startup", "conference", "project",
              "client", "customers", "release", "business"),
             ("business", "teamwork", "startup", "leadership", "innovation")),
    "friends": (("friends", "party", "birthday", "wedding", "family", "celebration", "festival", "concert"),
                ("friends", "goodtimes", "celebration", "memories", "family")),
}

TEMPLATES = {
    "inspirational": (
        "Every {k1} is a chance to begin again.",
        "Let the {k1} remind you how far you have come.",
        "Chase the {k1}, trust the {k2}.",
        "Small steps, big {k1}.",
        "Find your strength in the {k1} and your calm in the {k2}.",
        "The best {k1} is still ahead of you.",
    ),
    "funny": (
        "Me: just a quick look at the {k1}. Also me, three hours later: still here.",
        "{K1} first, responsibilities later.",
        "I came for the {k1}, I stayed for the {k2}.",
        "Warning: dangerous levels of {k1} ahead.",
        "My {k2} has nothing on this {k1}.",
        "Plot twist: the {k1} was the main character all along.",
    ),
    "professional": (
        "A closer look at our {k1}: quality in every detail.",
        "Proud to share our latest {k1} and {k2}.",
        "Delivering excellence, one {k1} at a time.",
        "{K1} and {k2}: what drives our work every day.",
        "Behind the scenes of our {k1}.",
        "Committed to {k1} that makes a difference.",
    ),
    "casual": (
        "Just me, the {k1} and good vibes.",
        "{K1} kind of day.",
        "Can't get enough of this {k1} and {k2}.",
        "Weekend plans: {k1}. That's the whole plan.",
        "Good times, {k1} and {k2}.",
        "Currently: {k1}.",
    ),
}

STYLE_TAGS = {
    "inspirational": ("inspiration", "motivation", "mindset", "goals", "dreambig"),
    "funny": ("funny", "lol", "humor", "justforfun", "goodvibesonly"),
    "professional": ("business", "quality", "professional", "growth", "excellence"),
    "casual": ("vibes", "weekend", "everyday", "chill", "lifestyle"),
}

GENERAL_TAGS = (
    "photooftheday", "instagood", "picoftheday", "love", "beautiful", "happy", "life", "instadaily",
    "moments", "explore", "daily", "style", "nofilter", "mood", "memories", "smile", "world",
    "community", "inspo", "story", "details", "capture", "amazing", "simplethings", "goodday",
    "today", "share", "follow", "weekendvibes", "everydaymoments",
)

WORD = re.compile(r"[a-z][a-z0-9']*")


def keywords(description):
    """Content words ranked by weight: frequency, earlier words first, longer words a little higher."""
    words = [w.strip("'") for w in WORD.findall(description.lower())]
    words = [w for w in words if len(w) > 2 and w not in STOPWORDS]
    weight = {}
    for i, w in enumerate(words):
        weight[w] = weight.get(w, 0.0) + 1.0 / (1.0 + 0.15 * i) + 0.02 * min(len(w), 10)
    return sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))


def captions(style, ranked, limit):
    """Every template of the style filled with keyword pairs, best first, at most `limit`."""
    words = [w for w, _ in ranked] or ["moment"]
    top = max(ranked[0][1], 1e-6) if ranked else 1.0
    weights = {w: s / top for w, s in ranked}
    pairs = [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2)]
    seen, best_of_template, rest = set(), [], []
    for rank, template in enumerate(TEMPLATES[style]):
        filled = []
        for a, b in pairs:
            k1, k2 = words[a % len(words)], words[b % len(words)]
            if "{k2}" in template and k1 == k2:
                continue
            text = template.replace("{K1}", k1[:1].upper() + k1[1:]).replace("{k1}", k1).replace("{k2}", k2)
            if text in seen:
                continue
            seen.add(text)
            used = weights.get(k1, 0.3) + (weights.get(k2, 0.3) if "{k2}" in template else 0.5)
            score = round(0.7 * used / 2.0 + 0.3 * (1.0 - rank / len(TEMPLATES[style])), 4)
            filled.append((score, text))
        filled.sort(key=lambda st: (-st[0], st[1]))
        if filled:
            best_of_template.append(filled[0])
            rest.extend(filled[1:])
    # Variety first: the best of every template, then the runners-up.
    best_of_template.sort(key=lambda st: (-st[0], st[1]))
    rest.sort(key=lambda st: (-st[0], st[1]))
    return (best_of_template + rest)[:limit]


def hashtags(style, ranked, count):
    """Exactly `count` tags: the description's own words, its topics' tags, the style's, then general ones."""
    words = [w for w, _ in ranked]
    tags = [w.replace("'", "") for w in words[:4]]
    for _, (cues, topic_tags) in sorted(TOPICS.items()):
        if any(w in cues for w in words):
            tags.extend(topic_tags)
    tags.extend(STYLE_TAGS[style])
    tags.extend(GENERAL_TAGS)
    out = []
    for t in tags:
        if len(out) == count:
            break
        if t and t not in out:
            out.append(t)
    return ["#" + t for t in out]
