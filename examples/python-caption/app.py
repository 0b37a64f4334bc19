"""python-caption: a caption model written in Python (componentize-py 0.25.1),
world hostel:plugin/caption-model@0.1.0. See README.md to build it."""

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.captioner import Caption, CaptionRequest, CaptionResult, Style
from wit_world.imports import log
from wit_world.imports.types import ErrorCode, Metadata, PluginError

import model
from captioner import CaptionStream

STYLES = {
    Style.INSPIRATIONAL: "inspirational",
    Style.FUNNY: "funny",
    Style.PROFESSIONAL: "professional",
    Style.CASUAL: "casual",
}


def invalid(message):
    return Err(PluginError(ErrorCode.INVALID_INPUT, message))


def caption(request: CaptionRequest) -> CaptionResult:
    """Ranked captions and exactly `hashtag_count` hashtags; bad input raises Err(PluginError)."""
    # The same limits (and words) as the Rust SDK's caption::validate.
    if not request.description.strip():
        raise invalid("description is empty")
    if request.hashtag_count > 30:
        raise invalid(f"hashtag_count {request.hashtag_count} is out of range 0..=30")
    if request.max_captions == 0 or request.max_captions > 20:
        raise invalid(f"max_captions {request.max_captions} is out of range 1..=20")
    ranked = model.keywords(request.description)
    if not ranked:
        raise invalid("the description has no usable words (only stopwords or punctuation)")
    style = STYLES[request.style]
    log.log(log.Level.DEBUG, f"{style} captions from keywords {', '.join(w for w, _ in ranked[:5])}")
    return CaptionResult(
        captions=[Caption(text, score) for score, text in model.captions(style, ranked, request.max_captions)],
        hashtags=model.hashtags(style, ranked, request.hashtag_count),
    )


class Captioner(exports.Captioner):
    def describe(self) -> Metadata:
        return Metadata("python-caption", "0.1.0", "Keyword templates per style and topic hashtags, in Python")

    def generate(self, request: CaptionRequest) -> CaptionResult:
        return caption(request)

    def generate_stream(self, request: CaptionRequest) -> CaptionStream:
        return CaptionStream(caption(request).captions)
