"""{{name}}: a Hostel caption model written in Python (componentize-py), world
hostel:plugin/caption-model@0.1.0. A small keyword model: the description's
content words, ranked, fill one template set per style; the hashtags are
`[config] hashtag` of hostel.toml, the keywords, then the style's tags.
Replace `keywords`, `captions` and `hashtags` with a real model.

The interface's class (`Captioner`) lives here; the caption-stream resource's
class must sit in the module named after the interface (captioner.py).
"""

import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.captioner import Caption, CaptionRequest, CaptionResult, Style
from wit_world.imports import config, log
from wit_world.imports.types import ErrorCode, Metadata, PluginError

from captioner import CaptionStream

STOPWORDS = frozenset(
    "a about after all an and are as at be by for from has have her his in into is it its my of on or "
    "our out over she so that the their them they this to up very was we with you your".split()
)

TEMPLATES = {
    Style.INSPIRATIONAL: ("Every {k1} is a new beginning.", "Chase the {k1}, find the {k2}.",
                          "Let the {k1} remind you how far you have come."),
    Style.FUNNY: ("{K1} first, responsibilities later.", "I came for the {k1}, I stayed for the {k2}.",
                  "Warning: dangerous levels of {k1} ahead."),
    Style.PROFESSIONAL: ("A closer look at our {k1}.", "Proud to share our latest {k1} and {k2}.",
                         "Delivering excellence, one {k1} at a time."),
    Style.CASUAL: ("Just me, the {k1} and good vibes.", "{K1} kind of day.",
                   "Can't get enough of this {k1} and {k2}."),
}

STYLE_TAGS = {
    Style.INSPIRATIONAL: ("inspiration", "motivation", "dreambig"),
    Style.FUNNY: ("funny", "lol", "humor"),
    Style.PROFESSIONAL: ("business", "quality", "growth"),
    Style.CASUAL: ("vibes", "weekend", "chill"),
}

GENERAL_TAGS = ("photooftheday", "instagood", "picoftheday", "love", "happy", "life", "moments", "explore")

WORD = re.compile(r"\w+")


def invalid(message):
    return Err(PluginError(ErrorCode.INVALID_INPUT, message))


def keywords(description):
    """The description's content words, best first: frequent and early words weigh more."""
    weight = {}
    words = [w for w in WORD.findall(description.lower()) if len(w) > 2 and w not in STOPWORDS]
    for i, w in enumerate(words):
        weight[w] = weight.get(w, 0.0) + 1.0 / (1.0 + 0.1 * i)
    return [w for w, _ in sorted(weight.items(), key=lambda kv: (-kv[1], kv[0]))]


def captions(style, words, limit):
    k1 = words[0]
    k2 = words[1] if len(words) > 1 else k1
    templates = TEMPLATES[style]
    filled = [
        Caption(t.replace("{K1}", k1[:1].upper() + k1[1:]).replace("{k1}", k1).replace("{k2}", k2),
                1.0 - rank / len(templates))
        for rank, t in enumerate(templates)
    ]
    return filled[:limit]


def hashtags(style, words, count):
    configured = config.get("hashtag") or ""
    candidates = [configured] + words[:5] + list(STYLE_TAGS[style]) + list(GENERAL_TAGS)
    tags = []
    for tag in (t.lstrip("#") for t in candidates):
        if len(tags) == count:
            break
        if tag and tag not in tags:
            tags.append(tag)
    n = 2
    while len(tags) < count:  # still short (a huge hashtag_count): number the general tags
        tags.append(f"{GENERAL_TAGS[len(tags) % len(GENERAL_TAGS)]}{n}")
        n += 1
    return ["#" + t for t in tags]


def generate(request: CaptionRequest) -> CaptionResult:
    # The limits every caption model shares (the Rust SDK's caption::validate).
    if not request.description.strip():
        raise invalid("description is empty")
    if request.hashtag_count > 30:
        raise invalid(f"hashtag_count {request.hashtag_count} is out of range 0..=30")
    if request.max_captions == 0 or request.max_captions > 20:
        raise invalid(f"max_captions {request.max_captions} is out of range 1..=20")
    words = keywords(request.description)
    if not words:
        raise invalid("the description has no usable words")
    log.log(log.Level.DEBUG, f"{request.style.name.lower()} captions from {words[:3]}")
    return CaptionResult(
        captions=captions(request.style, words, request.max_captions),
        hashtags=hashtags(request.style, words, request.hashtag_count),
    )


class Captioner(exports.Captioner):
    def describe(self) -> Metadata:
        return Metadata("{{name}}", "0.1.0", "Keyword captions per style and ranked hashtags (a caption-model template)")

    def generate(self, request: CaptionRequest) -> CaptionResult:
        return generate(request)

    def generate_stream(self, request: CaptionRequest) -> CaptionStream:
        """The same captions, handed out one per `next` (the /caption/stream route)."""
        return CaptionStream(generate(request).captions)
