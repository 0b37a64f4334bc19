"""The caption-stream resource. componentize-py looks for a WIT resource's
class in the module named after its interface (`captioner`)."""

from typing import List, Optional

from wit_world.exports import captioner
from wit_world.exports.captioner import Caption


class CaptionStream(captioner.CaptionStream):
    """Captions computed up front and handed out one per `next`."""

    def __init__(self, captions: List[Caption]):
        self.captions = captions
        self.index = 0

    def next(self) -> Optional[Caption]:
        if self.index >= len(self.captions):
            return None
        self.index += 1
        return self.captions[self.index - 1]
